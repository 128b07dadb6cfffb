"""/api/message-templates/{key} — switch a template off/on or reword its free-form text (PATCH)."""

from odys import message_template_settings as settings
from odys.api_docs import doc
from odys.http import authenticated, create_app, json_response, lambda_handler_for, parse_body

app = create_app()


@app.patch("/api/message-templates/<key>", middlewares=authenticated())
@doc(auth="professional", body=settings.TemplateChange, response="MessageTemplate",
     problems={404: ["not_found"], 422: ["not_automatic", "not_editable", "unknown_placeholders", "stray_brace"]})
def change_template(key: str):
    return json_response(200, settings.change(app.context["user_id"], key, parse_body(app, settings.TemplateChange)))


lambda_handler = lambda_handler_for(app)
