"""The Banco Central's API Pix as specified (Inter, Sicoob, Itaú, Santander and other PSPs that follow it).

- Base URL: the PSP's own (it includes the version, e.g. ``https://cdpj.partners.bancointer.com.br/pix/v2``), given
  with the connection (``apiBaseUrl``, https on a public host: :func:`odys.pix_api.transport.public_address`), else
  ``PIX_API_BASE_URL_BACEN`` (dev/tests: the stand-in).
- Token: the spec leaves it to the PSP; the common form is ``POST {tokenUrl}`` (default ``{origin}/oauth/token``)
  with a form body ``grant_type=client_credentials&client_id&client_secret&scope``, over mTLS.
- Webhook: ``PUT /webhook/{chave}`` with ``{"webhookUrl"}``; the PSP calls ``{webhookUrl}/pix`` presenting its
  client certificate. Some send a bare array instead of ``{"pix": […]}`` (accepted by :mod:`odys.pix_webhook`).
- Errors: the spec's problem bodies only.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from odys import config

NAME = "bacen"
SCOPES = "cob.write cob.read pix.read webhook.write webhook.read"


class MissingBaseUrl(ValueError):
    """The generic adapter needs the PSP's API base URL."""


def api_base(configured: str | None) -> str:
    base = configured or config.env("PIX_API_BASE_URL_BACEN")
    if not base:
        raise MissingBaseUrl("Give apiBaseUrl: your PSP's API Pix base URL, e.g. https://api.psp.com.br/pix/v2.")
    return base.rstrip("/")


def token_request(api_base: str, token_url: str | None, client_id: str, client_secret: str) -> tuple[str, dict]:
    parts = urllib.parse.urlsplit(api_base)
    return token_url or f"{parts.scheme}://{parts.netloc}/oauth/token", {
        "form": {"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret,
                 "scope": SCOPES}}


def webhook_registration(url: str) -> tuple[str, dict[str, str]]:
    return url, {}


def error_code(body: Any) -> tuple[str, str] | None:
    return None
