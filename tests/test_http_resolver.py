"""odys.http.Resolver answers exactly as Powertools' APIGatewayHttpResolver does for the same routes: its short
dispatch (static routes by lookup, plain middleware calls, the answer dict built directly) and the cases it hands
to Powertools (compression, Request injection, unknown routes, exceptions)."""

from __future__ import annotations

import json

import pytest
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.api_gateway import Request

from devtools.lambdas import LambdaContext, http_event
from odys.errors import Conflict, Problem
from odys.http import Resolver, create_app, problem_response


def register(app: APIGatewayHttpResolver) -> APIGatewayHttpResolver:
    def stamp(app, next_middleware):
        app.append_context(stamped="yes")
        response = next_middleware(app)
        response.headers["X-Stamp"] = app.context["stamped"]
        return response

    def refuse(app, next_middleware):
        raise Conflict("busy", "Not now.")

    @app.exception_handler(Problem)
    def on_problem(problem: Problem) -> Response:
        return problem_response(problem)

    @app.not_found
    def on_not_found(_: Exception) -> Response:
        return Response(404, "text/plain", f"no {app.current_event.raw_path}")

    @app.get("/things", middlewares=[stamp])
    def things():
        return Response(200, "application/json", json.dumps({"query": app.current_event.query_string_parameters}),
                        headers={"Multi": ["a", "b"]})

    @app.get("/things/<thing_id>", middlewares=[stamp])
    def thing(thing_id: str):
        return {"id": thing_id, "stamped": app.context["stamped"]}  # a dict: Powertools' JSON serializer

    @app.get("/things/<thing_id>/tuple")
    def thing_tuple(thing_id: str):
        return {"id": thing_id}, 201

    @app.post("/refused", middlewares=[stamp, refuse])
    def refused():
        raise AssertionError("never called")

    @app.get("/failing")
    def failing():
        raise Conflict("clash", "It clashed.")

    @app.get("/bytes")
    def raw_bytes():
        return Response(200, "application/octet-stream", b"\x00\x01")

    @app.get("/compressed", compress=True)
    def compressed():
        return Response(200, "text/plain", "x" * 100)

    @app.get("/request")
    def with_request(request: Request):
        return {"path": request.resolved_event.path if hasattr(request, "resolved_event") else None}

    return app


EVENTS = [
    http_event("GET", "/things", query={"a": "1"}),
    http_event("GET", "/things/t-1"),
    http_event("GET", "/things/t-1/tuple"),
    http_event("POST", "/refused", body={"x": 1}),
    http_event("GET", "/failing"),
    http_event("GET", "/bytes"),
    http_event("GET", "/compressed", headers={"accept-encoding": "gzip"}),
    http_event("GET", "/compressed"),
    http_event("GET", "/request"),
    http_event("GET", "/nowhere"),
    http_event("DELETE", "/things"),
    http_event("GET", "/things/"),
]


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: e["routeKey"])
def test_the_short_dispatch_answers_as_powertools_does(event):
    expected = register(APIGatewayHttpResolver()).resolve(event, LambdaContext())
    for app in (register(Resolver()), register(Resolver())):
        assert app.resolve(event, LambdaContext()) == expected
        assert app.resolve(event, LambdaContext()) == expected  # the second time: routes and chains cached
        assert app.context == {}  # cleared after each request


def test_create_app_is_the_short_resolver():
    assert isinstance(create_app(), Resolver)
