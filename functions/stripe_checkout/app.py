"""/api/stripe/checkout — a Stripe Checkout session for a paid plan (POST, professional, rate limit ``billing``)."""

from odys import billing, caller
from odys.api_docs import doc
from odys.http import authenticated, create_app, json_response, lambda_handler_for, parse_body

app = create_app()


@app.post("/api/stripe/checkout", middlewares=authenticated("billing"))
@doc(auth="professional", body=billing.CheckoutRequest, response="CheckoutSession",
     problems={409: ["subscription_exists"], 502: ["stripe_error"], 503: ["billing_not_configured"]})
def create_checkout_session():
    data = parse_body(app, billing.CheckoutRequest)
    return json_response(200, billing.checkout(caller.professional(app.context["user_id"]), data))


lambda_handler = lambda_handler_for(app)
