"""docs/openapi.json: every route of template.yaml is in it and nothing else, it is exactly what `make openapi` writes
and valid, each route's declared caller matches its middlewares, and real answers of every operation (a walk through
the API with real data, tests/api_walk.py) validate against it: status, body schema, problem codes, headers."""

from __future__ import annotations

import json

import jsonschema
import pytest

from api_walk import walk
from devtools import lambdas, openapi
from devtools.stripe_double import StripeDouble


@pytest.fixture(scope="module")
def document() -> dict:
    return json.loads(openapi.DOCUMENT_PATH.read_text())


def test_every_route_of_template_yaml_is_documented():
    missing = openapi.undocumented(openapi.declared_operations())
    assert not missing, ("routes without @doc(...) (declare one under the route, see odys/api_docs.py, then run "
                         "`make openapi`):\n" + "\n".join(missing))


def test_the_document_has_every_template_route_and_no_other(document):
    template = {(r.method, r.path) for r in lambdas.load_routes()}
    documented = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    assert not template - documented, "template.yaml routes missing from docs/openapi.json (run `make openapi`): " + \
        ", ".join(f"{m} {p}" for m, p in sorted(template - documented))
    assert not documented - template, "docs/openapi.json documents routes template.yaml does not have: " + \
        ", ".join(f"{m} {p}" for m, p in sorted(documented - template))


def test_the_committed_document_is_what_make_openapi_writes_and_it_is_valid():
    built = openapi.build(skip_undocumented=True)
    openapi.validate(built)
    assert openapi.render(built) == openapi.DOCUMENT_PATH.read_text(), \
        "docs/openapi.json drifted from the code: run `make openapi` and commit it"
    assert openapi.render(openapi.build(skip_undocumented=True)) == openapi.render(built)  # deterministic


def test_a_broken_reference_is_caught_by_the_validator():
    broken = openapi.build(skip_undocumented=True)
    broken["paths"]["/api/account"]["get"]["responses"]["200"]["content"]["application/json"]["schema"] = {
        "$ref": "#/components/schemas/NoSuchModel"}
    with pytest.raises(Exception, match="NoSuchModel"):
        openapi.validate(broken)


def test_the_declared_caller_matches_the_route_middlewares():
    from odys import auth

    wrong = []
    for route, func, operation in openapi.declared_operations():
        if operation is None:
            continue
        handler = next(r for r in lambdas.load_function(route.function).app._static_routes +
                       lambdas.load_function(route.function).app._dynamic_routes if r.func is func)
        names = [getattr(m, "__name__", "") for m in handler.middlewares]
        bearer = auth.require_user in handler.middlewares
        rate_limited = any(name.startswith("rate_limit_") for name in names)
        expected = {"public": (False, True), "user": (True, True), "professional": (True, True),
                    "stripe": (False, False), "meta": (False, False), "pix": (False, False)}[operation.auth]
        if (bearer, rate_limited) != expected:
            wrong.append(f"{route.method} {route.path}: @doc(auth={operation.auth!r}) but bearer={bearer}, "
                         f"rate limited={rate_limited}")
    assert not wrong, "\n".join(wrong)


def test_every_problem_code_and_status_is_listed(document):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for status, answer in operation["responses"].items():
                if int(status) >= 400:
                    schema = answer["content"]["application/problem+json"]["schema"]["allOf"][1]
                    assert schema["properties"]["code"]["enum"], (method, path, status)


# --- real answers against the document --------------------------------------------------------------------------

@pytest.fixture
def stripe_double(monkeypatch):
    prices = {"price_walk_basic": 2990, "price_walk_pro": 5990, "price_walk_premium": 9990}
    double = StripeDouble(api_key="sk_test_walk_0123456789", prices=prices).start()
    for key, value in {"STRIPE_SECRET_KEY": "sk_test_walk_0123456789", "STRIPE_API_BASE": double.url,
                       "STRIPE_PRICE_BASIC": "price_walk_basic", "STRIPE_PRICE_PRO": "price_walk_pro",
                       "STRIPE_PRICE_PREMIUM": "price_walk_premium", "APP_BASE_URL": "https://app.test"}.items():
        monkeypatch.setenv(key, value)
    yield double
    double.stop()


@pytest.fixture
def psp_connectable(psp, kms, monkeypatch):
    """The PSP stand-in and a KMS key, with the environment a payment connection to the stand-in needs."""
    from odys import pix_api, pix_connections

    for key, value in {**psp.environment(), "PIX_WEBHOOK_BASE_URL": "https://pix-hooks.odys.test"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("PIX_WEBHOOK_MTLS", raising=False)
    pix_api.reset_tokens()
    pix_connections.reset_cache()
    yield psp
    pix_connections.reset_cache()


def answer_errors(document: dict, method: str, path: str, status: int, headers: dict[str, str], body) -> list[str]:
    """What in one answer contradicts the document (empty when it conforms)."""
    operation = document["paths"][path][method.lower()]
    documented = operation["responses"].get(str(status))
    if documented is None:
        return [f"status {status} is not documented (documented: {', '.join(operation['responses'])})"]
    errors = []
    for name, header in documented.get("headers", {}).items():
        if header.get("required") and name.lower() not in headers:
            errors.append(f"header {name} missing")
    content = documented.get("content")
    if not content:
        return errors + ([f"a body where none is documented: {body!r}"[:200]] if body else [])
    media_type = headers.get("content-type", "").split(";")[0]
    if media_type not in content:
        return errors + [f"Content-Type {headers.get('content-type')!r}, documented {', '.join(content)}"]
    schema = {**content[media_type]["schema"], "components": document["components"]}
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    for error in validator.iter_errors(body):
        errors.append(f"{'/'.join(map(str, error.absolute_path)) or 'body'}: {error.message}"[:300])
    return errors


def test_real_answers_of_every_operation_validate_against_the_document(api, token_for, monkeypatch, stripe_double,
                                                                        groq_double, s3, psp_connectable,
                                                                        document):
    contradictions, succeeded = [], set()
    for step in walk(api, token_for, monkeypatch, stripe_double, groq_double, psp_connectable):
        for error in answer_errors(document, step.method, step.path, step.status, step.headers, step.body):
            contradictions.append(f"{step.method} {step.path} -> {step.status}: {error}")
        if step.status < 300:
            succeeded.add((step.method, step.path))
    assert not contradictions, "\n".join(contradictions)
    documented = {(m.upper(), p) for p, item in document["paths"].items() for m in item}
    assert not documented - succeeded, "operations the walk (tests/api_walk.py) never saw succeed; add a step: " + \
        ", ".join(f"{m} {p}" for m, p in sorted(documented - succeeded))


def test_a_contradicting_answer_is_reported(document):
    answer = {"id": "not-a-uuid", "name": "Bia"}
    errors = answer_errors(document, "GET", "/api/clients/{id}", 200, {"content-type": "application/json"}, answer)
    assert any("is a required property" in e for e in errors) and any("header" in e for e in errors), errors
    problem = {"type": "x", "title": "Conflict", "status": 409, "detail": "d", "code": "made_up"}
    errors = answer_errors(document, "POST", "/api/clients", 409,
                           {"content-type": "application/problem+json", "x-content-type-options": "nosniff"}, problem)
    assert any("made_up" in e for e in errors), errors
    assert answer_errors(document, "GET", "/api/account", 418, {}, None) == [
        "status 418 is not documented (documented: 200, 401, 404, 429, 503)"]
