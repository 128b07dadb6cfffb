"""/api/client-profile — the client user's records across professionals (GET), rectification (PATCH), erasure
request (DELETE)."""

from odys import client_links, client_profile
from odys.api_docs import doc
from odys.http import authenticated, create_app, json_response, lambda_handler_for, parse_body

app = create_app()
PRIVATE = {"Cache-Control": "private, no-store"}


@app.get("/api/client-profile", middlewares=authenticated())
@doc(auth="user", response="ClientProfile",
     summary="The client user's records at each professional and their appointments (linked by verified phone or e-mail)")
def get_profile():
    return json_response(200, client_profile.get(client_links.client_user(app.context)), headers=PRIVATE)


@app.patch("/api/client-profile", middlewares=authenticated())
@doc(auth="user", body=client_profile.ProfileUpdate, response="ClientProfile",
     summary="Rectify name and/or e-mail in every linked record (each professional is told)")
def update_profile():
    changes = parse_body(app, client_profile.ProfileUpdate)
    return json_response(200, client_profile.update(client_links.client_user(app.context), changes), headers=PRIVATE)


@app.delete("/api/client-profile", middlewares=authenticated())
@doc(auth="user", response="ClientErasure",
     summary="The client user's erasure request: unlink every record, delete follows and reviews")
def erase_profile():
    return json_response(200, client_profile.erase(app.context["user_id"]), headers=PRIVATE)


lambda_handler = lambda_handler_for(app)
