"""/api/reviews — a professional's visible reviews with their summary (GET, public), a client user's review of
their own completed appointment (POST)."""

from odys import client_links, reviews
from odys.api_docs import doc
from odys.http import authenticated, create_app, json_response, lambda_handler_for, parse_body, parse_query, public

app = create_app()


@app.get("/api/reviews", middlewares=public())
@doc(auth="public", query=reviews.ReviewQuery, response="ReviewPage",
     summary="A professional's visible reviews, newest first, with their count and average",
     problems={404: ["not_found"]})
def list_reviews():
    return json_response(200, reviews.page(parse_query(app, reviews.ReviewQuery)))


@app.post("/api/reviews", middlewares=authenticated())
@doc(auth="user", body=reviews.ReviewCreate, response=(201, "ReviewCreated"),
     summary="The client user reviews their own completed appointment, once",
     problems={403: ["reviews_disabled"], 404: ["not_found"],
               409: ["appointment_not_completed", "already_reviewed", "review_window_closed"]})
def create_review():
    created = reviews.create(client_links.client_user(app.context), parse_body(app, reviews.ReviewCreate))
    return json_response(201, created)


lambda_handler = lambda_handler_for(app)
