"""/api/messages — a client's WhatsApp conversation (GET), send free text or a manual template (POST, limit
``messages``)."""

from odys import messages
from odys.api_docs import doc
from odys.http import authenticated, create_app, json_response, lambda_handler_for, parse_body, parse_query

app = create_app()


@app.get("/api/messages", middlewares=authenticated())
@doc(auth="professional", query=messages.MessageQuery, response="MessagePage", problems={404: ["not_found"]})
def list_messages():
    return json_response(200, messages.list_page(app.context["user_id"], parse_query(app, messages.MessageQuery)))


@app.post("/api/messages", middlewares=authenticated("messages"))
@doc(auth="professional", body=messages.MessageSend, response=(202, "Message"),
     problems={404: ["not_found"], 409: ["pix_key_missing", "appointment_not_active"],
               422: ["template_error", "unknown_template", "template_not_manual", "outside_service_window"]})
def send_message():
    return json_response(202, messages.send(app.context["user_id"], parse_body(app, messages.MessageSend)))


lambda_handler = lambda_handler_for(app)
