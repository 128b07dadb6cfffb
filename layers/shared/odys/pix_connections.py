"""A professional's connection to their own PSP's API Pix (``/api/payment-connection``), its sealed credentials,
and the API client built from them for the other PIX modules.

    put(user_id, ConnectionIn(provider="efi", client_id="Client_Id_…", client_secret="…",
                              certificate="<base64 .p12 or PEM>", certificate_password="…", pix_key="ana@ex.com"))
    # -> {"provider": "efi", "pixKey": "ana@ex.com", "status": "active", "lastCheckedAt": …, "lastError": None, …}
    show(user_id)             # the same view, or 404 payment_connection_not_found
    remove(user_id)           # the webhook and active charges removed at the PSP (best effort), credentials deleted
    client_for(pid)           # (connection row, PixApi) for a connected professional, else None

``put`` validates before storing anything: the certificate opens (PEM or PKCS#12), a token is obtained (OAuth2
client credentials over mTLS) and Odys's callback URL is registered for the key (``PUT /webhook/{chave}``; it
*replaces* any other webhook on that key). The URL is ``{PIX_WEBHOOK_BASE_URL}/api/pix/webhook/{token}`` with a
fresh 256-bit token per connection; only its sha256 is stored. The credentials (client id and secret, certificate
and key) are sealed with KMS (:mod:`odys.sealed`, context = the professional's id) and never answered or logged.
The PSP is called outside any database transaction.

Errors: 422 ``certificate_invalid`` (cannot be read), 422 ``pix_key_missing``, 422 ``psp_url_refused`` (the
generic adapter's URL is not a public host), 422 ``psp_refused`` (the PSP said no: the answer carries its error
code, e.g. ``AcessoNegado``), 503 ``psp_unavailable`` (retry later).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
import threading
import time
import urllib.parse
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from odys import caller, clock, config, db, pix_api, sealed
from odys.errors import NotFound, ServiceUnavailable, ValidationFailed
from odys.fields import ApiModel
from odys.log import logger
from odys.store import pix_charges as charges_store
from odys.store import pix_connections as store

WEBHOOK_PATH = "/api/pix/webhook/"
_CACHE_SECONDS = 300
_clients: dict[str, tuple[str, float, pix_api.PixApi]] = {}
_lock = threading.Lock()


class ConnectionIn(ApiModel):
    """``PUT /api/payment-connection`` body. ``apiBaseUrl``/``tokenUrl``: the generic ``bacen`` adapter only (Efí's
    URLs are its documented ones); https, a public host (checked again on every call, :mod:`odys.pix_api.transport`)."""

    provider: Literal["efi", "bacen"]
    client_id: str = Field(min_length=1, max_length=300)
    client_secret: str = Field(min_length=1, max_length=1000)
    certificate: str = Field(min_length=1, max_length=40_000)
    certificate_password: str | None = Field(default=None, max_length=300)
    pix_key: str | None = Field(default=None, min_length=1, max_length=77)
    api_base_url: str | None = Field(default=None, max_length=300)
    token_url: str | None = Field(default=None, max_length=300)

    @field_validator("api_base_url", "token_url")
    @classmethod
    def _https(cls, value: str | None) -> str | None:
        if value is None:
            return value
        parts = urllib.parse.urlsplit(value)
        if parts.scheme != "https" or not parts.hostname or parts.username or parts.password or parts.fragment \
                or any(c.isspace() or ord(c) < 32 for c in value):
            raise ValueError("must be an https:// URL with a host (no credentials, spaces or fragment)")
        return value

    @model_validator(mode="after")
    def _urls_for_the_generic_adapter_only(self) -> ConnectionIn:
        if self.provider != "bacen" and (self.api_base_url or self.token_url):
            raise ValueError("apiBaseUrl and tokenUrl are for the generic provider (bacen) only; Efí's are known")
        return self


def _psp_refused(error: pix_api.PixApiError) -> ValidationFailed:
    return ValidationFailed(f"The PSP refused the connection ({error.code}). Check the client id, secret, "
                            "certificate and that the key belongs to this account.", code="psp_refused",
                            extra={"pspStatus": error.status, "pspCode": error.code})


def _psp_unavailable() -> ServiceUnavailable:
    return ServiceUnavailable("The PSP did not answer; please retry in a moment.", code="psp_unavailable",
                              headers={"Retry-After": "30"})


def webhook_url(token: str) -> str:
    base = config.env("PIX_WEBHOOK_BASE_URL")
    if not base:
        raise config.ConfigurationError("PIX_WEBHOOK_BASE_URL is not configured")
    return base.rstrip("/") + WEBHOOK_PATH + token


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def view(row: dict[str, Any]) -> dict[str, Any]:
    """What the professional sees: never the secrets, the certificate or the callback token."""
    return {"provider": row["provider"], "pixKey": row["pix_key"], "status": row["status"],
            "apiBaseUrl": row["api_base_url"], "certificateExpiresAt": row["certificate_expires_at"],
            "lastCheckedAt": row["last_checked_at"], "lastError": row["last_error"],
            "connectedAt": row["created_at"]}


def _context(professional_id: str) -> dict[str, str]:
    return {"professional_id": professional_id, "purpose": "pix-credentials"}


def put(user_id: str, data: ConnectionIn, now: dt.datetime | None = None) -> dict[str, Any]:
    now = now or clock.now()
    professional = caller.professional(user_id)
    pid = str(professional["id"])
    key = data.pix_key or professional["pix_key"]
    if not key:
        raise ValidationFailed("Give pixKey (the key the charges are paid to) or register a PIX key in your account "
                               "first.", code="pix_key_missing")
    try:
        identity = pix_api.load_identity(data.certificate, data.certificate_password)
    except pix_api.CertificateInvalid as error:
        raise ValidationFailed(str(error), code="certificate_invalid") from None
    try:
        api = pix_api.connect(data.provider, client_id=data.client_id, client_secret=data.client_secret,
                              identity=identity, api_base_url=data.api_base_url, token_url=data.token_url)
    except ValueError as error:  # the generic adapter without a base URL
        raise ValidationFailed(str(error), code="api_base_url_missing") from None
    try:  # before any call: a professional-supplied URL must not reach into Odys's network (SSRF)
        for url in (api.api_base, api.token_url):
            if url:
                pix_api.public_address(url)
    except pix_api.AddressRefused as error:
        raise ValidationFailed(f"{error} Give your PSP's public API Pix URL.", code="psp_url_refused") from None
    previous = client_for(pid)  # a connection being replaced (unsealed now, before its row changes)
    token = secrets.token_urlsafe(32)
    try:
        api.check()
        api.put_webhook(key, webhook_url(token))
    except pix_api.PixApiError as error:
        logger.info("pix connection refused", extra={"professional_id": pid, "provider": data.provider,
                                                     "psp_status": error.status, "psp_code": error.code})
        raise _psp_refused(error) from None
    except pix_api.PixUnavailable:
        raise _psp_unavailable() from None
    secret_blob = json.dumps({"clientId": data.client_id, "clientSecret": data.client_secret,
                              "certificatePem": identity.certificate_pem.decode(),
                              "keyPem": identity.key_pem.decode()}).encode()
    row = store.upsert(pid, provider=data.provider, pix_key=key, api_base_url=data.api_base_url,
                       token_url=data.token_url, credentials=sealed.seal(secret_blob, context=_context(pid)),
                       webhook_token_hash=token_hash(token), certificate_expires_at=identity.not_after(), now=now)
    with _lock:
        _clients.pop(pid, None)
    if previous is not None and (previous[0]["provider"], previous[0]["api_base_url"], previous[0]["pix_key"]) \
            != (data.provider, data.api_base_url, key):  # another PSP or key: the old charges cannot be read now
        _release_replaced(pid, previous, keep_webhook=previous[0]["pix_key"] == key)
    logger.info("pix connection stored", extra={"professional_id": pid, "provider": data.provider})
    return view(row)


def _release_replaced(professional_id: str, previous: tuple[dict[str, Any], pix_api.PixApi], *,
                      keep_webhook: bool) -> None:
    """The open charges of a replaced connection are removed at its PSP (best effort) and for Odys; its webhook
    too unless the key is the same (then the new registration already replaced it)."""
    from odys import pix_charges  # it imports this module

    pix_charges.release_after_commit(professional_id, connection=previous, reason="reconnected",
                                     keep_webhook=keep_webhook)
    charges_store.forget_active(professional_id)


def show(user_id: str) -> dict[str, Any]:
    row = store.get(str(caller.professional(user_id)["id"]))
    if row is None:
        raise NotFound("payment connection", detail="No PSP is connected. PUT /api/payment-connection first.",
                       code="payment_connection_not_found")
    return view(row)


def remove(user_id: str) -> None:
    """Unregister Odys's webhook and remove the active charges at the PSP (best effort: when it answers), then
    delete the credentials; the charges are ``removed`` for Odys too (a new connection makes new ones). 404 when
    there is no connection."""
    from odys import pix_charges  # it imports this module

    pid = str(caller.professional(user_id)["id"])
    found = client_for(pid)
    if found is None and store.get(pid) is None:
        raise NotFound("payment connection", code="payment_connection_not_found")
    if found is not None:
        pix_charges.release_after_commit(pid, connection=found, reason="disconnected")  # not in a tx: now
    with db.transaction():
        store.delete(pid)
        charges_store.forget_active(pid)
    with _lock:
        _clients.pop(pid, None)
    logger.info("pix connection removed", extra={"professional_id": pid})


def reset_cache() -> None:
    """Forget the unsealed API clients of this process (tests changing the environment between cases)."""
    with _lock:
        _clients.clear()


def api_for(row: dict[str, Any]) -> pix_api.PixApi:
    """The API client of a connection row (credentials unsealed once per process and connection version)."""
    pid = str(row["professional_id"])
    version = f"{row['updated_at'].isoformat()}:{row['provider']}"
    with _lock:
        cached = _clients.get(pid)
    if cached and cached[0] == version and cached[1] > time.monotonic():
        return cached[2]
    secrets_ = json.loads(sealed.open_sealed(row["credentials"], context=_context(pid)))
    identity = pix_api.ClientIdentity(secrets_["certificatePem"].encode(), secrets_["keyPem"].encode())
    api = pix_api.connect(row["provider"], client_id=secrets_["clientId"], client_secret=secrets_["clientSecret"],
                          identity=identity, api_base_url=row["api_base_url"], token_url=row["token_url"])
    with _lock:
        _clients[pid] = (version, time.monotonic() + _CACHE_SECONDS, api)
    return api


def client_for(professional_id: str) -> tuple[dict[str, Any], pix_api.PixApi] | None:
    """(connection row, API client) when the professional has a connection whose credentials open, else None."""
    row = store.get(professional_id)
    if row is None:
        return None
    try:
        return row, api_for(row)
    except (sealed.SealError, config.ConfigurationError, ValueError, KeyError) as error:
        logger.warning("pix credentials unusable", extra={"professional_id": professional_id,
                                                          "error_type": type(error).__name__})
        return None


def record_outcome(professional_id: str, error: Exception | None, now: dt.datetime | None = None) -> None:
    """Keep the connection's health visible (``GET``): the last successful PSP call, or the last error's kind."""
    code = None
    if isinstance(error, pix_api.PixApiError):
        code = f"{error.status} {error.code}"
    elif error is not None:
        code = "psp_unavailable"
    store.record_check(professional_id, now or clock.now(), code)
