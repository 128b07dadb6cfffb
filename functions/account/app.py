"""/api/account — the authenticated professional's own profile (GET, POST onboarding, PATCH, DELETE)."""

from odys import account
from odys.api_docs import doc
from odys.http import authenticated, create_app, json_response, lambda_handler_for, no_content, parse_body

app = create_app()


@app.get("/api/account", middlewares=authenticated())
@doc(auth="professional", response="Account")
def get_account():
    return json_response(200, account.get(app.context["user_id"]))


@app.post("/api/account", middlewares=authenticated())
@doc(auth="user", body=account.AccountCreate, response=(201, "Account"), location=True,
     problems={409: ["slug_taken", "already_onboarded"]})
def create_account():
    professional = account.onboard(app.context["user_id"], parse_body(app, account.AccountCreate))
    return json_response(201, professional, headers={"Location": "/api/account"})


@app.patch("/api/account", middlewares=authenticated())
@doc(auth="professional", body=account.AccountUpdate, response="Account",
     problems={409: ["slug_taken"], 422: ["null_not_allowed", "invalid_pix_key"]})
def update_account():
    return json_response(200, account.update(app.context["user_id"], parse_body(app, account.AccountUpdate)))


@app.delete("/api/account", middlewares=authenticated())
@doc(auth="professional", body=account.AccountDelete, response=204,
     problems={400: ["confirmation_mismatch"], 502: ["stripe_error"]})
def delete_account():
    account.delete(app.context["user_id"], parse_body(app, account.AccountDelete))
    return no_content()


lambda_handler = lambda_handler_for(app)
