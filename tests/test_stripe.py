"""/api/stripe/checkout, /api/stripe/portal, /api/stripe/webhook and cancel-on-delete, with the real stripe SDK
talking to the local Stripe double (devtools/stripe_double.py) and webhooks signed exactly as Stripe signs them."""

from __future__ import annotations

import ast
import datetime as dt
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from devtools.concurrency import concurrently
from conftest import onboarding_body
from devtools.stripe_double import (
    StripeDouble,
    checkout_session_completed,
    event,
    invoice_payment_failed,
    sign,
    signed_delivery,
    subscription_deleted,
    subscription_updated,
)

from odys import db

ROOT = Path(__file__).resolve().parent.parent
PROBLEM = "application/problem+json"
API_KEY = "sk_test_odys_tests_0123456789"
WEBHOOK_SECRET = "whsec_odys_tests_0123456789abcdef"
PRICES = {"price_test_basic": 2990, "price_test_pro": 5990, "price_test_premium": 9990}
APP = "https://app.test.odys.com.br"


@pytest.fixture(scope="module")
def stripe_double():
    double = StripeDouble(api_key=API_KEY, prices=PRICES).start()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("STRIPE_SECRET_KEY", API_KEY)
        env.setenv("STRIPE_API_BASE", double.url)
        env.setenv("STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET)
        env.setenv("STRIPE_PRICE_BASIC", "price_test_basic")
        env.setenv("STRIPE_PRICE_PRO", "price_test_pro")
        env.setenv("STRIPE_PRICE_PREMIUM", "price_test_premium")
        env.setenv("APP_BASE_URL", APP)
        yield double
    double.stop()


@pytest.fixture(autouse=True)
def double(stripe_double):
    stripe_double.reset()
    return stripe_double


def assert_problem(result, status: int, code: str) -> dict:
    assert result.status == status, result.body
    assert result.content_type == PROBLEM
    assert result.json["code"] == code
    return result.json


def onboard(api, token_for, slug: str = "ana-psi") -> tuple[str, dict]:
    token = token_for()
    result = api.post("/api/account", token=token, json_body=onboarding_body(slug))
    assert result.status == 201, result.body
    return token, result.json


def state(professional_id: str) -> dict:
    return db.one("SELECT plan, stripe_customer_id, stripe_subscription_id, stripe_state_at FROM professionals "
                  "WHERE id = :id", id=professional_id)


def deliver(api, evt: dict, *, secret: str = WEBHOOK_SECRET, timestamp: int | None = None,
            tamper=None, binary: bool = False):
    body, headers = signed_delivery(evt, secret, timestamp)
    if tamper:
        body = tamper(body)
    return api.post("/api/stripe/webhook", body=body.encode() if binary else body, headers=headers)


def subscribe(api, double, token: str, plan: str = "pro") -> tuple[dict, dict]:
    """Checkout for ``plan`` and pay it at the double: (session, subscription) as Stripe would send them."""
    result = api.post("/api/stripe/checkout", token=token, json_body={"plan": plan})
    assert result.status == 200, result.body
    return double.complete_checkout(result.json["sessionId"])


def open_session(professional_id: str) -> str | None:
    return db.scalar("SELECT stripe_checkout_session_id FROM professionals WHERE id = :id", id=professional_id)


def created_sessions(double) -> list:
    """The ``POST /v1/checkout/sessions`` requests (not the ``.../{id}/expire`` ones)."""
    return [r for r in double.calls("POST", "/v1/checkout/sessions") if r.path == "/v1/checkout/sessions"]


def notifications(professional_id: str) -> list[str]:
    return [r["kind"] for r in db.all("SELECT kind FROM notifications WHERE recipient_id = :id ORDER BY created_at",
                                      id=professional_id)]


# --- packaging ----------------------------------------------------------------------------------------------------


def test_layer_modules_and_account_function_do_not_import_stripe():
    code = ("import runpy, sys; import odys.account, odys.billing, odys.billing_events, odys.appointment_pix, "
            "odys.http; runpy.run_path('functions/account/app.py'); print('stripe' in sys.modules)")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "layers" / "shared")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, check=True)
    assert out.stdout.strip() == "False", out.stderr


def test_stripe_is_a_dependency_of_the_stripe_and_account_functions_only():
    assert "stripe" not in (ROOT / "layers/shared/requirements.txt").read_text().split("#")[0]
    for name in ("stripe_checkout", "stripe_portal", "stripe_webhook", "account"):
        assert "stripe>=16,<17" in (ROOT / "functions" / name / "requirements.txt").read_text()


def layer_imports() -> dict[str, set[str]]:
    """Every ``odys`` module of the layer and the ``odys`` modules it imports anywhere (lazy imports included)."""
    root = ROOT / "layers" / "shared"
    names = {".".join(p.relative_to(root).with_suffix("").parts).removesuffix(".__init__"): p
             for p in (root / "odys").rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in names.items():
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found |= {f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in names else node.module
                          for alias in node.names}
        graph[name] = {dep for dep in found if dep in names and dep != name}
    return graph


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for dep in graph[todo.pop()] - seen:
            seen.add(dep)
            todo.append(dep)
    return seen


def test_billing_never_imports_account_so_there_is_no_import_cycle():
    graph = layer_imports()
    assert "odys.billing" in graph["odys.account"]  # deletion stops billing: the one direction
    for module in ("odys.billing", "odys.billing_events", "odys.store.billing"):
        assert "odys.account" not in reachable(graph, module), module


# --- checkout -----------------------------------------------------------------------------------------------------


def test_checkout_creates_customer_and_subscription_session(api, token_for, double):
    token, pro = onboard(api, token_for)
    result = api.post("/api/stripe/checkout", token=token, json_body={"plan": "premium"})
    assert result.status == 200, result.body
    assert result.json["url"].startswith(double.url + "/c/pay/cs_test_")
    assert result.json["sessionId"] in result.json["url"]

    customer = double.last("POST", "/v1/customers")
    assert customer.form["metadata"] == {"professionalId": pro["id"]}
    assert customer.form["email"] == "ana-psi@example.com"
    assert customer.idempotency_key.startswith(f"odys-customer-{pro['id']}-")
    stored = state(pro["id"])["stripe_customer_id"]
    assert stored in double.customers

    form = double.last("POST", "/v1/checkout/sessions").form
    assert form["mode"] == "subscription" and form["customer"] == stored
    assert form["payment_method_types"] == ["card"]
    assert form["line_items"] == [{"price": "price_test_premium", "quantity": "1"}]
    assert form["metadata"] == {"professionalId": pro["id"], "plan": "premium"}
    assert form["subscription_data"] == {"metadata": {"professionalId": pro["id"], "plan": "premium"}}  # no trial_end
    assert form["client_reference_id"] == pro["id"]
    assert form["success_url"] == APP + "/dashboard/billing?checkout=success&session_id={CHECKOUT_SESSION_ID}"
    assert form["cancel_url"] == APP + "/dashboard/billing?checkout=cancelled"
    assert double.last("POST", "/v1/checkout/sessions").headers["authorization"] == f"Bearer {API_KEY}"


def test_customer_is_created_once_across_checkouts(api, token_for, double):
    token, pro = onboard(api, token_for)
    first = api.post("/api/stripe/checkout", token=token, json_body={"plan": "basic"})
    second = api.post("/api/stripe/checkout", token=token, json_body={"plan": "premium"})
    assert first.status == second.status == 200
    assert len(double.calls("POST", "/v1/customers")) == 1 and len(double.customers) == 1
    sessions = created_sessions(double)
    assert len(sessions) == 2 and sessions[0].form["customer"] == sessions[1].form["customer"]
    assert state(pro["id"])["stripe_customer_id"] == sessions[0].form["customer"]


def test_concurrent_first_checkouts_share_one_customer(api, token_for, double):
    token, pro = onboard(api, token_for)
    results = concurrently([lambda: api.post("/api/stripe/checkout", token=token, json_body={"plan": "pro"})] * 3)
    assert [r.status for r in results] == [200, 200, 200], results
    assert len(double.customers) == 1
    customer_id = next(iter(double.customers))
    assert {r.form["customer"] for r in created_sessions(double)} == {customer_id}
    assert state(pro["id"])["stripe_customer_id"] == customer_id
    # each checkout expired the session it displaced: only the stored one can still be paid
    open_sessions = [sid for sid, cs in double.checkout_sessions.items() if cs["status"] == "open"]
    assert open_sessions == [open_session(pro["id"])]


def test_checkout_during_trial_defers_billing_to_trial_end(api, token_for, double):
    token, pro = onboard(api, token_for)
    assert api.post("/api/stripe/checkout", token=token, json_body={"plan": "pro"}).status == 200
    trial_ends_at = db.scalar("SELECT trial_ends_at FROM professionals WHERE id = :id", id=pro["id"])
    sent = double.last("POST", "/v1/checkout/sessions").form["subscription_data"]
    assert sent["trial_end"] == str(int(trial_ends_at.timestamp()))
    assert sent["metadata"] == {"professionalId": pro["id"], "plan": "pro"}

    # less than Stripe's 48 h minimum left: billing starts at once
    db.run("UPDATE professionals SET trial_ends_at = now() + interval '30 hours' WHERE id = :id", id=pro["id"])
    assert api.post("/api/stripe/checkout", token=token, json_body={"plan": "pro"}).status == 200
    assert "trial_end" not in double.last("POST", "/v1/checkout/sessions").form["subscription_data"]

    # trial over: nothing to defer
    db.run("UPDATE professionals SET trial_ends_at = now() - interval '1 day' WHERE id = :id", id=pro["id"])
    assert api.post("/api/stripe/checkout", token=token, json_body={"plan": "pro"}).status == 200
    assert "trial_end" not in double.last("POST", "/v1/checkout/sessions").form["subscription_data"]


@pytest.mark.parametrize("body", [{"plan": "free"}, {"plan": "gold"}, {}, {"plan": "pro", "coupon": "x"}])
def test_checkout_for_free_or_unknown_plan_is_422(api, token_for, double, body):
    token, _ = onboard(api, token_for)
    problem = assert_problem(api.post("/api/stripe/checkout", token=token, json_body=body), 422, "validation_error")
    assert problem["errors"]
    assert double.requests == []


def test_checkout_needs_token_and_onboarding(api, token_for, double):
    assert_problem(api.post("/api/stripe/checkout", json_body={"plan": "pro"}), 401, "missing_token")
    assert_problem(api.post("/api/stripe/checkout", token=token_for(), json_body={"plan": "pro"}), 404,
                   "onboarding_required")
    assert double.requests == []


def test_checkout_without_price_configured_is_503_and_creates_nothing(api, token_for, double, monkeypatch):
    token, pro = onboard(api, token_for)
    monkeypatch.delenv("STRIPE_PRICE_PREMIUM")
    problem = assert_problem(api.post("/api/stripe/checkout", token=token, json_body={"plan": "premium"}), 503,
                             "billing_not_configured")
    assert "STRIPE_PRICE_PREMIUM" in problem["detail"]
    assert double.requests == [] and state(pro["id"])["stripe_customer_id"] is None


def test_stripe_error_is_502_without_stripes_message(api, token_for, double):
    token, _ = onboard(api, token_for)
    double.fail_next("POST", "/v1/checkout/sessions", status=400, error_type="invalid_request_error",
                     message="No such customer: 'cus_SECRET123' (ana-psi@example.com)", code="resource_missing")
    result = api.post("/api/stripe/checkout", token=token, json_body={"plan": "pro"})
    assert_problem(result, 502, "stripe_error")
    assert "cus_" not in result.body and "example.com" not in result.body and API_KEY not in result.body


def test_checkout_with_active_subscription_is_409(api, token_for, double):
    token, pro = onboard(api, token_for)
    session, _ = subscribe(api, double, token)
    assert deliver(api, checkout_session_completed(session)).status == 200
    assert_problem(api.post("/api/stripe/checkout", token=token, json_body={"plan": "premium"}), 409,
                   "subscription_exists")


def test_new_checkout_expires_the_previous_session_so_only_one_can_be_paid(api, token_for, double):
    token, pro = onboard(api, token_for)
    first = api.post("/api/stripe/checkout", token=token, json_body={"plan": "basic"}).json["sessionId"]
    assert open_session(pro["id"]) == first
    second = api.post("/api/stripe/checkout", token=token, json_body={"plan": "premium"})
    assert second.status == 200, second.body
    assert double.checkout_sessions[first]["status"] == "expired"
    assert double.checkout_sessions[second.json["sessionId"]]["status"] == "open"
    assert open_session(pro["id"]) == second.json["sessionId"]
    expire = [r.path for r in double.calls("POST", "/v1/checkout/sessions") if r.path.endswith("/expire")]
    assert expire == [f"/v1/checkout/sessions/{first}/expire"]
    with pytest.raises(ValueError, match="expired"):
        double.complete_checkout(first)  # what Stripe's page does with an expired session: no payment

    # an earlier session that expired by itself (or was expired already) does not stand in the way
    double.expire_checkout(second.json["sessionId"])
    assert api.post("/api/stripe/checkout", token=token, json_body={"plan": "pro"}).status == 200


def test_checkout_while_the_previous_session_was_just_paid_is_409(api, token_for, double):
    token, pro = onboard(api, token_for)
    session_id = api.post("/api/stripe/checkout", token=token, json_body={"plan": "pro"}).json["sessionId"]
    session, subscription = double.complete_checkout(session_id)  # paid; the webhook has not arrived yet
    assert_problem(api.post("/api/stripe/checkout", token=token, json_body={"plan": "premium"}), 409,
                   "subscription_exists")
    assert len(created_sessions(double)) == 1  # no second session to pay
    assert deliver(api, checkout_session_completed(session)).json["outcome"] == "applied"
    row = state(pro["id"])
    assert row["stripe_subscription_id"] == subscription["id"] and open_session(pro["id"]) is None


def test_checkout_after_a_paid_session_whose_subscription_ended_is_allowed(api, token_for, double):
    token, pro = onboard(api, token_for)
    session_id = api.post("/api/stripe/checkout", token=token, json_body={"plan": "pro"}).json["sessionId"]
    _, subscription = double.complete_checkout(session_id)
    double.cancel(subscription["id"])  # paid, then cancelled before any webhook was processed
    again = api.post("/api/stripe/checkout", token=token, json_body={"plan": "basic"})
    assert again.status == 200, again.body
    assert open_session(pro["id"]) == again.json["sessionId"]


def test_checkout_is_502_and_opens_nothing_when_the_previous_session_cannot_be_expired(api, token_for, double):
    token, pro = onboard(api, token_for)
    first = api.post("/api/stripe/checkout", token=token, json_body={"plan": "pro"}).json["sessionId"]
    double.fail_next("POST", f"/v1/checkout/sessions/{first}/expire", status=500)
    assert_problem(api.post("/api/stripe/checkout", token=token, json_body={"plan": "pro"}), 502, "stripe_error")
    assert len(created_sessions(double)) == 1 and open_session(pro["id"]) == first


def test_rate_limit_billing_applies_to_checkout(api, token_for, double):
    token, _ = onboard(api, token_for)
    statuses = [api.post("/api/stripe/checkout", token=token, json_body={"plan": "gold"}).status for _ in range(11)]
    assert statuses == [422] * 10 + [429]


# --- portal -------------------------------------------------------------------------------------------------------


def test_portal_without_customer_is_409(api, token_for, double):
    token, _ = onboard(api, token_for)
    assert_problem(api.post("/api/stripe/portal", token=token), 409, "no_billing_customer")
    assert double.requests == []


def test_portal_for_stored_customer(api, token_for, double):
    token, pro = onboard(api, token_for)
    assert api.post("/api/stripe/checkout", token=token, json_body={"plan": "basic"}).status == 200
    result = api.post("/api/stripe/portal", token=token)
    assert result.status == 200, result.body
    assert result.json["url"].startswith(double.url + "/p/session/bps_")
    form = double.last("POST", "/v1/billing_portal/sessions").form
    assert form["customer"] == state(pro["id"])["stripe_customer_id"]
    assert form["return_url"] == APP + "/dashboard/billing"
    assert_problem(api.post("/api/stripe/portal"), 401, "missing_token")


# --- webhook ------------------------------------------------------------------------------------------------------


def test_signed_checkout_completed_moves_professional_to_paid_plan_once(api, token_for, double, capsys):
    token, pro = onboard(api, token_for)
    session, subscription = subscribe(api, double, token, "pro")
    evt = checkout_session_completed(session)
    capsys.readouterr()

    result = deliver(api, evt)
    assert result.status == 200 and result.json["received"] is True and "duplicate" not in result.json
    row = state(pro["id"])
    assert row["plan"] == "pro" and row["stripe_subscription_id"] == subscription["id"]
    assert row["stripe_customer_id"] == session["customer"]
    assert row["stripe_state_at"] == dt.datetime.fromtimestamp(evt["created"], dt.timezone.utc)
    assert notifications(pro["id"]) == ["billing_subscription_activated"]
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    started = [m for m in emf if "subscription_started" in m]
    assert len(started) == 1 and started[0]["plan"] == "pro"
    assert started[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Odys"
    assert api.get("/api/account", token=token).json["hasSubscription"] is True

    again = deliver(api, evt)  # Stripe redelivers: same event id, fresh signature
    assert again.status == 200 and again.json["duplicate"] is True
    assert state(pro["id"]) == row
    assert notifications(pro["id"]) == ["billing_subscription_activated"]
    assert db.scalar("SELECT count(*) FROM stripe_events") == 1
    assert "subscription_started" not in capsys.readouterr().out


def test_base64_encoded_delivery_is_verified_on_the_raw_bytes(api, token_for, double):
    token, pro = onboard(api, token_for)
    session, _ = subscribe(api, double, token, "basic")
    assert deliver(api, checkout_session_completed(session), binary=True).status == 200
    assert state(pro["id"])["plan"] == "basic"


def test_tampered_stale_unsigned_or_foreign_deliveries_are_400_and_change_nothing(api, token_for, double, caplog):
    token, pro = onboard(api, token_for)
    session, _ = subscribe(api, double, token, "basic")
    evt = checkout_session_completed(session)
    caplog.clear()
    attempts = [
        deliver(api, evt, tamper=lambda body: body.replace('"plan": "basic"', '"plan": "premium"')),
        deliver(api, evt, timestamp=int(time.time()) - 301),
        deliver(api, evt, timestamp=int(time.time()) + 301),  # a signature from the future is no fresher
        deliver(api, evt, secret="whsec_someone_else"),
        api.post("/api/stripe/webhook", body=json.dumps(evt), headers={"content-type": "application/json"}),
        api.post("/api/stripe/webhook", body=json.dumps(evt), headers={"stripe-signature": "t=1,v1=00"}),
    ]
    for result in attempts:
        assert_problem(result, 400, "invalid_signature")
    assert db.scalar("SELECT count(*) FROM stripe_events") == 0
    assert state(pro["id"])["plan"] == "free" and state(pro["id"])["stripe_subscription_id"] is None
    logged = " ".join(str(vars(record)) for record in caplog.records)
    assert WEBHOOK_SECRET not in logged and "v1=" not in logged
    reasons = [getattr(record, "reason", None) for record in caplog.records]
    assert reasons == ["signature_mismatch", "timestamp_outside_tolerance", "timestamp_outside_tolerance",
                       "signature_mismatch", "missing_signature", "signature_mismatch"]
    # within the tolerance either way, the same event is accepted
    assert deliver(api, evt, timestamp=int(time.time()) + 200).json["outcome"] == "applied"


def _malformed(evt: dict, change) -> dict:
    evt = json.loads(json.dumps(evt))
    change(evt)
    return evt


def _set(path: str, value):
    def change(evt: dict) -> None:
        *parents, last = path.split(".")
        node = evt
        for key in parents:
            node = node[key]
        if value is KeyError:
            del node[last]
        else:
            node[last] = value
    return change


MALFORMED = {
    "no data": _set("data", KeyError),
    "data null": _set("data", None),
    "data.object missing": _set("data.object", KeyError),
    "data.object a string": _set("data.object", "cs_test_123"),
    "data.object a list": _set("data.object", [1, 2]),
    "metadata a string": _set("data.object.metadata", "pro"),
    "metadata value a number": _set("data.object.metadata.plan", 5),
    "metadata key with an e-mail": _set("data.object.metadata", {"ana-psi@example.com": 1}),
    "subscription a number": _set("data.object.subscription", 123),
    "customer a list": _set("data.object.customer", ["cus_1"]),
    "customer with a NUL": _set("data.object.customer", "cus_\u0000x"),
    "mode an object": _set("data.object.mode", {}),
    "created 1e20": _set("created", 1e20),
    "created 10**20": _set("created", 10**20),
    "created negative": _set("created", -1),
    "created zero": _set("created", 0),
    "created a string": _set("created", "1767225600"),
    "created true": _set("created", True),
    "created in an hour": _set("created", int(time.time()) + 3600),
    "id a number": _set("id", 5),
    "id not a Stripe id": _set("id", "evt 1; DROP TABLE"),
    "type missing": _set("type", KeyError),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_signed_but_malformed_event_is_acknowledged_as_ignored_and_writes_nothing(api, token_for, double,
                                                                                  caplog, case):
    token, pro = onboard(api, token_for)
    session, _ = subscribe(api, double, token, "pro")
    evt = _malformed(checkout_session_completed(session), MALFORMED[case])
    caplog.clear()
    result = deliver(api, evt)
    assert result.status == 200, result.body
    assert result.json == {"received": True, "ignored": True, "outcome": "malformed"}
    assert db.scalar("SELECT count(*) FROM stripe_events") == 0
    row = state(pro["id"])
    assert row["plan"] == "free" and row["stripe_subscription_id"] is None and row["stripe_state_at"] is None
    assert notifications(pro["id"]) == []
    problems = [r for r in caplog.records if r.getMessage() == "malformed stripe event ignored"]
    assert len(problems) == 1 and problems[0].problems
    logged = " ".join(str(vars(record)) for record in caplog.records)
    assert "example.com" not in logged and "DROP" not in logged


@pytest.mark.parametrize("body", ["not json", "[1, 2]", "null", "{}", '{"id": "evt_1"}', "[" * 100_000])
def test_signed_body_that_is_not_an_event_is_acknowledged(api, body):
    result = api.post("/api/stripe/webhook", body=body,
                      headers={"content-type": "application/json", "stripe-signature": sign(body, WEBHOOK_SECRET)})
    assert result.status == 200 and result.json["outcome"] == "malformed", result.body
    assert db.scalar("SELECT count(*) FROM stripe_events") == 0


@pytest.mark.parametrize("kind,change", [
    ("customer.subscription.updated", _set("data.object.items", "si_1")),
    ("customer.subscription.updated", _set("data.object.items.data", [5])),
    ("customer.subscription.updated", _set("data.object.status", ["active"])),
    ("customer.subscription.deleted", _set("data.object.id", None)),
    ("customer.subscription.deleted", _set("data.object.metadata", [])),
    ("invoice.payment_failed", _set("data.object.parent", "sub_x")),
    ("invoice.payment_failed", _set("data.object.parent.subscription_details.metadata", "x")),
])
def test_malformed_subscription_and_invoice_events_are_acknowledged(api, token_for, double, kind, change):
    token, pro = onboard(api, token_for)
    session, subscription = subscribe(api, double, token, "pro")
    assert deliver(api, checkout_session_completed(session)).status == 200
    before = state(pro["id"])
    build = {"customer.subscription.updated": subscription_updated,
             "customer.subscription.deleted": subscription_deleted, "invoice.payment_failed": invoice_payment_failed}
    result = deliver(api, _malformed(build[kind](subscription), change))
    assert result.status == 200 and result.json["outcome"] == "malformed", result.body
    assert state(pro["id"]) == before and db.scalar("SELECT count(*) FROM stripe_events") == 1


def test_subscription_updated_changes_plan_and_older_updates_are_ignored(api, token_for, double):
    token, pro = onboard(api, token_for)
    session, subscription = subscribe(api, double, token, "pro")
    t0 = int(time.time()) - 1000
    assert deliver(api, checkout_session_completed(session, created=t0)).status == 200

    premium = json.loads(json.dumps(subscription))
    premium["items"]["data"][0]["price"]["id"] = "price_test_premium"
    premium["status"] = "active"
    result = deliver(api, subscription_updated(premium, {"items": subscription["items"]}, created=t0 + 100))
    assert result.status == 200 and state(pro["id"])["plan"] == "premium"
    assert "billing_plan_changed" in notifications(pro["id"])

    basic = json.loads(json.dumps(subscription))
    basic["items"]["data"][0]["price"]["id"] = "price_test_basic"
    late = deliver(api, subscription_updated(basic, created=t0 + 50))  # created before the premium change
    assert late.status == 200 and late.json["outcome"] == "stale"
    row = state(pro["id"])
    assert row["plan"] == "premium"
    assert row["stripe_state_at"] == dt.datetime.fromtimestamp(t0 + 100, dt.timezone.utc)

    unknown_price = json.loads(json.dumps(subscription))
    unknown_price["items"]["data"][0]["price"]["id"] = "price_not_ours"
    assert deliver(api, subscription_updated(unknown_price, created=t0 + 200)).json["outcome"] == "unknown_price"
    assert state(pro["id"])["plan"] == "premium"

    canceled = json.loads(json.dumps(subscription))
    canceled["status"] = "canceled"
    assert deliver(api, subscription_updated(canceled, created=t0 + 300)).status == 200
    row = state(pro["id"])
    assert row["plan"] == "free" and row["stripe_subscription_id"] is None


def test_subscription_updated_unpaid_suspends_but_keeps_subscription(api, token_for, double):
    token, pro = onboard(api, token_for)
    session, subscription = subscribe(api, double, token, "basic")
    t0 = int(time.time()) - 500
    deliver(api, checkout_session_completed(session, created=t0))
    unpaid = dict(subscription, status="unpaid")
    assert deliver(api, subscription_updated(unpaid, created=t0 + 10)).status == 200
    row = state(pro["id"])
    assert row["plan"] == "free" and row["stripe_subscription_id"] == subscription["id"]
    assert notifications(pro["id"])[-1] == "billing_subscription_suspended"
    active = dict(subscription, status="active")
    assert deliver(api, subscription_updated(active, created=t0 + 20)).status == 200
    assert state(pro["id"])["plan"] == "basic"


def test_subscription_deleted_returns_to_free(api, token_for, double):
    token, pro = onboard(api, token_for)
    session, subscription = subscribe(api, double, token, "premium")
    t0 = int(time.time()) - 100
    deliver(api, checkout_session_completed(session, created=t0))
    assert state(pro["id"])["plan"] == "premium"
    result = deliver(api, subscription_deleted(subscription, created=t0 + 10))
    assert result.status == 200 and result.json["outcome"] == "applied"
    row = state(pro["id"])
    assert row["plan"] == "free" and row["stripe_subscription_id"] is None
    assert row["stripe_customer_id"] == session["customer"]  # kept for a later checkout and the portal
    assert notifications(pro["id"])[-1] == "billing_subscription_cancelled"
    # a late "active" update of the deleted subscription does not bring the plan back, not even in the same second
    for created in (t0 + 5, t0 + 10):
        late = deliver(api, subscription_updated(dict(subscription, status="active"), created=created))
        assert late.json["outcome"] == "stale"
    assert state(pro["id"])["plan"] == "free"


def test_checkout_completed_arriving_after_deletion_does_not_resurrect(api, token_for, double):
    token, pro = onboard(api, token_for)
    session, subscription = subscribe(api, double, token, "pro")
    t0 = int(time.time()) - 100
    assert deliver(api, subscription_deleted(subscription, created=t0 + 60)).status == 200
    late = deliver(api, checkout_session_completed(session, created=t0))
    assert late.status == 200 and late.json["outcome"] == "stale"
    assert state(pro["id"])["plan"] == "free" and state(pro["id"])["stripe_subscription_id"] is None


def test_update_arriving_before_checkout_completed(api, token_for, double):
    token, pro = onboard(api, token_for)
    session, subscription = subscribe(api, double, token, "pro")
    t0 = int(time.time()) - 100
    assert deliver(api, subscription_updated(subscription, created=t0 + 5)).status == 200
    assert state(pro["id"])["plan"] == "pro"
    late = deliver(api, checkout_session_completed(session, created=t0))
    assert late.status == 200 and late.json["outcome"] == "applied"  # the subscription did start: notice + metric
    assert state(pro["id"])["stripe_subscription_id"] == subscription["id"]
    assert notifications(pro["id"]) == ["billing_subscription_activated"]


def two_paid_sessions(api, double, token: str, professional_id: str):
    """Two Checkout sessions both paid (the first one opened before sessions were remembered, so the second did
    not expire it): [(session, subscription), (session, subscription)] in the order they were paid."""
    first = api.post("/api/stripe/checkout", token=token, json_body={"plan": "basic"}).json["sessionId"]
    db.run("UPDATE professionals SET stripe_checkout_session_id = NULL WHERE id = :id", id=professional_id)
    second = api.post("/api/stripe/checkout", token=token, json_body={"plan": "premium"}).json["sessionId"]
    return [double.complete_checkout(first), double.complete_checkout(second)]


@pytest.mark.parametrize("order", ["in_order", "out_of_order"])
def test_two_paid_sessions_leave_one_subscription_whatever_the_delivery_order(api, token_for, double, order):
    token, pro = onboard(api, token_for)
    (s1, sub1), (s2, sub2) = two_paid_sessions(api, double, token, pro["id"])
    t0 = int(time.time()) - 100
    events = [checkout_session_completed(s1, created=t0), checkout_session_completed(s2, created=t0 + 10)]
    if order == "out_of_order":
        events.reverse()
    outcomes = [deliver(api, evt).json["outcome"] for evt in events]
    assert outcomes == (["applied", "applied"] if order == "in_order" else ["applied", "stale"])
    row = state(pro["id"])
    assert row["stripe_subscription_id"] == sub2["id"] and row["plan"] == "premium"  # the later payment wins
    assert double.subscriptions[sub1["id"]]["status"] == "canceled"
    assert double.subscriptions[sub2["id"]]["status"] != "canceled"
    cancels = double.calls("DELETE", "/v1/subscriptions")
    assert [r.path for r in cancels] == [f"/v1/subscriptions/{sub1['id']}"]

    # redeliveries change nothing and cancel nothing more; the cancelled one's events are someone else's
    assert all(deliver(api, evt).json["duplicate"] for evt in events)
    gone = deliver(api, subscription_deleted(double.subscriptions[sub1["id"]]))
    assert gone.json["outcome"] == "other_subscription"
    assert len(double.calls("DELETE", "/v1/subscriptions")) == 1
    assert state(pro["id"])["stripe_subscription_id"] == sub2["id"]


def test_replaced_subscription_already_cancelled_at_stripe_is_fine(api, token_for, double):
    token, pro = onboard(api, token_for)
    (s1, sub1), (s2, sub2) = two_paid_sessions(api, double, token, pro["id"])
    t0 = int(time.time()) - 100
    assert deliver(api, checkout_session_completed(s1, created=t0)).status == 200
    double.cancel(sub1["id"])  # e.g. by hand in the dashboard
    result = deliver(api, checkout_session_completed(s2, created=t0 + 10))
    assert result.status == 200 and result.json["outcome"] == "applied"
    assert state(pro["id"])["stripe_subscription_id"] == sub2["id"]


def test_failing_cancel_of_the_replaced_subscription_is_retried_by_stripe(api, token_for, double):
    token, pro = onboard(api, token_for)
    (s1, sub1), (s2, sub2) = two_paid_sessions(api, double, token, pro["id"])
    t0 = int(time.time()) - 100
    assert deliver(api, checkout_session_completed(s1, created=t0)).status == 200
    second = checkout_session_completed(s2, created=t0 + 10)
    double.fail_next("DELETE", "/v1/subscriptions", status=500)
    assert_problem(deliver(api, second), 502, "stripe_error")  # not acknowledged: Stripe delivers it again
    assert state(pro["id"])["stripe_subscription_id"] == sub1["id"]
    assert db.scalar("SELECT count(*) FROM stripe_events WHERE id = :id", id=second["id"]) == 0
    assert deliver(api, second).json["outcome"] == "applied"
    assert double.subscriptions[sub1["id"]]["status"] == "canceled"
    assert state(pro["id"])["stripe_subscription_id"] == sub2["id"]


def test_invoice_payment_failed_notifies_professional(api, token_for, double):
    token, pro = onboard(api, token_for)
    session, subscription = subscribe(api, double, token, "pro")
    deliver(api, checkout_session_completed(session))
    evt = invoice_payment_failed(subscription)
    assert evt["data"]["object"]["parent"]["subscription_details"]["subscription"] == subscription["id"]
    assert deliver(api, evt).status == 200
    assert deliver(api, evt).json["duplicate"] is True
    assert notifications(pro["id"]).count("billing_payment_failed") == 1
    assert state(pro["id"])["plan"] == "pro"


def test_unknown_professional_and_unhandled_types_are_acknowledged(api, token_for, double):
    sub = double.add_subscription("cus_nobody", "price_test_pro")
    for evt in (subscription_updated(sub), subscription_deleted(sub), invoice_payment_failed(sub),
                event("customer.created", {"id": "cus_x", "object": "customer", "metadata": {}})):
        result = deliver(api, evt)
        assert result.status == 200 and result.json["ignored"] is True, result.body
    assert db.scalar("SELECT count(*) FROM stripe_events") == 4


def test_checkout_completed_without_metadata_uses_the_customer(api, token_for, double):
    token, pro = onboard(api, token_for)
    session, subscription = subscribe(api, double, token, "basic")
    session = dict(session, metadata={}, client_reference_id=None)
    assert deliver(api, checkout_session_completed(session)).status == 200
    row = state(pro["id"])
    assert row["stripe_subscription_id"] == subscription["id"] and row["plan"] == "free"  # plan comes with the update
    assert deliver(api, subscription_updated(subscription, created=int(time.time()) + 1)).status == 200
    assert state(pro["id"])["plan"] == "basic"


def test_webhook_without_secret_configured_is_503(api, monkeypatch):
    monkeypatch.delenv("STRIPE_WEBHOOK_SECRET")
    body = json.dumps({"id": "evt_1", "type": "x", "created": 1})
    result = api.post("/api/stripe/webhook", body=body, headers={"stripe-signature": sign(body, "whsec_x")})
    assert_problem(result, 503, "billing_not_configured")


# --- account deletion -----------------------------------------------------------------------------------------------


def test_account_deletion_cancels_subscription_before_deleting(api, token_for, double):
    token, pro = onboard(api, token_for)
    session, subscription = subscribe(api, double, token, "pro")
    deliver(api, checkout_session_completed(session))

    double.fail_next("DELETE", "/v1/subscriptions", status=500)
    assert_problem(api.delete("/api/account", token=token, json_body={"confirm": "ana-psi"}), 502, "stripe_error")
    assert state(pro["id"])["stripe_subscription_id"] == subscription["id"]  # nothing deleted
    assert double.subscriptions[subscription["id"]]["status"] == "trialing"

    assert api.delete("/api/account", token=token, json_body={"confirm": "ana-psi"}).status == 204
    cancel = double.last("DELETE", "/v1/subscriptions")
    assert cancel.path == f"/v1/subscriptions/{subscription['id']}" and cancel.status == 200
    assert double.subscriptions[subscription["id"]]["status"] == "canceled"
    assert db.scalar("SELECT count(*) FROM professionals WHERE id = :id", id=pro["id"]) == 0

    # Stripe then tells us the subscription ended: the professional is gone, the event is acknowledged
    result = deliver(api, subscription_deleted(double.subscriptions[subscription["id"]]))
    assert result.status == 200 and result.json["outcome"] == "unknown_professional"


@pytest.mark.parametrize("gone", ["missing", "canceled"])
def test_account_deletion_proceeds_when_subscription_is_already_gone(api, token_for, double, gone):
    token, pro = onboard(api, token_for)
    session, subscription = subscribe(api, double, token, "pro")
    deliver(api, checkout_session_completed(session))
    if gone == "missing":
        del double.subscriptions[subscription["id"]]
    else:
        double.cancel(subscription["id"])
    assert api.delete("/api/account", token=token, json_body={"confirm": "ana-psi"}).status == 204
    assert db.scalar("SELECT count(*) FROM professionals") == 0


def test_account_deletion_expires_the_open_checkout_session_first(api, token_for, double):
    token, pro = onboard(api, token_for)
    session_id = api.post("/api/stripe/checkout", token=token, json_body={"plan": "pro"}).json["sessionId"]
    double.fail_next("POST", f"/v1/checkout/sessions/{session_id}/expire", status=500)
    assert_problem(api.delete("/api/account", token=token, json_body={"confirm": "ana-psi"}), 502, "stripe_error")
    assert double.checkout_sessions[session_id]["status"] == "open"
    assert db.scalar("SELECT count(*) FROM professionals") == 1  # nothing deleted

    assert api.delete("/api/account", token=token, json_body={"confirm": "ana-psi"}).status == 204
    assert double.checkout_sessions[session_id]["status"] == "expired"
    assert db.scalar("SELECT count(*) FROM professionals") == 0
    with pytest.raises(ValueError):
        double.complete_checkout(session_id)  # a deleted account can no longer be billed through it


def test_account_deletion_cancels_the_subscription_of_a_session_paid_a_moment_ago(api, token_for, double):
    token, pro = onboard(api, token_for)
    session_id = api.post("/api/stripe/checkout", token=token, json_body={"plan": "pro"}).json["sessionId"]
    session, subscription = double.complete_checkout(session_id)  # its webhook has not been processed
    assert api.delete("/api/account", token=token, json_body={"confirm": "ana-psi"}).status == 204
    assert double.subscriptions[subscription["id"]]["status"] == "canceled"
    assert db.scalar("SELECT count(*) FROM professionals") == 0
    assert deliver(api, checkout_session_completed(session)).json["outcome"] == "unknown_professional"


def test_checkout_racing_an_account_deletion_leaves_no_payable_session(api, token_for, double):
    token, pro = onboard(api, token_for)
    first = api.post("/api/stripe/checkout", token=token, json_body={"plan": "pro"}).json["sessionId"]
    gate = double.hold_next("POST", f"/v1/checkout/sessions/{first}/expire")  # Stripe is slow for the deletion
    threading.Timer(3, gate.set).start()

    def second_tab():  # starts a checkout while the deletion waits for Stripe
        time.sleep(0.5)
        return api.post("/api/stripe/checkout", token=token, json_body={"plan": "premium"})

    deleted, checkout = concurrently([
        lambda: api.delete("/api/account", token=token, json_body={"confirm": "ana-psi"}), second_tab])
    assert deleted.status == 204, deleted
    assert checkout.status in (200, 404), checkout.body  # 404: it waited for the deletion, as it should
    assert db.scalar("SELECT count(*) FROM professionals") == 0
    assert len(double.checkout_sessions) == 2
    assert {cs["status"] for cs in double.checkout_sessions.values()} == {"expired"}  # nothing left to pay


def test_account_deletion_without_subscription_does_not_call_stripe(api, token_for, double):
    token, _ = onboard(api, token_for)
    assert api.delete("/api/account", token=token, json_body={"confirm": "ana-psi"}).status == 204
    assert double.requests == []


# --- the double itself ------------------------------------------------------------------------------------------------


def test_double_speaks_stripe_errors_and_checks_auth(double):
    import stripe

    client = stripe.StripeClient("sk_test_wrong", base_addresses={"api": double.url}, max_network_retries=0)
    with pytest.raises(stripe.AuthenticationError):
        client.v1.customers.create(params={"email": "x@example.com"})
    client = stripe.StripeClient(API_KEY, base_addresses={"api": double.url}, max_network_retries=0)
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.subscriptions.retrieve("sub_missing")
    assert missing.value.http_status == 404 and missing.value.code == "resource_missing"
    customer = client.v1.customers.create(params={"email": "x@example.com"})
    with pytest.raises(stripe.InvalidRequestError) as early:
        client.v1.checkout.sessions.create(params={
            "mode": "subscription", "customer": customer.id, "success_url": "https://x",
            "line_items": [{"price": "price_test_pro", "quantity": 1}],
            "subscription_data": {"trial_end": int(time.time()) + 3600}})
    assert early.value.http_status == 400 and early.value.error.param == "subscription_data[trial_end]"
    body, headers = signed_delivery(event("ping", {"id": "x"}), WEBHOOK_SECRET)
    assert stripe.Webhook.construct_event(body, headers["stripe-signature"], WEBHOOK_SECRET).type == "ping"
