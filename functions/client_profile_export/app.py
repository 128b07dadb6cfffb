"""/api/client-profile/export — everything Odys holds about the client user, as one JSON document (GET)."""

from odys import client_links, client_profile
from odys.api_docs import doc
from odys.http import authenticated, create_app, json_response, lambda_handler_for

app = create_app()


@app.get("/api/client-profile/export", middlewares=authenticated())
@doc(auth="user", response="ClientExport", summary="Everything Odys holds about the client user, one JSON document",
     response_headers={"Content-Disposition": 'attachment; filename="odys-client-data.json"'})
def export_profile():
    document = client_profile.export(client_links.client_user(app.context))
    return json_response(200, document, headers={
        "Cache-Control": "private, no-store", "Content-Disposition": 'attachment; filename="odys-client-data.json"'})


lambda_handler = lambda_handler_for(app)
