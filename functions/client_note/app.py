"""/api/client-notes/{id} — edit (PATCH) or delete (DELETE) a private client note."""

from odys import client_notes
from odys.api_docs import doc
from odys.http import authenticated, create_app, json_response, lambda_handler_for, no_content, parse_body, path_uuid

app = create_app()


@app.patch("/api/client-notes/<note_id>", middlewares=authenticated())
@doc(auth="professional", path={"id": "note"}, body=client_notes.NoteIn, response="Note")
def update_note(note_id: str):
    note_id = path_uuid(note_id, "note")
    return json_response(200, client_notes.update(app.context["user_id"], note_id,
                                                  parse_body(app, client_notes.NoteIn)))


@app.delete("/api/client-notes/<note_id>", middlewares=authenticated())
@doc(auth="professional", path={"id": "note"}, response=204)
def delete_note(note_id: str):
    client_notes.delete(app.context["user_id"], path_uuid(note_id, "note"))
    return no_content()


lambda_handler = lambda_handler_for(app)
