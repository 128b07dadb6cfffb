"""/api/professionals/{slug} — a professional's public profile and review summary (public)."""

from odys import profiles
from odys.api_docs import doc
from odys.http import create_app, json_response, lambda_handler_for, public

app = create_app()


@app.get("/api/professionals/<slug>", middlewares=public())
@doc(auth="public", path={"slug": "slug"}, response="PublicProfile", problems={404: ["not_found"]})
def get_public_profile(slug: str):
    return json_response(200, profiles.public_profile(slug))


lambda_handler = lambda_handler_for(app)
