"""/api/message-templates — every WhatsApp template as the professional has it, with a preview (GET)."""

from odys import message_template_settings as settings
from odys.api_docs import doc
from odys.http import authenticated, create_app, json_response, lambda_handler_for, parse_query

app = create_app()


@app.get("/api/message-templates", middlewares=authenticated())
@doc(auth="professional", query=settings.TemplateQuery, response="MessageTemplateList")
def list_templates():
    return json_response(200, settings.listing(app.context["user_id"], parse_query(app, settings.TemplateQuery)))


lambda_handler = lambda_handler_for(app)
