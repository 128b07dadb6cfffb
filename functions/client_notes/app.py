"""/api/clients/{id}/notes — a client's private notes, newest first (GET), add one (POST)."""

from odys import client_notes
from odys.api_docs import doc
from odys.http import authenticated, create_app, json_response, lambda_handler_for, parse_body, parse_query, path_uuid

app = create_app()


@app.get("/api/clients/<client_id>/notes", middlewares=authenticated())
@doc(auth="professional", path={"id": "client"}, query=client_notes.NoteQuery, response="NotePage")
def list_notes(client_id: str):
    client_id = path_uuid(client_id, "client")
    return json_response(200, client_notes.list_page(app.context["user_id"], client_id,
                                                     parse_query(app, client_notes.NoteQuery)))


@app.post("/api/clients/<client_id>/notes", middlewares=authenticated())
@doc(auth="professional", path={"id": "client"}, body=client_notes.NoteIn, response=(201, "Note"), location=True)
def create_note(client_id: str):
    client_id = path_uuid(client_id, "client")
    note = client_notes.create(app.context["user_id"], client_id, parse_body(app, client_notes.NoteIn))
    return json_response(201, note, headers={"Location": f"/api/client-notes/{note['id']}"})


lambda_handler = lambda_handler_for(app)
