"""/api/whatsapp/webhook — Meta's WhatsApp Cloud API webhook (no token, no rate limit).

GET: the subscription check (``hub.challenge`` as text/plain, or 403). POST: verified by ``X-Hub-Signature-256``
over the raw body (401 otherwise, nothing written), then statuses, messages and quick replies
(:mod:`odys.whatsapp_webhook`); a signed delivery is always acknowledged with 200.
"""

import base64

from aws_lambda_powertools.event_handler import Response

from odys import whatsapp_webhook
from odys.http import create_app, json_response, lambda_handler_for

app = create_app()


@app.get("/api/whatsapp/webhook")
def verify_subscription():
    answer = whatsapp_webhook.challenge(app.current_event.query_string_parameters or {})
    return Response(status_code=200, content_type="text/plain", body=answer)


@app.post("/api/whatsapp/webhook")
def receive_whatsapp_delivery():
    event = app.current_event
    try:
        raw = base64.b64decode(event.body or "") if event.is_base64_encoded else (event.body or "").encode("utf-8")
    except ValueError:  # broken base64 cannot carry a valid signature
        raw = b""
    whatsapp_webhook.verify_signature(raw, event.headers.get("x-hub-signature-256"))
    return json_response(200, {"received": True, **whatsapp_webhook.process(raw)})


lambda_handler = lambda_handler_for(app)
