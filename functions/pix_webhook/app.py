"""/api/pix/webhook/{token} and /api/pix/webhook/{token}/pix — PSP callbacks (POST; no user token, no rate limit).

The URL token names the connection; every item is re-read from the PSP before anything changes
(:mod:`odys.pix_webhook`). 200 ``{"received": true}`` for any known token, 404 for an unknown one.
"""

import base64

from odys import pix_webhook
from odys.api_docs import doc
from odys.http import create_app, json_response, lambda_handler_for

app = create_app()


def _receive(token: str):
    event = app.current_event
    try:
        raw = base64.b64decode(event.body or "") if event.is_base64_encoded else (event.body or "").encode("utf-8")
    except ValueError:
        raw = b"\x00"  # not JSON: answered 400
    authentication = (event.raw_event.get("requestContext") or {}).get("authentication") or {}
    return json_response(200, pix_webhook.receive(token, raw, client_cert=authentication.get("clientCert")))


@app.post("/api/pix/webhook/<token>")
@doc(auth="pix", raw_body=True, response="PixCallbackReceipt",
     summary="A PSP's PIX callback ({\"pix\": [...]} or a bare array), a hint: each item is re-read at the PSP",
     problems={400: ["malformed_json", "payload_too_large"],
               403: ["client_certificate_refused", "client_certificate_required"], 404: ["webhook_not_found"]})
def receive_pix_callback(token: str):
    return _receive(token)


@app.post("/api/pix/webhook/<token>/pix")
@doc(auth="pix", raw_body=True, response="PixCallbackReceipt",
     summary="The same callback where the PSP appends /pix to the registered URL (Efí)",
     problems={400: ["malformed_json", "payload_too_large"],
               403: ["client_certificate_refused", "client_certificate_required"], 404: ["webhook_not_found"]})
def receive_pix_callback_with_suffix(token: str):
    return _receive(token)


lambda_handler = lambda_handler_for(app)
