"""/api/professionals/{slug}/slots — bookable slots in a range of local dates (public)."""

from odys import slots
from odys.api_docs import doc
from odys.http import create_app, json_response, lambda_handler_for, parse_query, public

app = create_app()


@app.get("/api/professionals/<slug>/slots", middlewares=public())
@doc(auth="public", path={"slug": "slug"}, query=slots.SlotsQuery, response="Slots",
     problems={404: ["not_found"], 422: ["invalid_range", "range_too_long"]})
def get_slots(slug: str):
    query = parse_query(app, slots.SlotsQuery)
    return json_response(200, slots.offered(slug, query.from_, query.to))


lambda_handler = lambda_handler_for(app)
