"""The WhatsApp Cloud API client: one POST (``/{version}/{phone_number_id}/messages``) and two health reads, no SDK.

    from odys import whatsapp_api
    try:
        sent = whatsapp_api.send(payload)      # payload: odys.message_templates.meta_template_payload(...)
        sent.wamid, sent.wa_id                 # "wamid.HBgM…", "5511987654321" (the recipient's WhatsApp id)
    except whatsapp_api.WhatsAppError as error:
        error.kind                             # "retry" | "account" | "permanent"
        error.code, error.http_status          # Meta's error code (None: no Graph answer), the HTTP status

The watchdog's checks (same errors)::

    info = whatsapp_api.debug_token()          # GET /{version}/debug_token?input_token=<the token>
    info.is_valid, info.scopes, info.expires_at  # True, ("whatsapp_business_messaging", …), None (never) or a datetime
    info.days_left(now)                        # 41.5, or None when it never expires
    whatsapp_api.health_status()               # GET /{version}/{phone_number_id}?fields=health_status
    # -> "AVAILABLE" | "LIMITED" | "BLOCKED"

An invalid token is ``TokenInfo(is_valid=False, error_code=190)`` (whether Meta says so in ``data`` or refuses the
request with error 190), not an exception; no answer at all raises :class:`WhatsAppError` ``"retry"``.

Failures are classified **by Meta's error code**, never by the HTTP status alone (Meta answers the same code with
different statuses): see :data:`RETRY_CODES` and :data:`ACCOUNT_CODES`; any other code is permanent, except that a
5xx or an ``is_transient`` answer is retried. No Graph answer at all (timeout, refused connection, a gateway's
HTML 502/503/504, a 429) is "retry". ``error.message`` is Meta's message and details (they name codes, templates
and languages, not the recipient); the request's token and body never appear in it.

Configuration: ``WHATSAPP_GRAPH_URL`` (default ``https://graph.facebook.com``; anything else only in dev/test,
where it points at ``devtools/whatsapp_double.py``), ``WHATSAPP_API_VERSION`` (``v24.0``),
``WHATSAPP_PHONE_NUMBER_ID``, ``WHATSAPP_TIMEOUT_SECONDS`` (5: connect and each read), the secret
``WHATSAPP_TOKEN``. Only the standard library is imported (``http.client``): a cold start pays a few ms for it.
One keep-alive connection per process is reused while it was used in the last :data:`IDLE_SECONDS`, so a batch of
sends pays one TLS handshake. A send is never replayed by this module (the API has no idempotency key: a replay
after a lost answer could deliver twice); the caller decides.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import threading
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any, Literal

from odys import config

Kind = Literal["retry", "account", "permanent"]

DEFAULT_GRAPH_URL = "https://graph.facebook.com"
DEFAULT_VERSION = "v24.0"
IDLE_SECONDS = 20.0

RETRY_CODES = frozenset({130429, 131056, 80007, 4, 1, 2, 131000, 131016, 131057})
"""Throttling and transient errors: back to the queue, sent again later."""
ACCOUNT_CODES = frozenset({190, 368, 131048, 131064})
"""The account cannot send (token, restriction, limits): pause all sending, raise the alarm; no message fails."""

_lock = threading.Lock()
_connection: dict[str, Any] = {"conn": None, "origin": None, "used_at": 0.0}


@dataclass(frozen=True)
class Sent:
    """Meta accepted the message: its wamid (every status webhook names it) and the recipient's wa_id."""

    wamid: str
    wa_id: str | None


class WhatsAppError(Exception):
    """A send Meta did not accept (or that got no answer); ``kind`` says what to do about it."""

    def __init__(self, code: int | None, message: str, http_status: int | None, kind: Kind) -> None:
        super().__init__(f"WhatsApp error {code} (HTTP {http_status}, {kind}): {message}")
        self.code = code
        self.message = message
        self.http_status = http_status
        self.kind: Kind = kind


def classify(code: int | None, http_status: int | None, *, transient: bool = False) -> Kind:
    """``classify(131056, 400)`` → ``"retry"``; ``classify(190, 401)`` → ``"account"``;
    ``classify(132001, 404)`` → ``"permanent"``; ``classify(None, 502)`` → ``"retry"``."""
    if code in ACCOUNT_CODES:
        return "account"
    if code in RETRY_CODES or transient:
        return "retry"
    if code is None:
        return "retry" if http_status is None or http_status >= 500 or http_status == 429 else "permanent"
    return "retry" if http_status is not None and http_status >= 500 else "permanent"


def _settings() -> tuple[urllib.parse.SplitResult, str, str, float]:
    origin, prefix, phone_number_id, token, timeout = _graph()
    return origin, f"{prefix}/{phone_number_id}/messages", token, timeout


def _graph() -> tuple[urllib.parse.SplitResult, str, str, str, float]:
    """(origin, path prefix up to the version, phone number id, token, timeout)."""
    base = (config.env("WHATSAPP_GRAPH_URL", DEFAULT_GRAPH_URL) or DEFAULT_GRAPH_URL).rstrip("/")
    if base != DEFAULT_GRAPH_URL and not config.is_local():
        raise config.ConfigurationError("WHATSAPP_GRAPH_URL may differ from the Graph API only in dev/test")
    origin = urllib.parse.urlsplit(base)
    if origin.scheme not in ("http", "https") or not origin.hostname:
        raise config.ConfigurationError("WHATSAPP_GRAPH_URL is not an http(s) URL")
    phone_number_id = config.env("WHATSAPP_PHONE_NUMBER_ID")
    if not phone_number_id or not phone_number_id.isdigit():
        raise config.ConfigurationError("WHATSAPP_PHONE_NUMBER_ID is not configured")
    version = config.env("WHATSAPP_API_VERSION", DEFAULT_VERSION) or DEFAULT_VERSION
    timeout = float(config.env("WHATSAPP_TIMEOUT_SECONDS", "5") or 5)
    return origin, f"{origin.path}/{version}", phone_number_id, config.secret("WHATSAPP_TOKEN") or "", timeout


def _open(origin: urllib.parse.SplitResult, timeout: float) -> http.client.HTTPConnection:
    key = origin.geturl()
    now = time.monotonic()
    conn = _connection["conn"]
    if conn is not None and (_connection["origin"] != key or now - _connection["used_at"] > IDLE_SECONDS):
        conn.close()
        conn = None
    if conn is None:
        conn = config.http_connection(origin, timeout=timeout)
        _connection.update(conn=conn, origin=key)
    conn.timeout = timeout
    return conn


def _drop() -> None:
    if _connection["conn"] is not None:
        _connection["conn"].close()
    _connection.update(conn=None, origin=None, used_at=0.0)


def send(payload: dict[str, Any]) -> Sent:
    """POST one message; :class:`Sent` or :class:`WhatsAppError` (see the module's docstring)."""
    origin, path, token, timeout = _settings()
    data = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json", "Accept": "application/json"}
    status, body = _exchange(origin, timeout, "POST", path, data, headers)
    if 200 <= status < 300:
        return _sent(body, status)
    raise _error(body, status)


def _exchange(origin: urllib.parse.SplitResult, timeout: float, method: str, path: str, data: bytes | None,
              headers: dict[str, str]) -> tuple[int, Any]:
    """One request on the kept-alive connection: (HTTP status, parsed JSON or None); no answer -> "retry"."""
    with _lock:
        try:
            conn = _open(origin, timeout)
            conn.request(method, path, body=data, headers=headers)
            response = conn.getresponse()
            status, raw = response.status, response.read()
            if response.will_close:
                _drop()
            else:
                _connection["used_at"] = time.monotonic()
        except (OSError, http.client.HTTPException) as exc:  # timeouts, refused/reset connections, bad answers
            _drop()
            raise WhatsAppError(None, f"no answer from the Cloud API: {type(exc).__name__}", None, "retry") from None
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, None


def _sent(body: Any, status: int) -> Sent:
    try:
        wamid = body["messages"][0]["id"]
    except (KeyError, IndexError, TypeError):
        wamid = None
    if not isinstance(wamid, str) or not wamid:
        # accepted or not, we cannot tell: sending again could deliver twice
        raise WhatsAppError(None, "the Cloud API answered without a message id", status, "permanent")
    contacts = body.get("contacts") or [{}]
    wa_id = contacts[0].get("wa_id") if isinstance(contacts[0], dict) else None
    return Sent(wamid, wa_id if isinstance(wa_id, str) and wa_id.isdigit() else None)


def _error(body: Any, status: int) -> WhatsAppError:
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return WhatsAppError(None, f"HTTP {status} without a Graph error", status, classify(None, status))
    code = error.get("code") if isinstance(error.get("code"), int) else None
    message = str(error.get("message") or error.get("title") or "")
    details = (error.get("error_data") or {}).get("details") if isinstance(error.get("error_data"), dict) else None
    if details and details not in message:
        message = f"{message}: {details}" if message else str(details)
    return WhatsAppError(code, message[:500], status, classify(code, status, transient=error.get("is_transient") is True))


# --- the watchdog's checks -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TokenInfo:
    """What ``debug_token`` says of the token: valid or not, its scopes, its expiry (None: it never expires)."""

    is_valid: bool
    scopes: tuple[str, ...] = ()
    expires_at: dt.datetime | None = None
    error_code: int | None = None

    def days_left(self, now: dt.datetime) -> float | None:
        """Days until it expires (0 when expired or invalid), None when it never expires."""
        if not self.is_valid:
            return 0.0
        if self.expires_at is None:
            return None
        return max(0.0, round((self.expires_at - now).total_seconds() / 86400, 1))


def _get(path: str, query: dict[str, str]) -> Any:
    origin, prefix, phone_number_id, token, timeout = _graph()
    target = f"{prefix}/{path.format(phone_number_id=phone_number_id)}?{urllib.parse.urlencode(query)}"
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    status, body = _exchange(origin, timeout, "GET", target, None, headers)
    if 200 <= status < 300 and isinstance(body, dict):
        return body
    if 200 <= status < 300:
        raise WhatsAppError(None, "the Cloud API answered without a JSON object", status, "retry")
    raise _error(body, status)


def debug_token() -> TokenInfo:
    """Ask Graph about our own token (``debug_token``, authorized by the same token): see the module's docstring."""
    token = config.secret("WHATSAPP_TOKEN") or ""
    try:
        body = _get("debug_token", {"input_token": token})
    except WhatsAppError as error:
        if error.code == 190:  # Graph refused the token itself: expired, revoked, malformed
            return TokenInfo(False, error_code=190)
        raise
    data = body.get("data") if isinstance(body.get("data"), dict) else {}
    scopes = tuple(s for s in data.get("scopes") or () if isinstance(s, str))
    expires = data.get("expires_at")
    expires_at = (dt.datetime.fromtimestamp(expires, dt.timezone.utc)
                  if isinstance(expires, int) and not isinstance(expires, bool) and expires > 0 else None)
    if data.get("is_valid") is not True:
        error = data.get("error") if isinstance(data.get("error"), dict) else {}
        code = error.get("code") if isinstance(error.get("code"), int) else 190
        return TokenInfo(False, scopes, expires_at, code)
    return TokenInfo(True, scopes, expires_at)


def health_status() -> str:
    """The sending number's ``health_status.can_send_message``: ``"AVAILABLE"``, ``"LIMITED"`` or ``"BLOCKED"``
    (Meta's overall verdict over the number, its WABA, business and app); ``"UNKNOWN"`` when Graph gave none."""
    body = _get("{phone_number_id}", {"fields": "health_status"})
    health = body.get("health_status") if isinstance(body.get("health_status"), dict) else {}
    value = health.get("can_send_message")
    return value if value in ("AVAILABLE", "LIMITED", "BLOCKED") else "UNKNOWN"
