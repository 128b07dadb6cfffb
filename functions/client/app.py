"""/api/clients/{id} — client detail with history and totals (GET), edit (PATCH), delete with cascade (DELETE)."""

from odys import clients
from odys.api_docs import doc
from odys.http import authenticated, create_app, json_response, lambda_handler_for, no_content, parse_body, path_uuid

app = create_app()


@app.get("/api/clients/<client_id>", middlewares=authenticated())
@doc(auth="professional", path={"id": "client"}, response="ClientDetail")
def get_client(client_id: str):
    return json_response(200, clients.get(app.context["user_id"], path_uuid(client_id, "client")))


@app.patch("/api/clients/<client_id>", middlewares=authenticated())
@doc(auth="professional", path={"id": "client"}, body=clients.ClientUpdate, response="Client",
     problems={409: ["client_exists"], 422: ["null_not_allowed"]})
def update_client(client_id: str):
    client_id = path_uuid(client_id, "client")
    return json_response(200, clients.update(app.context["user_id"], client_id, parse_body(app, clients.ClientUpdate)))


@app.delete("/api/clients/<client_id>", middlewares=authenticated())
@doc(auth="professional", path={"id": "client"}, response=204)
def delete_client(client_id: str):
    clients.delete(app.context["user_id"], path_uuid(client_id, "client"))
    return no_content()


lambda_handler = lambda_handler_for(app)
