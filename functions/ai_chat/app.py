"""/api/ai/chat — the AI assistant (POST, professional on the premium plan or the trial, rate limit ``aichat``).

Importing this module does not import the Groq SDK: :mod:`odys.assistant` loads it when a request reaches Groq.
"""

from odys import assistant
from odys.api_docs import doc
from odys.http import authenticated, create_app, json_response, lambda_handler_for, parse_body

app = create_app()


@app.post("/api/ai/chat", middlewares=authenticated("aichat"))
@doc(auth="professional", body=assistant.ChatRequest, response="AiChatAnswer",
     summary="Ask the AI assistant about the agenda (Premium or the trial); it may run its tools",
     problems={402: ["plan_limit_reached"], 503: ["ai_unavailable"]})
def ai_chat():
    return json_response(200, assistant.chat(app.context["user_id"], parse_body(app, assistant.ChatRequest)))


lambda_handler = lambda_handler_for(app)
