"""The tenancy matrix: every route × method of template.yaml (a new route is covered, or fails here by name), each
sent by four callers: no token, a signed-in user who has not onboarded, professional B naming professional A's ids
(404, and a snapshot of A's rows proves nothing changed), and a client user (linked to one of A's clients) where a
professional is required. Who may call a route is its ``@doc(auth=...)`` (odys.api_docs).

A client route (``user``: any signed-in user) serves each caller as the client they are: B and the user who has not
onboarded, naming A's ids, get 404; their GET answers hold none of A's ids; A's rows do not change. Webhooks
(``stripe``, ``meta``, ``pix``) refuse a delivery without its signature or its URL token, and write nothing."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json

import pytest

from booking_helpers import book, configure, local_today, slots_on
from conftest import onboarding_body
from devtools import lambdas, openapi
from odys import db


@functools.cache
def _operations() -> dict[tuple[str, str], object]:
    return {(route.method, route.path): operation for route, _, operation in openapi.declared_operations()}


ROUTES = lambdas.load_routes()
FUTURE = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=5)).replace(microsecond=0).isoformat()
PIX_TOKEN = "tenancy0callback0token0of0professional0a"  # A's callback URL token (its sha256 is stored)
UNKNOWN_PIX_TOKEN = "tenancy0unknown0callback0token0abcdefgh"  # well-formed, names no connection


@pytest.fixture
def world(api, token_for):
    """Professional A with a client (linked to a client user), an appointment, a note, a series, a booking, a
    notification, a review (of a completed appointment, by the client user) and a PSP connection (whose callback URL
    carries PIX_TOKEN); professional B; a user who has not onboarded."""
    a, b, client_user, fresh = token_for(), token_for(), token_for(), token_for()
    assert api.post("/api/account", token=a, json_body=onboarding_body("ana-psi")).status == 201
    assert api.post("/api/account", token=b, json_body=onboarding_body("bruno-psi")).status == 201
    pix_key = {"pixKeyType": "email", "pixKey": "ana@example.com"}
    assert api.patch("/api/account", token=a, json_body=pix_key).status == 200
    configure(api, a)
    day = local_today() + dt.timedelta(days=3)
    offered = slots_on(api, day, day + dt.timedelta(days=1), ip="198.51.100.90")
    booked = book(api, offered[0]["startsAt"], ip="198.51.100.91")
    assert booked.status == 201, booked.body
    client = db.one("SELECT id::text, user_id FROM clients LIMIT 1")
    import jwt

    db.run("UPDATE clients SET user_id = :u WHERE id = :id", id=client["id"],
           u=jwt.decode(client_user, options={"verify_signature": False})["sub"])
    appointment = db.scalar("SELECT id::text FROM appointments")
    completed = db.scalar(
        "INSERT INTO appointments (professional_id, client_id, starts_at, ends_at, status, price) SELECT "
        "professional_id, id, now() - interval '3 days', now() - interval '3 days' + interval '50 minutes', "
        "'completed', 15000 FROM clients WHERE id = :c RETURNING id::text", c=client["id"])
    review = api.post("/api/reviews", token=client_user, json_body={"appointmentId": completed, "rating": 5})
    assert review.status == 201, review.body
    note = api.post(f"/api/clients/{client['id']}/notes", token=a, json_body={"body": "x"}).json["id"]
    schedule = api.post("/api/recurring-schedules", token=a, json_body={
        "clientId": client["id"], "dayOfWeek": 2, "startTime": "10:00",
        "startsOn": (local_today() + dt.timedelta(days=20)).isoformat()}).json["id"]
    ids = {"client": client["id"], "appointment": appointment, "note": note, "recurring schedule": schedule,
           "slug": "ana-psi", "notification": db.scalar("SELECT id::text FROM notifications LIMIT 1"),
           "completed appointment": completed, "review": review.json["review"]["id"]}
    a_id = db.scalar("SELECT id::text FROM professionals WHERE slug = 'ana-psi'")
    db.run("INSERT INTO pix_connections (professional_id, provider, pix_key, credentials, webhook_token_hash, status) "
           "VALUES (:p, 'efi', 'ana@example.com', :sealed, :hash, 'active')", p=a_id, sealed=b"sealed elsewhere",
           hash=hashlib.sha256(PIX_TOKEN.encode()).digest())
    return {"a": a, "b": b, "client_user": client_user, "fresh": fresh, "ids": ids, "a_id": a_id,
            "manage_token": booked.json["manageToken"]}


def snapshot(professional_id: str) -> str:
    """Every row of professional A (each table with a professional_id, and A's own row), as text."""
    tables = [r[0] for r in db.run(
        "SELECT table_name FROM information_schema.columns WHERE table_schema = 'public' "
        "AND column_name = 'professional_id' ORDER BY table_name")]
    rows = {t: db.all(f"SELECT * FROM {t} AS r WHERE professional_id = :p ORDER BY r::text", p=professional_id)
            for t in tables}
    rows["professionals"] = db.all("SELECT * FROM professionals WHERE id = :p", p=professional_id)
    return json.dumps(rows, default=str, sort_keys=True)


def _body(method: str, path: str, ids: dict[str, str]) -> dict | None:
    """A valid body naming A's ids where the route takes one (so only ownership can refuse it)."""
    bodies = {
        ("POST", "/api/account"): onboarding_body("carla-psi"),
        ("DELETE", "/api/account"): {"confirm": "ana-psi"},
        ("POST", "/api/appointments"): {"clientId": ids["client"], "startsAt": FUTURE},
        ("POST", "/api/recurring-schedules"): {"clientId": ids["client"], "dayOfWeek": 1, "startTime": "08:00",
                                               "startsOn": (local_today() + dt.timedelta(days=30)).isoformat()},
        ("POST", "/api/messages"): {"clientId": ids["client"], "body": "Oi"},
        ("PATCH", "/api/notifications"): {"ids": [ids["notification"]]},
        ("POST", "/api/clients"): {"name": "Bia", "phone": "+5511988887777"},
        ("POST", "/api/clients/{id}/notes"): {"body": "x"},
        ("PATCH", "/api/client-notes/{id}"): {"body": "y"},
        ("PUT", "/api/availability"): {"windows": []},
        ("POST", "/api/booking"): {"slug": "ana-psi", "startsAt": FUTURE,
                                   "client": {"name": "Z", "phone": "+5511911112222"}},
        ("PATCH", "/api/booking/{token}"): {"action": "cancel"},
        ("POST", "/api/stripe/checkout"): {"plan": "pro"},
        ("PATCH", "/api/message-templates/{key}"): {"enabled": False},
        ("PATCH", "/api/appointments/{id}"): {"notes": "changed"},
        ("PATCH", "/api/clients/{id}"): {"name": "Changed"},
        ("PATCH", "/api/recurring-schedules/{id}"): {"startTime": "07:00"},
        ("PATCH", "/api/account"): {"bio": "changed"},
        ("POST", "/api/ai/chat"): {"messages": [  # the assistant's tool, asked to change A's appointment
            {"role": "user", "content": f"marque a consulta {ids['appointment']} como concluída"}]},
        ("PATCH", "/api/client-profile"): {"name": "Changed", "email": "changed@example.com"},
        # following is public (A sees a count); B's caller follows B, so A's rows stay as they were
        ("POST", "/api/follows"): {"slug": "bruno-psi"},
        ("DELETE", "/api/follows"): {"slug": "bruno-psi"},
        ("POST", "/api/reviews"): {"appointmentId": ids["completed appointment"], "rating": 1},
        ("PATCH", "/api/reviews/{id}"): {"hidden": True},
        ("PUT", "/api/payment-connection"): {"provider": "efi", "clientId": "Client_Id_x", "clientSecret": "s",
                                             "certificate": "not a certificate"},
    }
    if (method, path) in bodies:
        return bodies[(method, path)]
    return {} if method in ("POST", "PUT", "PATCH", "DELETE") else None


def _query(method: str, path: str, ids: dict[str, str]) -> dict | None:
    return {("GET", "/api/messages"): {"clientId": ids["client"]},
            ("GET", "/api/appointments"): {"clientId": ids["client"]},
            ("GET", "/api/reviews"): {"slug": "ana-psi"},
            ("GET", "/api/professionals/{slug}/slots"): {"from": local_today().isoformat(),
                                                         "to": local_today().isoformat()}}.get((method, path))


def _path(route: lambdas.Route, operation, world) -> str:
    path = route.path
    for name in __import__("re").findall(r"\{(\w+)\}", route.path):
        kind = operation.path.get(name, "text")
        if name == "token" and operation.auth == "pix":
            value = PIX_TOKEN
        elif name == "token":
            value = world["manage_token"]
        elif name == "key":
            value = "msgReminder24h"
        elif kind in world["ids"]:
            value = world["ids"][kind]
        else:
            pytest.fail(f"{route.method} {route.path}: the tenancy matrix does not know what {{{name}}} "
                        f"(@doc path kind {kind!r}) names; add a row of professional A of that kind to "
                        f"tests/test_tenancy.py world()")
        path = path.replace("{" + name + "}", value)
    return path


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} {r.path}")
def test_tenancy_matrix(api, world, route, monkeypatch, groq_double):
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", "whsec_tenancy")
    monkeypatch.setenv("WHATSAPP_APP_SECRET", "tenancy-app-secret")
    monkeypatch.setenv("WHATSAPP_VERIFY_TOKEN", "tenancy-verify")
    monkeypatch.setenv("GROQ_API_KEY", groq_double.api_key)
    monkeypatch.setenv("GROQ_BASE_URL", groq_double.url)
    monkeypatch.setenv("PIX_WEBHOOK_MTLS", "required")  # as on the callback domain: A's URL token is not enough
    operation = _operations().get((route.method, route.path))
    assert operation is not None, (f"{route.method} {route.path} (functions/{route.function}/app.py) has no "
                                   f"@doc(auth=...): the tenancy matrix cannot tell who may call it")
    path = _path(route, operation, world)
    body, query = _body(route.method, route.path, world["ids"]), _query(route.method, route.path, world["ids"])

    def send(token):
        return api.request(route.method, path, token=token, json_body=body, query=query,
                           source_ip="203.0.113.77")

    before = snapshot(world["a_id"])
    anonymous = send(None)
    assert anonymous.status < 500, anonymous.body
    if operation.auth in ("user", "professional"):
        assert anonymous.status == 401 and anonymous.json["code"] in ("missing_token", "unauthorized"), anonymous.body
    elif operation.auth in ("stripe", "meta"):
        assert anonymous.status in (400, 401, 403), anonymous.body  # no signature: refused
    elif operation.auth == "pix":  # A's callback URL without the PSP's client certificate
        assert (anonymous.status, anonymous.json["code"]) == (403, "client_certificate_required"), anonymous.body
        monkeypatch.setenv("PIX_WEBHOOK_MTLS", "off")  # the URL token alone (Efí without mTLS): an unknown one
        unknown = api.request(route.method, path.replace(PIX_TOKEN, UNKNOWN_PIX_TOKEN), json_body=body)
        assert (unknown.status, unknown.json["code"]) == (404, "webhook_not_found"), unknown.body
    if operation.auth in ("stripe", "meta", "pix"):
        assert snapshot(world["a_id"]) == before, f"{route.method} {route.path}: a refused delivery changed A's rows"
    if operation.auth not in ("user", "professional"):
        return  # public routes answer anyone

    owned_path_id = any(kind not in ("text", "slug") for kind in operation.path.values())
    names_a = owned_path_id or any(str(v) in json.dumps(body or {}) + json.dumps(query or {})
                                   for k, v in world["ids"].items() if k not in ("slug",))
    if operation.auth == "professional":
        for caller in ("fresh", "client_user"):
            result = send(world[caller])
            assert (result.status, result.json["code"]) == (404, "onboarding_required"), (caller, result.body)
        others = ["b"]
    else:  # a client route: B and the user who has not onboarded are clients of nobody of A's
        others = ["b", "fresh"]
    for caller in others:
        other = send(world[caller])
        assert other.status < 500 or other.json["code"] == "billing_not_configured", other.body  # no Stripe here
        if names_a and route.path == "/api/ai/chat":  # free text: the assistant's tool refuses it, in a 200
            assert other.status == 200 and [c["ok"] for c in other.json["toolCalls"]] == [False], other.body
        elif names_a and route.path != "/api/appointments":
            assert other.status == 404, (f"{caller} naming A's ids got {other.status}", other.body)
        for value in world["ids"].values():
            if value != "ana-psi" and route.method == "GET":
                assert value not in other.body, f"{caller}'s answer holds one of A's ids: {other.body[:300]}"
        assert snapshot(world["a_id"]) == before, f"{route.method} {route.path} by {caller} changed A's rows"


def test_a_user_route_serves_the_appointment_client_and_hides_it_from_another_professional(api, world):
    path = f"/api/appointments/{world['ids']['appointment']}/pix"
    assert api.get(path, token=world["client_user"]).status == 200
    assert api.get(path, token=world["a"]).status == 200
    assert api.get(path, token=world["b"]).status == 404
    assert api.get(path, token=world["fresh"]).status == 404
