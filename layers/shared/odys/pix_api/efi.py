"""Efí (ex-Gerencianet): what it does differently from the spec. Everything Efí-specific lives here.

- Base URL ``https://pix.api.efipay.com.br`` (sandbox ``https://pix-h.api.efipay.com.br``), API under ``/v2``;
  ``PIX_API_BASE_URL_EFI`` overrides it (dev/tests: the stand-in).
- Token: ``POST {base}/oauth/token`` with HTTP Basic (client id : secret) and the JSON body
  ``{"grant_type": "client_credentials"}``, over mTLS; ``expires_in`` 3600 (cached by the client).
- Webhook registration: Efí probes the callback URL with mutual TLS (a first request *without* a client
  certificate must be refused). Unless Odys's callback domain does mTLS (``PIX_WEBHOOK_MTLS=required``, the custom
  domain of template.yaml), the registration sends ``x-skip-mtls-checking: true``: Efí's documented alternative,
  in which the secret in the URL (Odys's per-connection token) authenticates the callback — and every callback is
  re-read from the PSP anyway (:mod:`odys.pix_webhook`). Efí appends ``/pix`` to the URL; both paths are routed.
- Errors: besides the spec's problem bodies, ``{"nome": "valor_invalido", "mensagem": "…"}``; a re-PUT of an
  existing txid is ``txid_duplicado`` (409).
"""

from __future__ import annotations

from typing import Any

from odys import config

NAME = "efi"
DEFAULT_BASE_URL = "https://pix.api.efipay.com.br"
SANDBOX_BASE_URL = "https://pix-h.api.efipay.com.br"


def api_base(configured: str | None) -> str:
    return (config.env("PIX_API_BASE_URL_EFI") or DEFAULT_BASE_URL).rstrip("/") + "/v2"


def token_request(api_base: str, token_url: str | None, client_id: str, client_secret: str) -> tuple[str, dict]:
    from odys.pix_api.client import basic_auth

    origin = api_base.removesuffix("/v2")
    return token_url or f"{origin}/oauth/token", {
        "json_body": {"grant_type": "client_credentials"},
        "headers": {"Authorization": basic_auth(client_id, client_secret)}}


def webhook_registration(url: str) -> tuple[str, dict[str, str]]:
    if config.env("PIX_WEBHOOK_MTLS") == "required":
        return url, {}
    return url, {"x-skip-mtls-checking": "true"}


def error_code(body: Any) -> tuple[str, str] | None:
    if isinstance(body, dict) and isinstance(body.get("nome"), str):
        return body["nome"], str(body.get("mensagem") or "")[:500]
    return None
