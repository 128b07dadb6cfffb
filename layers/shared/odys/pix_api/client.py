"""The API Pix client itself: token cache, one re-authentication on 401, the spec's calls, one error parser.

See :mod:`odys.pix_api` for usage. Tokens are cached per (provider, API base, client id) until ``expires_in``
minus a margin (a tenth of the lifetime, at most 60 s): BS2-like 300 s lifetimes and Efí's 3600 s both work.
A 401 on a call drops the token and retries once with a new one (Efí's SDK does the same).
"""

from __future__ import annotations

import base64
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Protocol

from odys import config
from odys.pix_api import transport
from odys.pix_api.transport import Answer, ClientIdentity, TransportError

_tokens: dict[tuple[str, str, str], tuple[str, float]] = {}
_lock = threading.Lock()


class PixApiError(Exception):
    """The PSP refused the request: HTTP ``status``, a ``code`` (spec type name or Efí ``nome``) and ``detail``."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status, self.code, self.detail = status, code, detail


class PixUnavailable(Exception):
    """The PSP is unreachable, too slow (``timed_out``) or answered 5xx: try again later."""

    def __init__(self, message: str, *, timed_out: bool = False) -> None:
        super().__init__(message)
        self.timed_out = timed_out


class Provider(Protocol):
    """What a provider module offers (see :mod:`odys.pix_api.efi`, :mod:`odys.pix_api.bacen`)."""

    NAME: str

    def api_base(self, configured: str | None) -> str: ...
    def token_request(self, api_base: str, token_url: str | None, client_id: str,
                      client_secret: str) -> tuple[str, dict[str, Any]]: ...
    def webhook_registration(self, url: str) -> tuple[str, dict[str, str]]: ...
    def error_code(self, body: Any) -> tuple[str, str] | None: ...


def _providers() -> dict[str, Provider]:
    from odys.pix_api import bacen, efi

    return {"efi": efi, "bacen": bacen}  # type: ignore[dict-item]


PROVIDERS: tuple[str, ...] = ("efi", "bacen")


def reset_tokens() -> None:
    """Forget every cached token (tests)."""
    with _lock:
        _tokens.clear()


def parse_error(answer: Answer, provider: Provider) -> PixApiError:
    """The spec's problem body (``type``/``title``/``detail``/``violacoes``), the provider's own shape, or the
    HTTP status alone."""
    body = answer.json
    known = provider.error_code(body)
    if known is not None:
        return PixApiError(answer.status, *known)
    if isinstance(body, dict) and isinstance(body.get("type"), str):
        code = body["type"].rstrip("/").rsplit("/", 1)[-1] or "erro"
        detail = str(body.get("detail") or body.get("title") or "")
        reasons = [str(v.get("razao")) for v in body.get("violacoes") or [] if isinstance(v, dict) and v.get("razao")]
        return PixApiError(answer.status, code, "; ".join([detail, *reasons]).strip("; ")[:500])
    return PixApiError(answer.status, f"http_{answer.status}", "")


@dataclass
class PixApi:
    """API Pix calls for one set of credentials (build it with :func:`connect`)."""

    provider: Provider
    api_base: str
    token_url: str | None
    client_id: str
    client_secret: str = field(repr=False)
    identity: ClientIdentity = field(repr=False)
    timeout: float = 5.0

    @property
    def _cache_key(self) -> tuple[str, str, str]:
        return (self.provider.NAME, self.api_base, self.client_id)

    # --- token -------------------------------------------------------------------------------------------------

    def _token(self, *, fresh: bool = False) -> str:
        with _lock:
            cached = _tokens.get(self._cache_key)
        if cached and not fresh and cached[1] > time.monotonic():
            return cached[0]
        url, request = self.provider.token_request(self.api_base, self.token_url, self.client_id, self.client_secret)
        answer = self._send("POST", url, **request)
        body = answer.json if isinstance(answer.json, dict) else {}
        if answer.status != 200 or not isinstance(body.get("access_token"), str):
            raise parse_error(answer, self.provider) if answer.status != 200 else \
                PixApiError(answer.status, "token_invalido", "the token answer has no access_token")
        lifetime = float(body.get("expires_in") or 300)
        with _lock:
            _tokens[self._cache_key] = (body["access_token"], time.monotonic() + lifetime - min(60.0, lifetime / 10))
        return body["access_token"]

    def check(self) -> None:
        """Obtain a fresh token: the credentials and the certificate work (PixApiError / PixUnavailable)."""
        self._token(fresh=True)

    # --- transport -----------------------------------------------------------------------------------------------

    def _send(self, method: str, url: str, **kwargs: Any) -> Answer:
        from odys import db

        if db.in_transaction():  # a slow PSP would hold the transaction's locks: call it after the commit
            raise RuntimeError("the PSP is never called inside a database transaction (use db.after_commit)")
        try:
            answer = transport.send(method, url, self.identity, timeout=self.timeout, **kwargs)
        except TransportError as error:
            raise PixUnavailable(str(error), timed_out=error.timed_out) from None
        if answer.status >= 500:
            raise PixUnavailable(f"the PSP answered {answer.status}")
        return answer

    def _call(self, method: str, path: str, *, json_body: Any = None, query: dict[str, Any] | None = None,
              headers: dict[str, str] | None = None, missing_ok: bool = False) -> Any:
        url = self.api_base.rstrip("/") + path + (f"?{urllib.parse.urlencode(query)}" if query else "")
        answer = self._send(method, url, json_body=json_body, headers=headers, bearer=self._token())
        if answer.status == 401:  # expired or revoked early: once more with a new token
            answer = self._send(method, url, json_body=json_body, headers=headers, bearer=self._token(fresh=True))
        if missing_ok and answer.status in (404, 410):
            return None
        if answer.status >= 400:
            raise parse_error(answer, self.provider)
        return answer.json if answer.body else {}

    # --- the spec's calls ----------------------------------------------------------------------------------------

    def put_cob(self, txid: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._call("PUT", f"/cob/{txid}", json_body=body)

    def get_cob(self, txid: str) -> dict[str, Any] | None:
        return self._call("GET", f"/cob/{txid}", missing_ok=True)

    def patch_cob(self, txid: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._call("PATCH", f"/cob/{txid}", json_body=body)

    def get_pix(self, end_to_end_id: str) -> dict[str, Any] | None:
        return self._call("GET", f"/pix/{urllib.parse.quote(end_to_end_id, safe='')}", missing_ok=True)

    def list_pix(self, inicio: str, fim: str, *, page: int = 0, per_page: int = 100) -> dict[str, Any]:
        return self._call("GET", "/pix", query={"inicio": inicio, "fim": fim, "paginacao.paginaAtual": page,
                                                "paginacao.itensPorPagina": per_page})

    def put_webhook(self, key: str, url: str) -> None:
        webhook_url, headers = self.provider.webhook_registration(url)
        self._call("PUT", f"/webhook/{urllib.parse.quote(key, safe='')}", json_body={"webhookUrl": webhook_url},
                   headers=headers)

    def delete_webhook(self, key: str) -> None:
        self._call("DELETE", f"/webhook/{urllib.parse.quote(key, safe='')}", missing_ok=True)


def basic_auth(client_id: str, client_secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()


def connect(provider: str, *, client_id: str, client_secret: str, identity: ClientIdentity,
            api_base_url: str | None = None, token_url: str | None = None) -> PixApi:
    """A :class:`PixApi` for ``provider`` (``efi`` | ``bacen``); the API base from the connection, else
    ``PIX_API_BASE_URL_<PROVIDER>``, else the provider's documented production URL."""
    module = _providers()[provider]
    return PixApi(module, module.api_base(api_base_url), token_url, client_id, client_secret, identity,
                  timeout=float(config.env("PIX_API_TIMEOUT_SECONDS", "5") or 5))
