"""/api/notifications — the professional's in-app notices, newest first (GET), mark read (PATCH)."""

from odys import notifications
from odys.api_docs import doc
from odys.http import authenticated, create_app, json_response, lambda_handler_for, parse_body, parse_query

app = create_app()


@app.get("/api/notifications", middlewares=authenticated())
@doc(auth="professional", query=notifications.NotificationQuery, response="NotificationPage")
def list_notifications():
    query = parse_query(app, notifications.NotificationQuery)
    return json_response(200, notifications.list_page(app.context["user_id"], query))


@app.patch("/api/notifications", middlewares=authenticated())
@doc(auth="professional", body=notifications.NotificationsRead, response="UnreadCount", problems={404: ["not_found"]})
def mark_notifications_read():
    data = parse_body(app, notifications.NotificationsRead)
    return json_response(200, notifications.mark_read(app.context["user_id"], data))


lambda_handler = lambda_handler_for(app)
