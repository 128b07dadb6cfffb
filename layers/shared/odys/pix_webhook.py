"""PSP callbacks (``POST /api/pix/webhook/{token}`` and ``…/{token}/pix``): every callback is only a hint.

    result = pix_webhook.receive(token, raw_body, client_cert=event_client_cert)   # {"received": True}

1. The token in the URL names the connection: looked up by its sha256 and compared in constant time
   (:func:`hmac.compare_digest`); an unknown or malformed one is 404 and nothing is read or written.
2. With ``PIX_WEBHOOK_MTLS=required`` (the custom domain of template.yaml does mutual TLS) a request must carry the
   client certificate API Gateway forwards (``requestContext.authentication.clientCert``), and with
   ``PIX_WEBHOOK_CERT_ISSUERS`` its issuer must contain one of those names (pinning the PSPs' CAs, since any
   certificate of the truststore passes the handshake). Efí without mTLS is the documented alternative: the secret
   URL token (:mod:`odys.pix_api.efi`).
3. The body is ``{"pix": [...]}`` (or a bare array, as some PSPs send). For each item (at most
   :data:`MAX_ITEMS`, each txid once), Odys **re-reads the PSP with the professional's credentials**: ``GET
   /cob/{txid}`` for a charge it issued to this professional, ``GET /pix/{e2eid}`` for a static code's txid; only
   that answer is settled (:mod:`odys.pix_payments`). Unknown txids, other professionals' txids, wrong amounts and
   invented endToEndIds therefore change nothing.
4. The answer is 200 ``{"received": true}`` whatever the outcome (it tells a forger nothing). When the PSP cannot
   be read now, the charge is marked for the next reconciliation run (``recheck_requested``); static codes are
   caught by the daily sweep. Only a failure to reach the database answers 5xx, so that the PSP retries.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from typing import Any

from odys import clock, config, metrics, pix_api, pix_connections, pix_payments
from odys.errors import BadRequest, Forbidden, NotFound
from odys.log import logger
from odys.store import pix_charges as charges_store
from odys.store import pix_connections as connections_store
from odys.store import pix_payments as payments_store

MAX_ITEMS = 100
MAX_BODY_BYTES = 256 * 1024
TIME_BUDGET_SECONDS = 5.0  # no new PSP read after this: the PSP gets its 2xx well within its timeout
_TOKEN = re.compile(r"[A-Za-z0-9_-]{32,64}")
_ID = re.compile(r"[A-Za-z0-9]{1,35}")  # txid (the spec's {1,35} in callbacks) and endToEndId (32; leniently)


def _not_found() -> NotFound:
    return NotFound("webhook", detail="Unknown webhook.", code="webhook_not_found")


def connection_for(token: str) -> dict[str, Any]:
    """The connection whose callback URL carries ``token``; 404 otherwise (constant-time comparison)."""
    if not _TOKEN.fullmatch(token or ""):
        raise _not_found()
    digest = pix_connections.token_hash(token)
    row = connections_store.by_webhook_token_hash(digest)
    if row is None or not hmac.compare_digest(bytes(row["webhook_token_hash"]), digest):
        raise _not_found()
    return row


def _check_client_certificate(client_cert: dict[str, Any] | None) -> None:
    if config.env("PIX_WEBHOOK_MTLS") != "required":
        return
    if not isinstance(client_cert, dict) or not client_cert.get("clientCertPem"):
        raise Forbidden("A client certificate is required.", code="client_certificate_required")
    issuers = [i.strip() for i in (config.env("PIX_WEBHOOK_CERT_ISSUERS") or "").split(";") if i.strip()]
    if issuers and not any(i in str(client_cert.get("issuerDN") or "") for i in issuers):
        raise Forbidden("This client certificate is not a PSP's.", code="client_certificate_refused")


def items_of(raw: bytes) -> list[dict[str, Any]]:
    """The Pix items of a callback body: ``{"pix": [...]}`` or a bare array; 400 for anything else but JSON
    objects without ``pix`` (a PSP's test notification), which have none."""
    if len(raw) > MAX_BODY_BYTES:
        raise BadRequest("The callback body is too large.", code="payload_too_large")
    try:
        body = json.loads(raw or b"{}")
    except (ValueError, RecursionError):
        raise BadRequest("The callback body is not JSON.", code="malformed_json") from None
    items = body.get("pix") if isinstance(body, dict) else body
    if not isinstance(items, list):
        return []
    return [item for item in items if isinstance(item, dict)][:MAX_ITEMS]


def _id(value: Any) -> str | None:
    return value if isinstance(value, str) and _ID.fullmatch(value) else None


def _verify(connection: dict[str, Any], api: pix_api.PixApi, txid: str, e2e: str | None) -> str:
    """Re-read one hint at the PSP and settle what the PSP says."""
    pid = str(connection["professional_id"])
    charge = charges_store.by_txid(pid, txid)
    if charge is not None:
        return pix_payments.settle_charge(connection, charge, api.get_cob(txid), source="webhook")
    if e2e is None or payments_store.static_appointment(pid, txid) is None:
        return "ignored"
    found = api.get_pix(e2e)
    if not isinstance(found, dict) or found.get("txid") != txid:
        return "ignored"
    return pix_payments.settle_static(connection, found, source="webhook")


def receive(token: str, raw: bytes, *, client_cert: dict[str, Any] | None = None) -> dict[str, Any]:
    connection = connection_for(token)
    _check_client_certificate(client_cert)
    items = items_of(raw)
    pid = str(connection["professional_id"])
    outcomes: dict[str, int] = {}
    if items:
        found = pix_connections.client_for(pid)
        started = time.monotonic()
        seen: set[tuple[str, str | None]] = set()
        for item in items:
            txid, e2e = _id(item.get("txid")), _id(item.get("endToEndId"))
            if txid is None or (txid, e2e) in seen:  # not an id of the spec's shape, or already read in this call
                outcomes["ignored"] = outcomes.get("ignored", 0) + 1
                continue
            seen.add((txid, e2e))
            outcome = "deferred"
            if found is not None and time.monotonic() - started < TIME_BUDGET_SECONDS:
                try:
                    outcome = _verify(connection, found[1], txid, e2e)
                except (pix_api.PixApiError, pix_api.PixUnavailable) as error:
                    pix_connections.record_outcome(pid, error)
            if outcome == "deferred":
                charges_store.request_recheck(pid, txid, clock.now())
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
    if outcomes.get("confirmed"):
        metrics.value("PixConfirmed", outcomes["confirmed"], provider=connection["provider"], source="webhook")
    logger.info("pix callback", extra={"professional_id": pid, "items": len(items), "outcomes": outcomes,
                                       "body_sha256": hashlib.sha256(raw).hexdigest()[:16]})
    return {"received": True}
