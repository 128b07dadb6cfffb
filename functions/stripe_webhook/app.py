"""/api/stripe/webhook — Stripe events (POST, verified by the Stripe-Signature header; no token, no rate limit)."""

from odys import billing_events
from odys.api_docs import doc
from odys.http import create_app, json_response, lambda_handler_for

app = create_app()


@app.post("/api/stripe/webhook")
@doc(auth="stripe", raw_body=True, response="StripeReceipt",
     problems={400: ["invalid_signature"], 503: ["billing_not_configured"]})
def receive_stripe_event():
    payload = billing_events.raw_body(app.current_event)
    billing_events.verify(payload, app.current_event.headers.get("stripe-signature"))
    return json_response(200, billing_events.process(payload))


lambda_handler = lambda_handler_for(app)
