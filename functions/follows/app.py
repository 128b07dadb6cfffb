"""/api/follows — the professionals the user follows (GET), follow (POST {slug}), unfollow (DELETE {slug})."""

from odys import follows
from odys.api_docs import doc
from odys.http import authenticated, create_app, json_response, lambda_handler_for, no_content, parse_body

app = create_app()


@app.get("/api/follows", middlewares=authenticated())
@doc(auth="user", response="FollowList", summary="The professionals the user follows")
def list_follows():
    return json_response(200, follows.list_for(app.context["user_id"]))


@app.post("/api/follows", middlewares=authenticated())
@doc(auth="user", body=follows.FollowIn, response=(201, "Follow"), also={200: "Follow"},
     summary="Follow a professional (201; 200 when already followed)", problems={404: ["not_found"]})
def follow():
    created, body = follows.follow(app.context["user_id"], parse_body(app, follows.FollowIn))
    return json_response(201 if created else 200, body)


@app.delete("/api/follows", middlewares=authenticated())
@doc(auth="user", body=follows.FollowIn, response=204, summary="Unfollow a professional (idempotent)",
     problems={404: ["not_found"]})
def unfollow():
    follows.unfollow(app.context["user_id"], parse_body(app, follows.FollowIn))
    return no_content()


lambda_handler = lambda_handler_for(app)
