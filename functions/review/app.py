"""/api/reviews/{id} — the professional hides one of their reviews from the public page or shows it again
(PATCH {hidden}); nobody edits a review."""

from odys import reviews
from odys.api_docs import doc
from odys.http import authenticated, create_app, json_response, lambda_handler_for, parse_body, path_uuid

app = create_app()


@app.patch("/api/reviews/<review_id>", middlewares=authenticated())
@doc(auth="professional", path={"id": "review"}, body=reviews.ReviewVisibility, response="ProfessionalReview",
     summary="Hide one of the professional's reviews from the public page, or show it again")
def set_review_visibility(review_id: str):
    review_id = path_uuid(review_id, "review")
    return json_response(200, reviews.set_hidden(app.context["user_id"], review_id,
                                                 parse_body(app, reviews.ReviewVisibility)))


lambda_handler = lambda_handler_for(app)
