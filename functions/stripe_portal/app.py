"""/api/stripe/portal — a Stripe customer-portal session (POST, professional, rate limit ``billing``)."""

from odys import billing, caller
from odys.http import authenticated, create_app, json_response, lambda_handler_for

app = create_app()


@app.post("/api/stripe/portal", middlewares=authenticated("billing"))
def create_portal_session():
    return json_response(200, billing.portal(caller.professional(app.context["user_id"])))


lambda_handler = lambda_handler_for(app)
