"""/api/clients — search/list the professional's clients (GET), create one (POST, plan limit)."""

from odys import clients
from odys.api_docs import doc
from odys.http import authenticated, create_app, json_response, lambda_handler_for, parse_body, parse_query

app = create_app()


@app.get("/api/clients", middlewares=authenticated())
@doc(auth="professional", query=clients.ClientQuery, response="ClientPage")
def list_clients():
    return json_response(200, clients.list_page(app.context["user_id"], parse_query(app, clients.ClientQuery)))


@app.post("/api/clients", middlewares=authenticated())
@doc(auth="professional", body=clients.ClientCreate, response=(201, "Client"), location=True,
     problems={402: ["plan_limit_reached"], 409: ["client_exists"]})
def create_client():
    created = clients.create(app.context["user_id"], parse_body(app, clients.ClientCreate))
    return json_response(201, created, headers={"Location": f"/api/clients/{created['id']}"})


lambda_handler = lambda_handler_for(app)
