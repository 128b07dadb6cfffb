"""A walk through every operation of the API with real data, for the tests that check answers against
docs/openapi.json (tests/test_openapi.py): each step is one request through the ``api`` fixture and what it answered.

    for step in walk(api, token_for, monkeypatch, stripe_double, groq_double, psp):  # Step(method, path, ...)
        ...

It visits the routes in the order a professional meets them (onboard, configure, clients, agenda, messages,
booking, the client side, billing) and deletes last. A route of template.yaml it does not visit yet is reported by the test, by name.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from booking_helpers import book, configure, local_today, slots_on
from conftest import onboarding_body

WA_APP_SECRET = "walk-whatsapp-app-secret-0123456789"
WA_VERIFY_TOKEN = "walk-whatsapp-verify-token"
STRIPE_WEBHOOK_SECRET = "whsec_walk_0123456789abcdef"


@dataclass(frozen=True)
class Step:
    method: str
    path: str          # the route's path as in template.yaml: /api/clients/{id}
    status: int
    headers: dict[str, str]
    body: Any          # parsed JSON, text, or None


def _step(api: Any, method: str, route_path: str, path: str | None = None, **kw: Any) -> Step:
    result = api.request(method, path or route_path, **kw)
    headers = {k.lower(): v for k, v in result.headers.items()}
    body: Any = result.body or None
    if body and result.raw.get("isBase64Encoded"):  # a binary answer, gzip-encoded when the request accepted it
        data = base64.b64decode(body)
        body = (gzip.decompress(data) if headers.get("content-encoding") == "gzip" else data).decode("utf-8")
    if body and ("json" in result.content_type):
        body = json.loads(body)
    return Step(method, route_path, result.status, headers, body)


def _expect(step: Step, status: int) -> Step:
    assert step.status == status, (step.method, step.path, step.status, step.body)
    return step


def walk(api: Any, token_for: Any, monkeypatch: Any, stripe_double: Any, groq_double: Any,
         psp: Any) -> Iterator[Step]:
    """Every operation once with a valid request (and a few problems); yields each answer. ``groq_double``: a
    devtools.groq_double.GroqDouble with ``fixed_questions`` (the model of `make dev`); ``psp``: a
    devtools.pix_double.PixDouble the environment points at (with KMS and PIX_WEBHOOK_BASE_URL)."""
    from devtools.stripe_double import signed_delivery

    monkeypatch.setenv("GROQ_API_KEY", groq_double.api_key)
    monkeypatch.setenv("GROQ_BASE_URL", groq_double.url)
    monkeypatch.setenv("WHATSAPP_APP_SECRET", WA_APP_SECRET)
    monkeypatch.setenv("WHATSAPP_VERIFY_TOKEN", WA_VERIFY_TOKEN)
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", STRIPE_WEBHOOK_SECRET)
    token = token_for()

    def call(method: str, route_path: str, status: int, path: str | None = None, **kw: Any) -> Step:
        return _expect(_step(api, method, route_path, path, token=kw.pop("token", token), **kw), status)

    yield call("GET", "/api/account", 404)  # onboarding_required
    yield call("POST", "/api/account", 201, json_body=onboarding_body())
    yield call("GET", "/api/account", 200)
    yield call("PATCH", "/api/account", 200, json_body={"bio": "Terapia breve.", "pixKeyType": "email",
                                                        "pixKey": "ana@example.com", "autoConfirm": True})
    configure(api, token)
    yield call("GET", "/api/availability", 200)
    yield call("PUT", "/api/availability", 200, json_body={"windows": [
        {"dayOfWeek": d, "startTime": "09:00", "endTime": "12:00"} for d in range(7)]})
    yield call("GET", "/api/professionals/{slug}", 200, "/api/professionals/ana-psi", token=None)
    day = local_today() + dt.timedelta(days=3)
    yield call("GET", "/api/professionals/{slug}/slots", 200, "/api/professionals/ana-psi/slots", token=None,
               query={"from": day.isoformat(), "to": (day + dt.timedelta(days=1)).isoformat()})
    offered = slots_on(api, day, day + dt.timedelta(days=1), ip="198.51.100.70")

    client = call("POST", "/api/clients", 201, json_body={"name": "Bia Lima", "phone": "+5511988887777",
                                                          "email": "bia@example.com"})
    yield client
    client_id = client.body["id"]
    yield call("POST", "/api/clients", 409, json_body={"name": "Bia", "phone": "+5511988887777"})
    yield call("GET", "/api/clients", 200, query={"q": "Bia"})
    yield call("GET", "/api/clients/{id}", 200, f"/api/clients/{client_id}")
    yield call("PATCH", "/api/clients/{id}", 200, f"/api/clients/{client_id}", json_body={"name": "Bia Lima Souza"})

    note = call("POST", "/api/clients/{id}/notes", 201, f"/api/clients/{client_id}/notes", json_body={"body": "1a"})
    yield note
    yield call("GET", "/api/clients/{id}/notes", 200, f"/api/clients/{client_id}/notes", query={"limit": "1"})
    yield call("PATCH", "/api/client-notes/{id}", 200, f"/api/client-notes/{note.body['id']}",
               json_body={"body": "1a sessão"})

    starts = offered[-1]["startsAt"]
    appointment = call("POST", "/api/appointments", 201, json_body={"clientId": client_id, "startsAt": starts,
                                                                    "notes": "primeira"})
    yield appointment
    appointment_id = appointment.body["id"]
    yield call("POST", "/api/appointments", 409, json_body={"clientId": client_id, "startsAt": starts})
    yield call("GET", "/api/appointments", 200, query={"from": day.isoformat(), "status": "confirmed,pending"})
    yield call("GET", "/api/appointments/{id}", 200, f"/api/appointments/{appointment_id}")
    yield call("PATCH", "/api/appointments/{id}", 200, f"/api/appointments/{appointment_id}",
               json_body={"paymentStatus": "paid"})
    yield call("GET", "/api/appointments/{id}/pix", 200, f"/api/appointments/{appointment_id}/pix")
    yield call("GET", "/api/clients/{id}", 200, f"/api/clients/{client_id}")  # now with history and totals
    ask = call("POST", "/api/ai/chat", 200, json_body={"messages": [
        {"role": "user", "content": "quais são meus atendimentos hoje?"}, {"role": "assistant", "content": "Nenhum."},
        {"role": "user", "content": "quanto faturei este mês?"}]})
    assert ask.body["toolCalls"][0]["name"] == "get_revenue_summary", ask.body  # the tools ran
    yield ask

    schedule = call("POST", "/api/recurring-schedules", 201, json_body={
        "clientId": client_id, "dayOfWeek": 2, "startTime": "10:00",
        "startsOn": (local_today() + dt.timedelta(days=14)).isoformat()})
    yield schedule
    yield call("GET", "/api/recurring-schedules", 200, query={"active": "true"})
    yield call("PATCH", "/api/recurring-schedules/{id}", 200, f"/api/recurring-schedules/{schedule.body['id']}",
               json_body={"startTime": "11:00"})

    yield call("GET", "/api/message-templates", 200, query={"locale": "en"})
    yield call("PATCH", "/api/message-templates/{key}", 200, "/api/message-templates/msgReminder24h",
               json_body={"enabled": False})
    yield call("POST", "/api/messages", 202, json_body={"clientId": client_id, "template": "msgReviewRequest",
                                                        "appointmentId": appointment_id})
    yield call("GET", "/api/messages", 200, query={"clientId": client_id})

    booked = book(api, offered[0]["startsAt"], ip="198.51.100.71", key="walk-booking-1")
    yield Step("POST", "/api/booking", booked.status, {k.lower(): v for k, v in booked.headers.items()}, booked.json)
    _expect(Step("POST", "/api/booking", booked.status, {}, booked.json), 201)
    manage = booked.json["manageToken"]
    yield call("GET", "/api/booking/{token}", 200, f"/api/booking/{manage}", token=None)
    yield call("PATCH", "/api/booking/{token}", 200, f"/api/booking/{manage}", token=None,
               json_body={"action": "cancel"})
    yield call("GET", "/api/booking/{token}", 404, "/api/booking/v1.not-a-token", token=None)

    yield call("GET", "/api/notifications", 200)
    yield call("PATCH", "/api/notifications", 200, json_body={"all": True})

    # the client side: Bia signs in with the phone Supabase verified, which links her record at Ana's
    bia = token_for(phone="5511988887777", user_metadata={"phone_verified": True})
    profile = call("GET", "/api/client-profile", 200, token=bia)
    assert profile.body["professionals"][0]["slug"] == "ana-psi", profile.body
    yield profile
    yield call("PATCH", "/api/client-profile", 200, token=bia, json_body={"email": "bia.lima@example.com"})
    yield call("POST", "/api/follows", 201, token=bia, json_body={"slug": "ana-psi"})
    yield call("POST", "/api/follows", 200, token=bia, json_body={"slug": "ana-psi"})
    yield call("POST", "/api/follows", 404, token=bia, json_body={"slug": "nobody-here"})
    yield call("GET", "/api/follows", 200, token=bia)
    yield call("PATCH", "/api/appointments/{id}", 200, f"/api/appointments/{appointment_id}",
               json_body={"status": "completed"})
    review_body = {"appointmentId": appointment_id, "rating": 5, "comment": "Muito atenciosa."}
    review = call("POST", "/api/reviews", 201, token=bia, json_body=review_body)
    yield review
    yield call("POST", "/api/reviews", 409, token=bia, json_body=review_body)  # already_reviewed
    yield call("GET", "/api/reviews", 200, token=None, query={"slug": "ana-psi", "limit": "5"})
    yield call("PATCH", "/api/reviews/{id}", 200, f"/api/reviews/{review.body['review']['id']}",
               json_body={"hidden": True})
    yield call("GET", "/api/client-profile/export", 200, token=bia)

    yield call("POST", "/api/stripe/checkout", 200, json_body={"plan": "pro"})
    yield call("POST", "/api/stripe/portal", 200)  # checkout made the Stripe customer
    event = {"id": "evt_walk_1", "object": "event", "type": "customer.created", "created": int(time.time()),
             "data": {"object": {"id": "cus_walk", "object": "customer"}}}
    body, headers = signed_delivery(event, STRIPE_WEBHOOK_SECRET)
    yield call("POST", "/api/stripe/webhook", 200, token=None, body=body, headers=headers)
    yield call("POST", "/api/stripe/webhook", 400, token=None, body=body, headers={"stripe-signature": "t=1,v1=00"})

    yield call("GET", "/api/whatsapp/webhook", 200, token=None,
               query={"hub.mode": "subscribe", "hub.verify_token": WA_VERIFY_TOKEN, "hub.challenge": "1158201444"})
    yield call("GET", "/api/whatsapp/webhook", 403, token=None,
               query={"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"})
    raw = json.dumps({"object": "whatsapp_business_account", "entry": []}).encode()
    signature = "sha256=" + hmac.new(WA_APP_SECRET.encode(), raw, hashlib.sha256).hexdigest()
    yield call("POST", "/api/whatsapp/webhook", 200, token=None, body=raw,
               headers={"content-type": "application/json", "x-hub-signature-256": signature})
    yield call("POST", "/api/whatsapp/webhook", 401, token=None, body=raw,
               headers={"content-type": "application/json", "x-hub-signature-256": "sha256=00"})

    # automatic PIX confirmation: Ana connects her PSP, which then calls back (hints Odys re-reads at the PSP)
    psp_client = psp.issue_client(["ana@example.com"])
    yield call("PUT", "/api/payment-connection", 422, json_body={**psp_client, "provider": "efi",
                                                                 "certificate": "not a certificate"})
    yield call("PUT", "/api/payment-connection", 200, json_body={**psp_client, "provider": "efi"})
    yield call("GET", "/api/payment-connection", 200)
    callback = psp.webhooks["ana@example.com"]["webhookUrl"].rsplit("/", 1)[-1]
    json_headers = {"content-type": "application/json"}
    yield call("POST", "/api/pix/webhook/{token}", 200, f"/api/pix/webhook/{callback}", token=None,
               body=json.dumps({"pix": []}), headers=json_headers)
    yield call("POST", "/api/pix/webhook/{token}/pix", 200, f"/api/pix/webhook/{callback}/pix", token=None,
               body=json.dumps({"pix": [{"endToEndId": "E1803615020261202150000000000001", "txid": "NOSUCH",
                                         "valor": "150.00", "horario": "2026-12-02T15:00:00Z"}]}),
               headers=json_headers)
    yield call("POST", "/api/pix/webhook/{token}", 400, f"/api/pix/webhook/{callback}", token=None,
               body="{not json", headers=json_headers)
    yield call("POST", "/api/pix/webhook/{token}", 404, "/api/pix/webhook/" + "x" * 43, token=None, body="{}",
               headers=json_headers)

    # the professional's export (every row above): plain, gzip-encoded, a spreadsheet, and too large for the answer
    yield call("GET", "/api/account/export", 200)
    yield call("GET", "/api/account/export", 200, headers={"accept-encoding": "gzip"})
    yield call("GET", "/api/account/export", 200, query={"format": "csv", "what": "payments"})
    monkeypatch.setenv("EXPORT_INLINE_MAX_BYTES", "100")
    link = call("GET", "/api/account/export", 200, headers={"accept-encoding": "gzip"})
    assert link.body["contentEncoding"] == "gzip" and link.body["url"].startswith("http"), link.body
    yield link
    monkeypatch.delenv("EXPORT_BUCKET")
    yield call("GET", "/api/account/export", 503)  # export_storage_unavailable
    monkeypatch.delenv("EXPORT_INLINE_MAX_BYTES")

    yield call("DELETE", "/api/payment-connection", 204)
    yield call("GET", "/api/payment-connection", 404)
    yield call("DELETE", "/api/follows", 204, token=bia, json_body={"slug": "ana-psi"})
    yield call("DELETE", "/api/client-profile", 200, token=bia)
    yield call("DELETE", "/api/client-notes/{id}", 204, f"/api/client-notes/{note.body['id']}")
    yield call("DELETE", "/api/recurring-schedules/{id}", 204, f"/api/recurring-schedules/{schedule.body['id']}")
    yield call("DELETE", "/api/appointments/{id}", 204, f"/api/appointments/{appointment_id}")
    yield call("DELETE", "/api/clients/{id}", 204, f"/api/clients/{client_id}")
    yield call("DELETE", "/api/account", 400, json_body={"confirm": "not-my-slug"})
    yield call("DELETE", "/api/account", 204, json_body={"confirm": "ana-psi"})
