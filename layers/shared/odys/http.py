"""The HTTP edge shared by every function: resolver factory, body/query parsing, JSON and problem responses.

A function's handler module stays this thin::

    from odys import account
    from odys.http import authenticated, create_app, json_response, lambda_handler_for

    app = create_app()

    @app.get("/api/account", middlewares=authenticated())
    def get_account():
        return json_response(200, account.get(app.context["user_id"]))

    lambda_handler = lambda_handler_for(app)

Errors raised anywhere below (:class:`odys.errors.Problem`) become ``application/problem+json`` responses; any
other exception is logged and answered with a 500 problem that reveals nothing. On a rate-limited route every
response, problems included, carries the ``RateLimit-*`` headers of the request's decision.

Request bodies (:func:`parse_body`) are JSON objects sent as ``Content-Type: application/json`` (parameters such
as ``; charset=utf-8`` allowed, any case): another media type, or a body without one, is 415
``unsupported_media_type`` (so no browser can send one cross-site as a CORS "simple request"); a body that is not
UTF-8 JSON, or nests deeper than :data:`MAX_JSON_DEPTH`, is 400 ``malformed_json``.

The resolver is Powertools' ``APIGatewayHttpResolver`` (its ``@app.get(...)`` routes, ``app.current_event``,
``app.context``, exception handlers), dispatching a request the short way (:class:`Resolver`): the warm path of a
request outside the database is budgeted at 150 µs (benchmarks/warm) and Powertools' own dispatch costs more than
that alone.
"""

from __future__ import annotations

import base64
import inspect
import json
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.api_gateway import BaseRouter, Route
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2
from pydantic import BaseModel, ValidationError

from odys import ratelimit, snapstart  # noqa: F401 - snapstart: every HTTP function registers its hooks at init
from odys.db import DatabaseError, sqlstate
from odys.errors import (PROBLEM_CONTENT_TYPE, BadRequest, NotFound, PayloadTooLarge, Problem, UnsupportedMediaType,
                         ValidationFailed)
from odys.jsonfmt import to_json
from odys.log import logger

M = TypeVar("M", bound=BaseModel)

JSON_MEDIA_TYPE = "application/json"
MAX_JSON_DEPTH = 32  # our bodies nest 3 deep; deeper is an attack on the parser, not a request


def json_response(status: int, data: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(status_code=status, content_type="application/json", body=to_json(data), headers=headers or {})


def no_content() -> Response:
    return Response(status_code=204, body="")


def binary_response(status: int, data: bytes, content_type: str, headers: dict[str, str] | None = None) -> Response:
    """A body of bytes, sent base64-encoded as API Gateway expects (``isBase64Encoded``): its size on the wire is
    exactly 4/3 of ``data``, whatever it holds."""
    response = Response(status_code=status, content_type=content_type, body=base64.b64encode(data).decode(),
                        headers=headers or {})
    response.base64_encoded = True  # a str body: Powertools neither re-serialises nor re-encodes it
    return response


def accepts_gzip(app: APIGatewayHttpResolver) -> bool:
    """Whether the request's ``Accept-Encoding`` admits gzip (``gzip``, else ``*``, with a q-value above 0).

    On header values: ``"gzip, deflate, br"`` -> True, ``"br, gzip;q=0"`` -> False, ``"*"`` -> True, none -> False.
    """
    header = next((v for k, v in (app.current_event.headers or {}).items() if k.lower() == "accept-encoding"), "")
    weights: dict[str, float] = {}
    for item in header.split(","):
        coding, *params = [part.strip().lower() for part in item.split(";")]
        q = next((p[2:] for p in params if p.startswith("q=")), "1")
        try:
            weights[coding] = float(q)
        except ValueError:
            weights[coding] = 0.0
    return weights.get("gzip", weights.get("x-gzip", weights.get("*", 0.0))) > 0


def problem_response(problem: Problem) -> Response:
    return Response(status_code=problem.status, content_type=PROBLEM_CONTENT_TYPE, body=to_json(problem.to_dict()),
                    headers=dict(problem.headers))


def _field_errors(error: ValidationError, prefix: str = "") -> list[dict[str, str]]:
    out = []
    for item in error.errors(include_url=False):
        field = ".".join(str(part) for part in item["loc"])
        out.append({"field": prefix + field if field else prefix.rstrip(".") or "body",
                    "message": item["msg"], "code": item["type"]})
    return out


def is_json_media_type(content_type: str | None) -> bool:
    """Whether a ``Content-Type`` header value declares JSON.

    >>> [is_json_media_type(v) for v in ("application/json", "Application/JSON; charset=utf-8", "text/plain", None)]
    [True, True, False, False]
    """
    return bool(content_type) and content_type.split(";", 1)[0].strip().lower() == JSON_MEDIA_TYPE  # type: ignore[union-attr]


def _too_deep(data: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether parsed JSON nests more than ``limit`` arrays/objects deep (iteratively: no recursion to exhaust).

    >>> _too_deep({"a": [[1]]}, limit=3), _too_deep({"a": [[[1]]]}, limit=3)
    (False, True)
    """
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, (dict, list)):
            if depth > limit:
                return True
            stack.extend((child, depth + 1) for child in (value.values() if isinstance(value, dict) else value))
    return False


def parse_body(app: APIGatewayHttpResolver, model: type[M]) -> M:
    """The JSON body validated by ``model``: 400 when it is missing or not JSON, 415 when it is not declared
    ``application/json``, 422 when a field is invalid."""
    event = app.current_event
    if not event.body:
        raise BadRequest("This request needs a JSON body.", code="body_required")
    headers = event.headers or {}
    content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), None)
    if not is_json_media_type(content_type):
        raise UnsupportedMediaType("The request body must be JSON, sent with Content-Type: application/json.")
    try:
        raw = event.decoded_body
    except (UnicodeDecodeError, ValueError):  # not UTF-8 (or broken base64): cannot be our JSON
        raise BadRequest("The request body must be UTF-8 encoded JSON.", code="malformed_json") from None
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        raise BadRequest("This request needs a JSON body.", code="body_required")
    try:
        data = json.loads(raw)
    except (ValueError, TypeError, RecursionError):  # RecursionError: nested deeper than the parser's stack
        raise BadRequest("The request body is not valid JSON.", code="malformed_json") from None
    if not isinstance(data, dict):
        raise BadRequest("The request body must be a JSON object.", code="malformed_json")
    if _too_deep(data):
        raise BadRequest(f"The request body nests deeper than {MAX_JSON_DEPTH} levels.", code="malformed_json")
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise ValidationFailed("Some fields are invalid; see errors.", errors=_field_errors(error)) from None


def parse_query(app: APIGatewayHttpResolver, model: type[M]) -> M:
    """Query-string parameters validated by ``model`` (422 with the offending parameters)."""
    params = app.current_event.query_string_parameters or {}
    try:
        return model.model_validate(params)
    except ValidationError as error:
        raise ValidationFailed("Some query parameters are invalid; see errors.",
                               errors=_field_errors(error)) from None


def path_uuid(value: str, what: str) -> str:
    """A path id that is not a UUID cannot exist: answer 404 as for any unknown id."""
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise NotFound(what) from None


class Resolver(APIGatewayHttpResolver):
    """Powertools' HTTP API resolver with a short dispatch for the routes this code declares.

    A request whose route is static is found by one dict lookup (dynamic ones by their regex, as Powertools does,
    static first); its middlewares are plain ``(app, next_middleware)`` calls and its answer a plain dict built from
    the :class:`Response`. What that path does not cover goes through Powertools' own dispatch, unchanged: a
    resolver with CORS, global middlewares, validation, prefixes or debug; a route with CORS, cache control or
    compression; a handler taking more than its path parameters (``Request``, ``Depends``); a middleware taking more
    than ``(app, next_middleware)``; an unknown route (404) and every exception (the registered handlers).
    """

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._static: dict[tuple[str, str], Route] = {}
        self._chains: dict[Route, Callable[[Any], Any] | None] = {}

    def resolve(self, event: dict[str, Any], context: Any) -> dict[str, Any]:  # type: ignore[override]
        if (self._cors or self._router_middlewares or self._enable_validation or self._strip_prefixes
                or self._debug or not isinstance(event, dict)):
            return super().resolve(event, context)
        BaseRouter.current_event = APIGatewayProxyEventV2(event, self._json_body_deserializer)
        BaseRouter.lambda_context = context
        try:
            method, path = _method_and_path(event)
            route, arguments = self._match(method, path)
            if route is None:
                return self._build_response(self._handle_not_found(method=method, path=path))
            self.context.update(_route=route, _path=path)
            chain = self._chains[route] if route in self._chains else self._chain(route)
            if chain is None:
                return self._build_response(self._call_route(route, arguments))
            self.context["_route_args"] = arguments
            try:
                response = chain(self)
            except Exception as error:
                handled = self._call_exception_handler(error, route)
                if handled is None:
                    raise
                return self._build_response(handled)
            return self._plain_response(response, route)
        finally:
            self.context.clear()

    def _match(self, method: str, path: str) -> tuple[Route | None, dict[str, str]]:
        if len(self._static) != len(self._static_routes):  # routes are registered at import; this runs once
            self._static = {}
            for route in self._static_routes:
                self._static.setdefault((route.method, route.path), route)
        route = self._static.get((method, path))
        if route is not None:
            return route, {}
        for route in self._dynamic_routes:
            if route.method == method:
                found = route.rule.match(path)
                if found:
                    return route, found.groupdict()
        return None, {}

    def _chain(self, route: Route) -> Callable[[Any], Any] | None:
        """The route's middlewares around its handler as plain calls, or None when only Powertools' dispatch
        gives them what they ask for (see the class docstring)."""
        plain = (not route.cors and not route.compress and not route.cache_control
                 and set(inspect.signature(route.func).parameters) == set(route.rule.groupindex)
                 and all(len(inspect.signature(m).parameters) == 2 for m in route.middlewares))
        chain: Callable[[Any], Any] | None = None
        if plain:
            def call_handler(app: Any, handler: Callable[..., Any] = route.func) -> Any:
                return app._to_response(handler(**app.context["_route_args"]))

            chain = call_handler
            for middleware in reversed(route.middlewares):
                chain = _frame(middleware, chain)
        self._chains[route] = chain
        return chain

    def _plain_response(self, response: Any, route: Route) -> dict[str, Any]:
        """What Powertools' ResponseBuilder.build answers for a route without CORS, cache control or compression."""
        if not isinstance(response, Response) or response.compress:
            return self._build_response(self._response_builder_class(response=response, serializer=self._serializer,
                                                                     route=route))
        body, encoded = response.body, response.base64_encoded
        if not isinstance(body, str) and response.is_json():
            body = self._serializer(body)
        if isinstance(body, bytes):
            body, encoded = base64.b64encode(body).decode(), True
        headers = {name: value if isinstance(value, str) else ", ".join(value)
                   for name, value in response.headers.items() if value is not None}
        return {"statusCode": response.status_code, "body": body, "isBase64Encoded": encoded, "headers": headers,
                "cookies": [str(cookie) for cookie in response.cookies]}


def _method_and_path(event: dict[str, Any]) -> tuple[str, str]:
    """``current_event.http_method.upper()`` and ``current_event.path`` (the stage's prefix removed unless it is
    ``$default``) read from the event itself: Powertools builds two wrapper objects for each."""
    context = event["requestContext"]
    stage, path = context["stage"], event["rawPath"]
    return context["http"]["method"].upper(), path if stage == "$default" else path[len(stage) + 1:]


def _frame(middleware: Callable[[Any, Callable[[Any], Any]], Any],
           next_call: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def frame(app: Any) -> Any:
        return middleware(app, next_call)

    return frame


def create_app() -> Resolver:
    """A resolver with Odys' error rendering. CORS is configured once, on the HTTP API (template.yaml)."""
    app = Resolver()

    def respond(problem: Problem) -> Response:
        response = problem_response(problem)
        ratelimit.merge_headers(response.headers, ratelimit.request_decision(app))
        return response

    @app.exception_handler(Problem)
    def _on_problem(problem: Problem) -> Response:
        if problem.status >= 500:
            logger.warning("service problem", extra={"code": problem.code, "status": problem.status})
        return respond(problem)

    @app.not_found
    def _on_not_found(_: Exception) -> Response:
        return respond(NotFound("route", detail=f"No route {app.current_event.raw_path} "
                                f"for {app.current_event.http_method}.", code="route_not_found"))

    @app.exception_handler(DatabaseError)
    def _on_database_error(error: DatabaseError) -> Response:
        state = sqlstate(error)[0] or ""
        if state.startswith("22"):  # data exception: a value from the request the database cannot take
            logger.warning("value refused by the database", extra={"sqlstate": state})
            return respond(ValidationFailed("A value in this request cannot be stored (out of range or "
                                            "not valid text).", code="invalid_value"))
        return _on_error(error)

    @app.exception_handler(Exception)
    def _on_error(error: Exception) -> Response:
        logger.exception("unhandled error", extra={"error_type": type(error).__name__})
        return respond(Problem("Something went wrong on our side. It has been logged; please retry."))

    return app


MAX_BODY_BYTES = 1024 * 1024  # 1 MiB: our JSON bodies are a few KiB; a bigger one is refused before any parsing
SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
                    "Cache-Control": "no-store"}  # every answer: none is meant for a shared cache


def _body_bytes(event: dict[str, Any], limit: int) -> int:
    """The request body's size in bytes (exact up to ``limit``, without decoding base64)."""
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        return len(body) * 3 // 4 - body[-2:].count("=")
    if len(body) > limit or len(body) * 4 <= limit:  # UTF-8: 1 to 4 bytes a character
        return len(body)
    return len(body.encode("utf-8", "surrogatepass"))


def _with_security_headers(result: dict[str, Any]) -> dict[str, Any]:
    headers = result.setdefault("headers", {})
    present = {key.lower() for key in headers}
    for name, value in SECURITY_HEADERS.items():
        if name.lower() not in present:
            headers[name] = value
    return result


def lambda_handler_for(app: APIGatewayHttpResolver, *,
                       max_body_bytes: int = MAX_BODY_BYTES) -> Callable[[dict, Any], dict]:
    """The Lambda entry point of ``app``: a body over ``max_body_bytes`` is 413 ``payload_too_large`` before
    anything reads it; every answer carries :data:`SECURITY_HEADERS` (unless the route set its own value)."""

    def lambda_handler(event: dict, context: Any) -> dict:
        logger.start_request(event, context)
        if _body_bytes(event, max_body_bytes) > max_body_bytes:
            problem = PayloadTooLarge(f"The request body is over {max_body_bytes} bytes; send less.")
            logger.warning("request body too large", extra={"limit_bytes": max_body_bytes})
            return _with_security_headers({"statusCode": 413, "headers": {"Content-Type": PROBLEM_CONTENT_TYPE},
                                           "body": to_json(problem.to_dict()), "isBase64Encoded": False})
        return _with_security_headers(app.resolve(event, context))

    return lambda_handler


def public(limit: str = "public") -> list[Callable]:
    """Middlewares of a public route: rate limited by client IP."""
    return [ratelimit.middleware(limit, by="ip")]


def authenticated(limit: str = "api") -> list[Callable]:
    """Middlewares of an authenticated route: a verified Supabase token, then the per-user rate limit."""
    from odys import auth

    return [auth.require_user, ratelimit.middleware(limit, by="user")]

