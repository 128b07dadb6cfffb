"""Configuration: plain settings from the environment, secrets from the environment or AWS Secrets Manager.

Settings are read once per process (a Lambda execution environment)::

    from odys import config
    config.env("APP_BASE_URL", "http://localhost:3000")
    config.secret("SUPABASE_JWT_SECRET")      # env var in dev/tests; in AWS, a key of the ODYS_SECRETS_ID secret

In AWS no secret is in the environment: ``ODYS_SECRETS_ID`` names one Secrets Manager secret holding a JSON
object (``{"SUPABASE_JWT_SECRET": "...", "STRIPE_SECRET_KEY": "...", ...}``), fetched through the *AWS Parameters
and Secrets Lambda Extension* (a localhost HTTP call, no boto3 import: see benchmarks/coldstart/README.md for the
measured difference against Powertools Parameters) and cached for ``ODYS_SECRETS_TTL_SECONDS`` (default 300).
Under SnapStart, which gives the function no ``AWS_SESSION_TOKEN`` for the extension, boto3's Secrets Manager
client reads it instead; a resumed environment forgets the cache (odys.snapstart).
"""

from __future__ import annotations

import functools
import json
import os
import ssl
import threading
import time
import urllib.parse
from typing import Any

_lock = threading.Lock()
_cache: dict[str, Any] = {"values": None, "fetched_at": 0.0}


class ConfigurationError(RuntimeError):
    """A required setting or secret is missing; the message names it (never its value)."""


@functools.lru_cache(maxsize=1)
def system_tls_context() -> ssl.SSLContext:
    """A TLS client context on the system trust store (certificate and host name checked), built once per execution
    environment and shared (the database without ``sslrootcert``, the JWKS): loading the store costs ~50 ms on the
    dev VM, which every new context would pay again."""
    return ssl.create_default_context()


def http_connection(url: str | urllib.parse.SplitResult, timeout: float) -> Any:
    """An ``http.client`` connection (not yet opened) to ``url``'s host: for ``https`` with
    :func:`system_tls_context` (certificate and host name checked), plain for ``http`` (local stand-ins). Every
    client of ours opens its connections here, so none builds (and loads the CA store into) a TLS context of its
    own. Raises ValueError for another scheme."""
    import http.client  # here: most functions never open one

    parts = urllib.parse.urlsplit(url) if isinstance(url, str) else url
    if parts.scheme == "https":
        return http.client.HTTPSConnection(parts.netloc, timeout=timeout, context=system_tls_context())
    if parts.scheme == "http":
        return http.client.HTTPConnection(parts.netloc, timeout=timeout)
    raise ValueError(f"unsupported URL scheme {parts.scheme!r}")


def http_get(url: str, headers: dict[str, str], timeout: float, *, limit: int | None = None) -> tuple[int, bytes]:
    """One GET on a connection of its own (:func:`http_connection`), closed after: ``(status, body)``, the body cut
    at ``limit`` bytes when given. Raises OSError (unreachable, timed out), ``http.client.HTTPException`` (not
    HTTP) and ValueError (another scheme); the status is the caller's to judge."""
    parts = urllib.parse.urlsplit(url)
    connection = http_connection(parts, timeout)
    try:
        connection.request("GET", (parts.path or "/") + (f"?{parts.query}" if parts.query else ""), headers=headers)
        response = connection.getresponse()
        return response.status, response.read(limit)
    finally:
        connection.close()


def env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def env_int(name: str, default: int) -> int:
    value = env(name)
    return int(value) if value is not None else default


def stage() -> str:
    """``dev`` | ``test`` | ``prod`` (anything else is treated like prod: strict)."""
    return env("ODYS_STAGE", "dev") or "dev"


def is_local() -> bool:
    return stage() in ("dev", "test")


def _fetch_secret_bundle(secret_id: str) -> dict[str, Any]:
    container_credentials_only = not env("AWS_SESSION_TOKEN") and env("AWS_CONTAINER_CREDENTIALS_FULL_URI")
    try:
        payload = _read_through_sdk(secret_id) if container_credentials_only else _read_through_extension(secret_id)
    except Exception as exc:  # the message names the secret id, never a value
        raise ConfigurationError(f"could not read secret bundle {secret_id!r}: {type(exc).__name__}") from None
    try:
        return json.loads(payload["SecretString"])
    except (KeyError, TypeError, ValueError):
        raise ConfigurationError(f"secret bundle {secret_id!r} is not a JSON object") from None


def _read_through_extension(secret_id: str) -> Any:
    port = env("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", "2773")
    base = env("ODYS_SECRETS_ENDPOINT", f"http://localhost:{port}")
    # http.client, not urllib.request: ~4.6 ms less at every function's import for the one call that needs it
    status, body = http_get(f"{base.rstrip('/')}/secretsmanager/get?secretId={urllib.parse.quote(secret_id, safe='')}",
                            {"X-Aws-Parameters-Secrets-Token": env("AWS_SESSION_TOKEN", "") or ""}, timeout=3)
    if status != 200:
        raise OSError(f"the secrets extension answered {status}")
    return json.loads(body)


def _read_through_sdk(secret_id: str) -> Any:
    """Under SnapStart Lambda sets no ``AWS_SESSION_TOKEN`` (credentials come from the container endpoint,
    ``AWS_CONTAINER_CREDENTIALS_FULL_URI``), and the extension wants it as its token: boto3 reads the secret instead
    (imported before the snapshot, odys.snapstart)."""
    from odys import aws_clients

    return aws_clients.client("secretsmanager", connect_timeout=2, read_timeout=3,
                              retries={"max_attempts": 2, "mode": "standard"}).get_secret_value(SecretId=secret_id)


def _secret_bundle() -> dict[str, Any]:
    secret_id = env("ODYS_SECRETS_ID")
    if not secret_id:
        return {}
    ttl = env_int("ODYS_SECRETS_TTL_SECONDS", 300)
    with _lock:
        if _cache["values"] is None or time.monotonic() - _cache["fetched_at"] > ttl:
            _cache["values"] = _fetch_secret_bundle(secret_id)
            _cache["fetched_at"] = time.monotonic()
        return _cache["values"]


def secret(name: str, *, required: bool = True) -> str | None:
    """A secret by name: the environment first (dev, tests), then the Secrets Manager bundle."""
    value = env(name) or _secret_bundle().get(name)
    if value in (None, "") and required:
        raise ConfigurationError(f"secret {name} is not configured")
    return value or None


def clear_cache() -> None:
    """Forget fetched secrets (tests; a rotated secret is otherwise picked up after the TTL)."""
    with _lock:
        _cache["values"] = None
        _cache["fetched_at"] = 0.0
