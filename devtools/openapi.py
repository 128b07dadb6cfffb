"""`make openapi`: docs/openapi.json, the OpenAPI 3.1 document of every route, from template.yaml and the handlers.

Paths and methods come from template.yaml (devtools.lambdas.load_routes); what each operation takes and answers from
the ``@doc(...)`` declared under its route in functions/<name>/app.py (odys.api_docs); JSON Schemas from the pydantic
request models the handlers parse with and the response models of odys.responses. The output is deterministic
(sorted keys) and validated with openapi-spec-validator.

    python -m devtools.openapi            # writes docs/openapi.json
    python -m devtools.openapi --check    # exit 1 when docs/openapi.json is not what the code says
    python -m devtools.openapi --skip-undocumented   # leave out (and name) routes without @doc, instead of failing

    document = build()                                # the document as a dict (raises Undocumented)
    document = build(server_url="http://127.0.0.1:3000")
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "layers" / "shared"), str(ROOT)]

from devtools import lambdas  # noqa: E402

DOCUMENT_PATH = ROOT / "docs" / "openapi.json"
DEV_SERVER_URL = "http://127.0.0.1:3000"
PROBLEM_JSON = "application/problem+json"
REF = "#/components/schemas/{model}"
SIGNATURE_SCHEMES = {
    "stripe": ("stripeSignature", "Stripe-Signature",
               "Stripe's signature of the raw body (t=<unix time>,v1=<HMAC-SHA256 hex>), checked with the endpoint's "
               "signing secret; a wrong or missing one is 400 invalid_signature"),
    "meta": ("metaSignature", "X-Hub-Signature-256",
             "sha256=<HMAC-SHA256 hex of the raw body with the Meta app secret>; a wrong or missing one is 401 "
             "invalid_signature. The GET subscription check takes hub.mode, hub.verify_token and hub.challenge"),
}
PSP_CALLBACK_SCHEME = ("pspMutualTLS", "A PSP's PIX callback: the secret token of its URL names the professional's "
                       "connection (404 webhook_not_found otherwise); where the callback domain requires it "
                       "(PIX_WEBHOOK_MTLS=required), the PSP's client certificate too (mutual TLS; 403 "
                       "client_certificate_required or client_certificate_refused)")
RATE_LIMIT_HEADERS = {
    "RateLimit-Limit": "requests allowed in the window",
    "RateLimit-Remaining": "requests left in the window",
    "RateLimit-Reset": "seconds until the window resets",
}


class Undocumented(Exception):
    """Routes of template.yaml whose handler has no ``@doc(...)``, or that no handler serves; the message names each."""


# --- what the handlers declare ------------------------------------------------------------------------------------

def _shape(path: str) -> str:
    return re.sub(r"<[^>]+>|\{[^}]+\}", "{}", path)


def declared_operations(routes: Iterable[lambdas.Route] | None = None) -> list[tuple[lambdas.Route, Any, Any]]:
    """(template route, handler function, its api_docs.Operation or None) for every HTTP route of template.yaml."""
    from odys import api_docs

    found = []
    problems = []
    for route in routes if routes is not None else lambdas.load_routes():
        module = lambdas.load_function(route.function)
        app = getattr(module, "app", None)
        handlers = [r for r in (getattr(app, "_static_routes", []) + getattr(app, "_dynamic_routes", []))
                    if r.method == route.method and _shape(r.path) == _shape(route.path)]
        if not handlers:
            problems.append(f"{route.method} {route.path}: functions/{route.function}/app.py has no handler for it")
            continue
        found.append((route, handlers[0].func, api_docs.of(handlers[0].func)))
    if problems:
        raise Undocumented("\n".join(problems))
    return found


def undocumented(operations: list[tuple[lambdas.Route, Any, Any]]) -> list[str]:
    return [f"{route.method} {route.path} (functions/{route.function}/app.py, {func.__name__}): no @doc(...) under "
            f"its route; see odys/api_docs.py" for route, func, operation in operations if operation is None]


# --- schemas --------------------------------------------------------------------------------------------------------

def _clean(schema: Any) -> Any:
    """Drop pydantic's generated property titles ("Sessionprice") and ``default: null`` on non-nullable fields."""
    if isinstance(schema, dict):
        out = {}
        for key, value in schema.items():
            if key == "properties" and isinstance(value, dict):
                out[key] = {name: _clean({k: v for k, v in prop.items() if k != "title"})
                            for name, prop in value.items()}
            else:
                out[key] = _clean(value)
        if out.get("default", 0) is None and "anyOf" not in out and out.get("type") != "null":
            del out["default"]
        return out
    if isinstance(schema, list):
        return [_clean(item) for item in schema]
    return schema


class Schemas:
    """Every model's JSON Schema once, under components/schemas, generated together (consistent names)."""

    def __init__(self) -> None:
        self.models: dict[type, str] = {}

    def add(self, model: type, mode: str) -> None:
        self.models[model] = mode

    def build(self) -> tuple[dict[type, str], dict[str, Any]]:
        from pydantic.json_schema import models_json_schema

        ordered = sorted(self.models.items(), key=lambda item: (item[0].__module__, item[0].__qualname__))
        keys, top = models_json_schema([(model, mode) for model, mode in ordered], ref_template=REF,
                                       by_alias=True)
        refs = {model: keys[(model, mode)]["$ref"].rsplit("/", 1)[1] for model, mode in ordered}
        return refs, _clean(top.get("$defs", {}))


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF.format(model=name)}


# --- operations -----------------------------------------------------------------------------------------------------

def _standard_problems(operation: Any, route: lambdas.Route) -> dict[int, set[str]]:
    problems: dict[int, set[str]] = {503: {"service_unavailable", "database_unavailable", "database_busy"}}

    def add(status: int, *codes: str) -> None:
        problems.setdefault(status, set()).update(codes)

    if operation.auth in ("user", "professional"):
        add(401, "unauthorized", "missing_token", "invalid_token", "token_expired")
    if operation.auth == "professional":
        add(404, "onboarding_required")
    if operation.auth in ("public", "user", "professional"):
        add(429, "rate_limited")
    if operation.body is not None:
        add(400, "body_required", "malformed_json")
        add(415, "unsupported_media_type")
        add(422, "validation_error", "invalid_value")
    if operation.body is not None or operation.raw_body:
        add(413, "payload_too_large")
    if operation.query is not None:
        add(422, "validation_error", "invalid_value")
        if "cursor" in operation.query.model_fields:
            add(400, "invalid_cursor")
    for name in re.findall(r"\{(\w+)\}", route.path):
        if operation.path.get(name, "text") not in ("text", "slug"):
            add(404, "not_found")
    for status, codes in operation.problems.items():
        add(status, *codes)
    return problems


def _query_value(schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter is present or absent, never null: ``X | None = None`` is documented as an optional X."""
    options = schema.get("anyOf")
    if options and {"type": "null"} in options:
        rest = [option for option in options if option != {"type": "null"}]
        schema = {**{k: v for k, v in schema.items() if k not in ("anyOf", "default")},
                  **(rest[0] if len(rest) == 1 else {"anyOf": rest})}
    return schema


def _parameters(route: lambdas.Route, operation: Any, schemas: dict[str, Any], refs: dict[type, str]) -> list[dict]:
    from odys.fields import Slug
    from pydantic import TypeAdapter

    parameters = []
    for name in re.findall(r"\{(\w+)\}", route.path):
        kind = operation.path.get(name, "text")
        if kind == "slug":
            schema, description = _clean(TypeAdapter(Slug).json_schema()), "the professional's booking address"
        elif kind == "text":
            schema, description = {"type": "string", "minLength": 1}, None
        else:
            schema, description = {"type": "string", "format": "uuid"}, f"the {kind}'s id"
        parameters.append({"name": name, "in": "path", "required": True, "schema": schema,
                           **({"description": description} if description else {})})
    if operation.query is not None:
        model_schema = schemas[refs[operation.query]]
        required = set(model_schema.get("required", []))
        for name, schema in model_schema.get("properties", {}).items():
            schema = _query_value(schema)
            parameter = {"name": name, "in": "query", "required": name in required, "schema": schema}
            if "array" in json.dumps(schema.get("type", schema.get("anyOf", ""))):
                parameter.update(style="form", explode=False)  # status=confirmed,pending
            if schema.get("description"):
                parameter["description"] = schema["description"]
            parameters.append(parameter)
    for header, description in operation.request_headers.items():
        parameters.append({"name": header, "in": "header", "required": False, "description": description,
                           "schema": {"type": "string", "minLength": 1, "maxLength": 255}})
    return parameters


def _success(operation: Any, refs: dict[str, str], status: int | None = None,
             response: str | None = None) -> dict[str, Any]:
    """The success answer ``status`` with ``response`` (the declared ones by default; ``also`` gives others)."""
    primary = status is None
    status, response = (operation.status, operation.response) if primary else (status, response)
    headers: dict[str, Any] = {"X-Content-Type-Options": {"required": True, "schema": {"const": "nosniff"}}}
    if operation.auth in ("public", "user", "professional"):
        for name, description in RATE_LIMIT_HEADERS.items():
            headers[name] = {"required": True, "description": description,
                             "schema": {"type": "string", "pattern": r"^\d+$"}}
    if operation.location and primary:
        headers["Location"] = {"required": True, "description": "where the created resource is",
                               "schema": {"type": "string"}}
    for name, description in operation.response_headers.items():
        headers[name] = {"required": False, "description": description, "schema": {"type": "string"}}
    answer: dict[str, Any] = {"description": "OK" if status < 300 else "Answer", "headers": headers}
    if response is not None:
        schema = {"type": "string"} if operation.content_type == "text/plain" else _ref(refs[response])
        answer["content"] = {operation.content_type: {"schema": schema}}
        for media_type, when in operation.other_content.items():
            answer["content"][media_type] = {"schema": {"type": "string", "description": when}}
    elif status == 204:
        answer["description"] = "Done; no body"
    return answer


def _problem_answer(status: int, codes: set[str]) -> dict[str, Any]:
    from http import HTTPStatus

    listed = sorted(codes)
    return {"description": f"{HTTPStatus(status).phrase}: code " + ", ".join(listed),
            "headers": {"X-Content-Type-Options": {"required": True, "schema": {"const": "nosniff"}}},
            "content": {PROBLEM_JSON: {"schema": {"allOf": [_ref("Problem"), {
                "type": "object", "properties": {"code": {"enum": listed}, "status": {"const": status}}}]}}}}


def _operation_id(func: Any, route: lambdas.Route, taken: set[str]) -> str:
    parts = func.__name__.split("_")
    candidate = parts[0] + "".join(p.title() for p in parts[1:])
    if candidate in taken:
        candidate = route.function.replace("_", "-") + "." + candidate
    taken.add(candidate)
    return candidate


def _summary(func: Any, operation: Any) -> str:
    if operation.summary:
        return operation.summary
    if func.__doc__:
        return func.__doc__.strip().splitlines()[0]
    return func.__name__.replace("_", " ").capitalize()


def build(server_url: str = DEV_SERVER_URL, routes: list[lambdas.Route] | None = None, *,
          skip_undocumented: bool = False) -> dict[str, Any]:
    """The document (raises :class:`Undocumented` naming each route without a declaration, unless
    ``skip_undocumented``: then they are left out)."""
    from odys import responses

    operations = declared_operations(routes)
    missing = undocumented(operations)
    if missing and not skip_undocumented:
        raise Undocumented("\n".join(missing))
    operations = [item for item in operations if item[2] is not None]

    collected = Schemas()
    collected.add(responses.Problem, "serialization")
    for _, _, operation in operations:
        for model in (operation.body, operation.query):
            if model is not None:
                collected.add(model, "validation")
        if operation.content_type != "text/plain":
            for name in (operation.response, *operation.also.values()):
                if name is not None:
                    collected.add(getattr(responses, name), "serialization")
    model_refs, schemas = collected.build()
    names = {name: model_refs[getattr(responses, name)] for _, _, op in operations
             for name in (op.response, *op.also.values()) if name and op.content_type != "text/plain"}
    schemas.setdefault("Problem", schemas.pop(model_refs[responses.Problem]))

    paths: dict[str, dict[str, Any]] = {}
    taken: set[str] = set()
    for route, func, operation in sorted(operations, key=lambda item: (item[0].path, item[0].method)):
        entry: dict[str, Any] = {
            "operationId": _operation_id(func, route, taken),
            "summary": _summary(func, operation),
            "tags": [route.path.split("/")[2]],
            "x-odys-auth": operation.auth,
            "x-odys-function": route.function,
            "responses": {str(operation.status): _success(operation, names)},
        }
        for status, response in sorted(operation.also.items()):
            entry["responses"][str(status)] = _success(operation, names, status, response)
        if operation.auth in ("user", "professional"):
            entry["security"] = [{"bearerAuth": []}]
        elif operation.auth == "pix":
            entry["security"] = [{PSP_CALLBACK_SCHEME[0]: []}, {}]  # mutual TLS where the domain requires it
        elif operation.auth in SIGNATURE_SCHEMES:
            entry["security"] = [{SIGNATURE_SCHEMES[operation.auth][0]: []}] if route.method == "POST" else []
        else:
            entry["security"] = []
        parameters = _parameters(route, operation, schemas, model_refs)
        if parameters:
            entry["parameters"] = parameters
        if operation.body is not None:
            entry["requestBody"] = {"required": True, "content": {"application/json": {
                "schema": _ref(model_refs[operation.body])}}}
        elif operation.raw_body:
            entry["requestBody"] = {"required": True, "description": "the provider's raw delivery, verified by its "
                                    "signature header", "content": {"application/json": {"schema": {"type": "object"}}}}
        for status, codes in sorted(_standard_problems(operation, route).items()):
            entry["responses"][str(status)] = _problem_answer(status, codes)
        paths.setdefault(route.path, {})[route.method.lower()] = entry

    security_schemes: dict[str, Any] = {"bearerAuth": {
        "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
        "description": "A Supabase access token (HS256 or the project's JWKS; aud \"authenticated\"). `make dev` "
                       "prints one for the demo professional."}}
    for name, header, description in SIGNATURE_SCHEMES.values():
        security_schemes[name] = {"type": "apiKey", "in": "header", "name": header, "description": description}
    security_schemes[PSP_CALLBACK_SCHEME[0]] = {"type": "mutualTLS", "description": PSP_CALLBACK_SCHEME[1]}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Odys API", "version": "1.0.0",
                 "description": "The API of Odys, every route of template.yaml. Errors are RFC 9457 problems "
                                "(application/problem+json) with a stable `code`, listed per answer."},
        "servers": [{"url": server_url}],
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": security_schemes},
    }


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def validate(document: dict[str, Any]) -> None:
    """openapi-spec-validator's verdict (raises on an invalid document, a broken $ref included)."""
    from openapi_spec_validator import validate as validate_spec

    validate_spec(json.loads(json.dumps(document)))


def main(argv: list[str]) -> int:
    skip = "--skip-undocumented" in argv
    try:
        document = build(skip_undocumented=skip)
    except Undocumented as error:
        print(f"make openapi: routes of template.yaml without documentation:\n{error}", file=sys.stderr)
        return 1
    if skip:
        for line in undocumented(declared_operations()):
            print(f"left out: {line}", file=sys.stderr)
    validate(document)
    text = render(document)
    if "--check" in argv:
        if not DOCUMENT_PATH.exists() or DOCUMENT_PATH.read_text() != text:
            print(f"{DOCUMENT_PATH.relative_to(ROOT)} is not what the code says: run `make openapi`", file=sys.stderr)
            return 1
        return 0
    DOCUMENT_PATH.parent.mkdir(exist_ok=True)
    DOCUMENT_PATH.write_text(text)
    print(f"wrote {DOCUMENT_PATH.relative_to(ROOT)}: {sum(len(v) for v in document['paths'].values())} operations, "
          f"{len(document['components']['schemas'])} schemas")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
