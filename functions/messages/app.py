"""/api/messages — a client's WhatsApp conversation (GET), send free text or a manual template (POST, limit
``messages``)."""

from odys import messages
from odys.http import authenticated, create_app, json_response, lambda_handler_for, parse_body, parse_query

app = create_app()


@app.get("/api/messages", middlewares=authenticated())
def list_messages():
    return json_response(200, messages.list_page(app.context["user_id"], parse_query(app, messages.MessageQuery)))


@app.post("/api/messages", middlewares=authenticated("messages"))
def send_message():
    return json_response(202, messages.send(app.context["user_id"], parse_body(app, messages.MessageSend)))


lambda_handler = lambda_handler_for(app)
