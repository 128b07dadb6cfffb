"""/api/stripe/portal — a Stripe customer-portal session (POST, professional, rate limit ``billing``)."""

from odys import billing, caller
from odys.api_docs import doc
from odys.http import authenticated, create_app, json_response, lambda_handler_for

app = create_app()


@app.post("/api/stripe/portal", middlewares=authenticated("billing"))
@doc(auth="professional", response="PortalSession",
     problems={409: ["no_billing_customer"], 502: ["stripe_error"], 503: ["billing_not_configured"]})
def create_portal_session():
    return json_response(200, billing.portal(caller.professional(app.context["user_id"])))


lambda_handler = lambda_handler_for(app)
