"""/api/whatsapp/webhook — Meta's WhatsApp Cloud API webhook (no token, no rate limit).

GET: the subscription check (``hub.challenge`` as text/plain, or 403). POST: verified by ``X-Hub-Signature-256``
over the raw body (401 otherwise, nothing written), then statuses, messages and quick replies
(:mod:`odys.whatsapp_webhook`); a signed delivery is always acknowledged with 200.
"""

import base64

from aws_lambda_powertools.event_handler import Response

from odys import whatsapp_webhook
from odys.api_docs import doc
from odys.http import create_app, json_response, lambda_handler_for

app = create_app()
MAX_DELIVERY_BYTES = 3 * 1024 * 1024  # Meta batches deliveries: one can be far larger than our own JSON bodies


@app.get("/api/whatsapp/webhook")
@doc(auth="meta", response="text", content_type="text/plain",
     summary="Meta's subscription check: answers hub.challenge when hub.verify_token matches",
     problems={403: ["verification_failed"], 503: ["whatsapp_not_configured"]})
def verify_subscription():
    answer = whatsapp_webhook.challenge(app.current_event.query_string_parameters or {})
    return Response(status_code=200, content_type="text/plain", body=answer)


@app.post("/api/whatsapp/webhook")
@doc(auth="meta", raw_body=True, response="WhatsAppReceipt",
     problems={401: ["invalid_signature"], 503: ["whatsapp_not_configured"]})
def receive_whatsapp_delivery():
    event = app.current_event
    try:
        raw = base64.b64decode(event.body or "") if event.is_base64_encoded else (event.body or "").encode("utf-8")
    except ValueError:  # broken base64 cannot carry a valid signature
        raw = b""
    whatsapp_webhook.verify_signature(raw, event.headers.get("x-hub-signature-256"))
    return json_response(200, {"received": True, **whatsapp_webhook.process(raw)})


lambda_handler = lambda_handler_for(app, max_body_bytes=MAX_DELIVERY_BYTES)
