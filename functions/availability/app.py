"""/api/availability — the professional's weekly availability (GET, PUT replace-all)."""

from odys import availability
from odys.api_docs import doc
from odys.http import authenticated, create_app, json_response, lambda_handler_for, parse_body

app = create_app()


@app.get("/api/availability", middlewares=authenticated())
@doc(auth="professional", response="Availability")
def get_availability():
    return json_response(200, availability.get(app.context["user_id"]))


@app.put("/api/availability", middlewares=authenticated())
@doc(auth="professional", body=availability.AvailabilityIn, response="Availability",
     problems={422: ["overlapping_windows"]})
def replace_availability():
    return json_response(200, availability.replace(app.context["user_id"], parse_body(app, availability.AvailabilityIn)))


lambda_handler = lambda_handler_for(app)
