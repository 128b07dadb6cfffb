"""/api/messages through real API Gateway v2 events: the conversation with one client (newest first, statuses,
the 24 h window), free text inside the window, manual templates (params Odys fills, params the professional
gives), queued through the outbox onto SQS (moto), scoped to the professional and rate limited."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
from test_account import assert_problem
from test_clients import insert_appointment, new_client, second_professional

from odys import booking_tokens, db

UTC = dt.timezone.utc
MANUAL = ["msgBookingConfirmed", "msgReminder24h", "msgPixPaymentRequest", "msgPaymentPending", "msgReviewRequest"]
STARTS = dt.datetime(2030, 1, 8, 17, tzinfo=UTC)  # 14:00 in São Paulo
TO_CLIENTS = "SELECT count(*) FROM messages WHERE direction = 'outbound' AND recipient = 'client'"


@pytest.fixture
def enqueued(sqs):
    """The message ids put on the test's queue (conftest's ``sqs``: moto's SQS server), each read once."""
    client = sqs.client()

    def received() -> list[str]:
        out = client.receive_message(QueueUrl=sqs.url, MaxNumberOfMessages=10, VisibilityTimeout=60).get("Messages", [])
        return [json.loads(m["Body"])["messageId"] for m in out]

    return received


@pytest.fixture
def convo(api, professional):
    """(token, professional id, client)."""
    token, body = professional
    return token, body["id"], new_client(api, token, name="Bia Lima")


def inbound(pid, cid, at, body="Oi!"):
    return str(db.scalar("INSERT INTO messages (professional_id, client_id, direction, body, status, created_at) "
                         "VALUES (:p, :c, 'inbound', :b, 'received', :at) RETURNING id", p=pid, c=cid, b=body, at=at))


def outbound(pid, cid, at, **columns):
    values = {"body": "Olá", "status": "sent", "recipient": "client", "to_phone": "+5511988887777", **columns}
    names = ", ".join(values)
    return str(db.scalar(f"INSERT INTO messages (professional_id, client_id, direction, created_at, {names}) "
                         f"VALUES (:p, :c, 'outbound', :at, {', '.join(':' + n for n in values)}) RETURNING id",
                         p=pid, c=cid, at=at, **values))


def now():
    return dt.datetime.now(UTC)


# --- GET ---------------------------------------------------------------------------------------------------------

def test_an_empty_conversation_has_a_closed_window(api, convo):
    token, _, client = convo
    result = api.get("/api/messages", token=token, query={"clientId": client["id"]})
    assert result.status == 200, result.body
    assert result.json == {"messages": [], "nextCursor": None, "window": {"open": False, "closesAt": None}}


def test_conversation_newest_first_with_statuses_and_pages(api, convo):
    token, pid, client = convo
    base = now() - dt.timedelta(hours=30)
    failed = outbound(pid, client["id"], base, status="failed", error_code=131026, error="Message undeliverable",
                      failed_at=base + dt.timedelta(minutes=1), template="msgReminder24h")
    skipped = outbound(pid, client["id"], base + dt.timedelta(hours=1), status="skipped", skip_reason="opted_out")
    received = inbound(pid, client["id"], base + dt.timedelta(hours=2), body="Posso remarcar?")
    first = api.get("/api/messages", token=token, query={"clientId": client["id"], "limit": "2"}).json
    assert [m["id"] for m in first["messages"]] == [received, skipped]
    assert first["messages"][0]["direction"] == "inbound" and first["messages"][0]["body"] == "Posso remarcar?"
    assert first["messages"][1]["status"] == "skipped" and first["messages"][1]["skipReason"] == "opted_out"
    second = api.get("/api/messages", token=token,
                     query={"clientId": client["id"], "limit": "2", "cursor": first["nextCursor"]}).json
    assert second["nextCursor"] is None
    [old] = second["messages"]
    assert old["id"] == failed and old["status"] == "failed" and old["errorCode"] == 131026
    assert old["error"] == "Message undeliverable" and old["failedAt"] and old["template"] == "msgReminder24h"
    assert set(old) == {"id", "direction", "channel", "template", "body", "status", "automatic", "skipReason",
                        "errorCode", "error", "createdAt", "sentAt", "deliveredAt", "readAt", "failedAt"}
    assert first["window"] == {"open": False, "closesAt": None}  # the client wrote 28 h ago


def test_the_window_opens_24_hours_from_the_last_inbound_message(api, convo):
    token, pid, client = convo
    query = {"clientId": client["id"]}
    inbound(pid, client["id"], now() - dt.timedelta(hours=25))
    outbound(pid, client["id"], now() - dt.timedelta(minutes=5))  # our own messages open nothing
    assert api.get("/api/messages", token=token, query=query).json["window"]["open"] is False
    wrote = now() - dt.timedelta(hours=23)
    inbound(pid, client["id"], wrote)
    window = api.get("/api/messages", token=token, query=query).json["window"]
    assert window["open"] is True
    assert abs(dt.datetime.fromisoformat(window["closesAt"]) - (wrote + dt.timedelta(hours=24))) < dt.timedelta(
        milliseconds=1)


# --- POST free text ------------------------------------------------------------------------------------------------

def test_free_text_outside_the_window_is_422_naming_the_manual_templates(api, convo, enqueued):
    token, pid, client = convo
    inbound(pid, client["id"], now() - dt.timedelta(hours=24, minutes=1))
    body = assert_problem(api.post("/api/messages", token=token, json_body={"clientId": client["id"], "body": "Oi"}),
                          422, "outside_service_window")
    assert sorted(t["key"] for t in body["templates"]) == sorted(MANUAL)
    pix = next(t for t in body["templates"] if t["key"] == "msgPixPaymentRequest")
    assert pix["params"] == ["client_name", "professional_name", "date_time", "amount", "pix_code"]
    assert db.scalar(TO_CLIENTS) == 0 and enqueued() == []


def test_free_text_inside_the_window_is_queued_and_enqueued(api, convo, enqueued):
    token, pid, client = convo
    inbound(pid, client["id"], now() - dt.timedelta(hours=2))
    result = api.post("/api/messages", token=token,
                      json_body={"clientId": client["id"], "body": "  Claro, até amanhã!  "})
    assert result.status == 202, result.body
    message = result.json
    assert message["status"] == "queued" and message["direction"] == "outbound" and message["template"] is None
    assert message["body"] == "Claro, até amanhã!" and message["automatic"] is False
    row = db.one("SELECT to_phone, recipient, automatic, enqueued_at FROM messages WHERE id = :id", id=message["id"])
    assert row["to_phone"] == client["phone"] and row["recipient"] == "client" and row["automatic"] is False
    assert enqueued() == [message["id"]] and row["enqueued_at"] is not None
    listed = api.get("/api/messages", token=token, query={"clientId": client["id"]}).json["messages"]
    assert listed[0]["id"] == message["id"]


# --- POST templates ------------------------------------------------------------------------------------------------

def test_a_pix_request_fills_names_time_amount_and_the_professionals_own_pix_code(api, convo, enqueued):
    from odys import pix

    token, pid, client = convo
    aid = insert_appointment(pid, client["id"], STARTS)
    send = {"clientId": client["id"], "template": "msgPixPaymentRequest", "appointmentId": aid}
    assert_problem(api.post("/api/messages", token=token, json_body=send), 409, "pix_key_missing")
    assert api.patch("/api/account", token=token,
                     json_body={"pixKeyType": "email", "pixKey": "ana@example.com"}).status == 200
    result = api.post("/api/messages", token=token, json_body=send)
    assert result.status == 202, result.body
    message = result.json
    assert message["template"] == "msgPixPaymentRequest" and message["status"] == "queued"
    row = db.one("SELECT params, appointment_id, automatic FROM messages WHERE id = :id", id=message["id"])
    params = row["params"] if isinstance(row["params"], dict) else json.loads(row["params"])
    code = pix.parse_pix_payload(params.pop("pix_code"))  # a valid BR Code (CRC checked) for this appointment
    assert code.key == "ana@example.com" and code.amount_cents == 15000
    assert code.txid == db.scalar("SELECT pix_txid FROM appointments WHERE id = :id", id=aid)
    assert params == {"client_name": "Bia Lima", "professional_name": "Ana Souza",
                      "date_time": "terça-feira, 8 de janeiro às 14:00", "amount": "R$ 150,00"}
    assert "Bia Lima" in message["body"] and "R$ 150,00" in message["body"]
    assert row["appointment_id"] is None and row["automatic"] is False  # no buttons: not bound to the appointment
    assert enqueued() == [message["id"]]


def test_a_reminder_by_hand_links_the_appointment_and_is_bound_to_it(api, convo, enqueued):
    token, pid, client = convo
    aid = insert_appointment(pid, client["id"], STARTS)
    result = api.post("/api/messages", token=token, json_body={
        "clientId": client["id"], "template": "msgReminder24h", "appointmentId": aid})
    assert result.status == 202, result.body
    row = db.one("SELECT params, appointment_id::text AS aid, appointment_starts_at FROM messages WHERE id = :id",
                 id=result.json["id"])
    params = row["params"] if isinstance(row["params"], dict) else json.loads(row["params"])
    token_in_link = params["manage_link"].rsplit("/b/", 1)[1]
    assert booking_tokens.verify(token_in_link) == aid
    assert row["aid"] == aid and row["appointment_starts_at"] == STARTS
    db.run("UPDATE appointments SET status = 'cancelled' WHERE id = :id", id=aid)
    assert_problem(api.post("/api/messages", token=token, json_body={
        "clientId": client["id"], "template": "msgReminder24h", "appointmentId": aid}), 409, "appointment_not_active")


def test_a_review_request_needs_no_params_from_the_professional(api, convo, enqueued):
    token, pid, client = convo
    aid = insert_appointment(pid, client["id"], STARTS, status="completed")
    result = api.post("/api/messages", token=token, json_body={
        "clientId": client["id"], "template": "msgReviewRequest", "appointmentId": aid, "params": {}})
    assert result.status == 202, result.body
    assert "/review" in result.json["body"]


def test_template_params_unknown_filled_or_missing_are_422_naming_them(api, convo, enqueued):
    token, pid, client = convo
    aid = insert_appointment(pid, client["id"], STARTS)
    send = {"clientId": client["id"], "template": "msgPixPaymentRequest", "appointmentId": aid}
    cases = [
        ({"colour": "blue"}, {"params.colour": "unknown parameter"}),
        ({"pix_code": "x", "client_name": "Someone"}, {"params.pix_code": "filled by Odys",
                                                       "params.client_name": "filled by Odys"}),
    ]
    for params, errors in cases:
        body = assert_problem(api.post("/api/messages", token=token, json_body={**send, "params": params}),
                              422, "template_error")
        assert {e["field"]: e["message"] for e in body["errors"]} == errors
    body = assert_problem(api.post("/api/messages", token=token, json_body={
        "clientId": client["id"], "template": "msgPixPaymentRequest", "params": {}}),
        422, "template_error")
    assert [e["field"] for e in body["errors"]] == ["appointmentId"]
    assert db.scalar(TO_CLIENTS) == 0 and enqueued() == []


def test_only_manual_templates_may_be_sent_by_hand(api, convo):
    token, _, client = convo
    body = assert_problem(api.post("/api/messages", token=token, json_body={
        "clientId": client["id"], "template": "msgNoShowNotice"}), 422, "template_not_manual")
    assert sorted(t["key"] for t in body["templates"]) == sorted(MANUAL)
    assert_problem(api.post("/api/messages", token=token, json_body={
        "clientId": client["id"], "template": "msgNope"}), 422, "unknown_template")


# --- scope, input, auth, rate limit ------------------------------------------------------------------------------

def test_someone_elses_client_or_appointment_is_404(api, convo, token_for):
    token, pid, client = convo
    aid = insert_appointment(pid, client["id"], STARTS)
    inbound(pid, client["id"], now())
    other_token, other = second_professional(api, token_for)
    theirs = new_client(api, other_token, name="Caio", phone="+5511977776666")
    for cid in (client["id"], str(uuid.uuid4())):
        assert_problem(api.get("/api/messages", token=other_token, query={"clientId": cid}), 404, "not_found")
        assert_problem(api.post("/api/messages", token=other_token, json_body={"clientId": cid, "body": "Oi"}),
                       404, "not_found")
    assert_problem(api.post("/api/messages", token=other_token, json_body={
        "clientId": theirs["id"], "template": "msgReminder24h", "appointmentId": aid}), 404, "not_found")
    own_other = new_client(api, token, name="Dora", phone="+5511966665555")  # Ana's, but not this appointment's
    assert_problem(api.post("/api/messages", token=token, json_body={
        "clientId": own_other["id"], "template": "msgReminder24h", "appointmentId": aid}), 404, "not_found")
    assert db.scalar(TO_CLIENTS) == 0


def test_bad_input_is_a_problem_never_5xx(api, convo):
    token, _, client = convo
    cid = client["id"]
    for bad in ({}, {"clientId": cid}, {"clientId": "nope", "body": "x"}, {"clientId": cid, "body": ""},
                {"clientId": cid, "body": "   "}, {"clientId": cid, "body": "x" * 4097},
                {"clientId": cid, "body": "x", "template": "msgReviewRequest"},
                {"clientId": cid, "body": "x", "params": {"a": "b"}},
                {"clientId": cid, "template": "msgReviewRequest", "params": {"a": 1}},
                {"clientId": cid, "template": "msgReviewRequest", "params": "all"},
                {"clientId": cid, "template": "msgReviewRequest", "appointmentId": "x"},
                {"clientId": cid, "body": "x", "extra": True}):
        assert_problem(api.post("/api/messages", token=token, json_body=bad), 422, "validation_error")
    for query in ({}, {"clientId": "nope"}, {"clientId": cid, "limit": "0"}, {"clientId": cid, "sort": "asc"}):
        assert_problem(api.get("/api/messages", token=token, query=query), 422, "validation_error")
    assert_problem(api.get("/api/messages", token=token, query={"clientId": cid, "cursor": "garbage"}),
                   400, "invalid_cursor")


def test_messages_need_a_token_and_onboarding(api, token_for):
    assert_problem(api.get("/api/messages", query={"clientId": str(uuid.uuid4())}), 401, "missing_token")
    assert_problem(api.post("/api/messages", json_body={"clientId": str(uuid.uuid4()), "body": "x"}),
                   401, "missing_token")
    assert_problem(api.get("/api/messages", token=token_for(), query={"clientId": str(uuid.uuid4())}),
                   404, "onboarding_required")


def test_posting_is_limited_to_30_a_minute_and_reading_is_not(api, convo):
    token, _, client = convo
    attempt = {"clientId": client["id"], "body": "Oi"}
    # 32: the sliding window rounds the previous minute's weight down, so one more may pass across a boundary
    results = [api.post("/api/messages", token=token, json_body=attempt) for _ in range(32)]
    assert [r.status for r in results[:30]] == [422] * 30  # counted even when refused: outside the window
    assert results[29].headers["RateLimit-Limit"] == "30"
    assert_problem(results[31], 429, "rate_limited")
    assert api.get("/api/messages", token=token, query={"clientId": client["id"]}).status == 200


@pytest.mark.parametrize("values", [
    {"k": "messages", "c": "2026-01-01T00:00:00", "i": "00000000-0000-0000-0000-000000000000"},  # no offset
    {"k": "messages", "c": "9999-12-31T23:00:00-05:00", "i": "00000000-0000-0000-0000-000000000000"},
    {"k": "messages", "c": "2026-01-01T00:00:00+00:00", "i": 7},
    {"k": "notifications", "c": "2026-01-01T00:00:00+00:00", "i": "00000000-0000-0000-0000-000000000000"},
])
def test_tampered_cursors_are_400(api, convo, values):
    import base64

    token, _, client = convo
    cursor = base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")
    assert_problem(api.get("/api/messages", token=token, query={"clientId": client["id"], "cursor": cursor}),
                   400, "invalid_cursor")
