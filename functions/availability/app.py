"""/api/availability — the professional's weekly availability (GET, PUT replace-all)."""

from odys import availability
from odys.http import authenticated, create_app, json_response, lambda_handler_for, parse_body

app = create_app()


@app.get("/api/availability", middlewares=authenticated())
def get_availability():
    return json_response(200, availability.get(app.context["user_id"]))


@app.put("/api/availability", middlewares=authenticated())
def replace_availability():
    return json_response(200, availability.replace(app.context["user_id"], parse_body(app, availability.AvailabilityIn)))


lambda_handler = lambda_handler_for(app)
