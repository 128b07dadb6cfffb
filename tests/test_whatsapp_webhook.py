"""/api/whatsapp/webhook: Meta's subscription check, signed deliveries (pywa's real payload shapes, signed with
the test app secret), statuses with dedupe and precedence, inbound messages in the right conversation, opt-out,
and quick-reply confirm / cancel / reschedule. Messages are sent for real through odys.sender to the Cloud API
double, so wamids, callback data and button payloads are the ones production would see."""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import hmac
import itertools
import json
import time
from pathlib import Path
from typing import Any

import pytest

from booking_helpers import UTC, add_appointment, add_client, professional_id
from devtools.whatsapp_double import WhatsAppDouble

APP_SECRET = "test-whatsapp-app-secret-0123456789"
VERIFY_TOKEN = "test-whatsapp-verify-token"
FIXTURES = Path(__file__).parent / "fixtures" / "whatsapp"
PATH = "/api/whatsapp/webhook"
BIA = "+5511988887777"


@pytest.fixture(scope="module")
def double():
    server = WhatsAppDouble(token="wa-test-token", phone_number_id="106540352242922").start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def whatsapp(double, monkeypatch):
    double.reset()
    monkeypatch.setenv("WHATSAPP_APP_SECRET", APP_SECRET)
    monkeypatch.setenv("WHATSAPP_VERIFY_TOKEN", VERIFY_TOKEN)
    monkeypatch.setenv("WHATSAPP_GRAPH_URL", double.url)
    monkeypatch.setenv("WHATSAPP_TOKEN", "wa-test-token")
    monkeypatch.setenv("WHATSAPP_PHONE_NUMBER_ID", "106540352242922")
    monkeypatch.delenv("WHATSAPP_QUEUE_URL", raising=False)  # enqueue fails softly: rows stay queued
    return double


# --- helpers ---------------------------------------------------------------------------------------------------

def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def sign(raw: bytes, secret: str = APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


def post(api, document: Any, *, secret: str = APP_SECRET, signature: str | None = None, raw: bytes | None = None):
    raw = raw if raw is not None else json.dumps(document).encode()
    headers = {"content-type": "application/json", "x-hub-signature-256": signature or sign(raw, secret)}
    return api.post(PATH, body=raw, headers=headers)  # bytes: base64-encoded event, as API Gateway sends it


def status(kind: str, wamid: str, *, callback: str | None = None, at: int = 1_800_000_000) -> dict[str, Any]:
    document = fixture(f"webhook_status_{kind}")
    item = document["entry"][0]["changes"][0]["value"]["statuses"][0]
    item.update(id=wamid, timestamp=str(at))
    if callback:
        item["biz_opaque_callback_data"] = callback
    return document


_written = itertools.count()


def inbound(wa_id: str, *, text: str = "Oi!", wamid: str = "wamid.IN1", context: str | None = None,
            button: tuple[str, str] | None = None, user_id: str | None = None) -> dict[str, Any]:
    """pywa's text message (or reply, when ``context``), from ``wa_id``; ``button`` = (label, payload) makes it a
    template quick-reply tap (``type: "button"``, as Meta sends it)."""
    document = fixture("webhook_message_reply" if context else "webhook_message_text")
    value = document["entry"][0]["changes"][0]["value"]
    value["contacts"][0].update(wa_id=wa_id, user_id=user_id or f"BR.{wa_id}")
    item = value["messages"][0]
    # written a moment ago, each message after the previous one (the fixture's own timestamp is from 2023)
    item.update({"from": wa_id, "id": wamid, "timestamp": str(int(time.time()) - 10_000 + next(_written))})
    if context:
        item["context"]["id"] = context
    if button:
        del item["text"]
        item.update(type="button", button={"text": button[0], "payload": button[1]})
    else:
        item["text"]["body"] = text
    return document


def message(message_id: str) -> dict[str, Any]:
    from odys import db

    return db.one("SELECT status, provider_message_id, sent_at, delivered_at, read_at, failed_at, error_code, "
                  "error FROM messages WHERE id = :id", id=message_id)


def received() -> list[dict[str, Any]]:
    from odys import db

    return db.all("SELECT professional_id::text, client_id::text, body, wa_id, context_provider_id FROM messages "
                  "WHERE direction = 'inbound' ORDER BY created_at, id")


def queued_texts() -> list[dict[str, Any]]:
    from odys import db

    return db.all("SELECT client_id::text, body FROM messages WHERE direction = 'outbound' AND status = 'queued' "
                  "AND template IS NULL ORDER BY created_at, id")


def notices(pid: str) -> list[str]:
    from odys import db

    return [r["kind"] for r in db.all("SELECT kind FROM notifications WHERE professional_id = :p ORDER BY created_at",
                                      p=pid)]


def appointment_status(appointment_id: str) -> str:
    from odys import db

    return db.scalar("SELECT status FROM appointments WHERE id = :id", id=appointment_id)


def table_counts() -> dict[str, int]:
    from odys import db

    return {t: db.scalar(f"SELECT count(*) FROM {t}")
            for t in ("messages", "whatsapp_statuses", "quick_reply_uses", "notifications")}


def send(double, *, client_id: str, phone: str = BIA, appointment_id: str | None = None,
         template: str = "msgReminder24h", pid: str | None = None) -> tuple[str, Any]:
    """Queue a message to the client and send it through the real sender: (our id, what the double received)."""
    from odys import clock, db, outbox, sender

    pid = pid or professional_id()
    if appointment_id:
        starts = db.scalar("SELECT starts_at FROM appointments WHERE id = :id", id=appointment_id)
        message_id = outbox.queue(
            professional_id=pid, template=template, recipient="client", to_phone=phone, client_id=client_id,
            appointment_id=appointment_id, appointment_starts_at=starts, automatic=False,
            params={"client_name": "Bia", "professional_name": "Ana", "date_time": "amanhã às 10:00",
                    "manage_link": "https://app.odys.com.br/b/x"})
    else:
        message_id = outbox.queue_text(professional_id=pid, client_id=client_id, to_phone=phone, body="Olá!")
    assert message_id is not None
    assert sender.deliver(message_id, clock.now()) == "sent"
    return message_id, double.sent[-1]


@pytest.fixture
def pro(professional):
    """Ana (onboarded, 24 h cancellation notice) and her client Bia: (professional id, Bia's client id)."""
    return professional_id(), add_client(BIA, "Bia Lima")


def second_professional(api, token_for) -> str:
    from conftest import onboarding_body
    from odys import db

    result = api.post("/api/account", token=token_for(), json_body=onboarding_body("rui-nutri", name="Rui Alves",
                                                                                  email="rui@example.com"))
    assert result.status == 201, result.body
    return str(db.scalar("SELECT id FROM professionals WHERE slug = 'rui-nutri'"))


# --- GET: the subscription check ---------------------------------------------------------------------------------

def test_subscription_check_answers_the_challenge_as_text(api):
    result = api.get(PATH, query={"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN,
                                  "hub.challenge": "1158201444"})
    assert (result.status, result.body) == (200, "1158201444")
    assert result.content_type.startswith("text/plain")


@pytest.mark.parametrize("query", [
    {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
    {"hub.mode": "unsubscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1"},
    {"hub.mode": "subscribe", "hub.challenge": "1"},
    {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "<script>"},
    {},
])
def test_subscription_check_with_a_wrong_token_or_mode_is_403(api, query):
    result = api.get(PATH, query=query)
    assert result.status == 403 and result.json["code"] == "verification_failed"
    assert result.content_type == "application/problem+json"


# --- POST: the signature ----------------------------------------------------------------------------------------

def test_bad_or_missing_signature_is_401_and_writes_nothing(api, pro, double):
    pid, bia = pro
    message_id, sent = send(double, client_id=bia)
    before, row = table_counts(), message(message_id)
    delivered = json.dumps(status("delivered", sent.wamid)).encode()
    for result in (
        post(api, None, raw=delivered, secret="another-secret"),
        post(api, None, raw=delivered, signature="sha256=" + "0" * 64),
        post(api, None, raw=delivered + b" ", signature=sign(delivered)),      # not the bytes that were signed
        api.post(PATH, body=delivered, headers={"content-type": "application/json"}),   # unsigned
        post(api, None, raw=json.dumps(inbound("5511988887777")).encode(), signature="sha1=abc"),
    ):
        assert result.status == 401, result.body
        assert result.json["code"] == "invalid_signature"
        assert result.content_type == "application/problem+json"
    assert table_counts() == before and message(message_id) == row


def test_signature_is_checked_over_the_raw_bytes_not_a_re_serialisation(api, pro, double):
    _, bia = pro
    message_id, sent = send(double, client_id=bia)
    raw = json.dumps(status("delivered", sent.wamid), indent=3, ensure_ascii=True).encode()  # Meta's own spacing
    assert post(api, None, raw=raw).status == 200
    assert message(message_id)["status"] == "delivered"


# --- statuses -------------------------------------------------------------------------------------------------

def test_delivered_moves_sent_forward_and_a_replayed_or_late_sent_does_not_move_it_back(api, pro, double):
    _, bia = pro
    message_id, sent = send(double, client_id=bia)
    assert sent.callback == message_id and message(message_id)["status"] == "sent"

    result = post(api, status("delivered", sent.wamid, at=1_800_000_100))
    assert (result.status, result.json["statuses"]) == (200, 1)
    row = message(message_id)
    assert row["status"] == "delivered"
    assert row["delivered_at"] == dt.datetime.fromtimestamp(1_800_000_100, UTC)

    assert post(api, status("delivered", sent.wamid, at=1_800_000_100)).status == 200   # Meta's redelivery
    assert post(api, status("sent", sent.wamid, at=1_800_000_050)).status == 200        # out of order
    assert message(message_id)["status"] == "delivered"
    from odys import db
    assert db.scalar("SELECT count(*) FROM whatsapp_statuses WHERE provider_message_id = :w", w=sent.wamid) == 2


def test_read_may_arrive_without_delivered(api, pro, double):
    _, bia = pro
    message_id, sent = send(double, client_id=bia)
    assert post(api, status("read", sent.wamid)).status == 200
    row = message(message_id)
    assert row["status"] == "read" and row["read_at"] is not None
    assert post(api, status("delivered", sent.wamid)).status == 200  # late: kept as a time, not a step back
    row = message(message_id)
    assert row["status"] == "read" and row["delivered_at"] is not None


def test_failed_then_delivered_ends_delivered_and_failed_never_overrides_a_success(api, pro, double):
    _, bia = pro
    first, sent = send(double, client_id=bia)
    assert post(api, status("failed", sent.wamid)).status == 200
    row = message(first)
    assert (row["status"], row["error_code"]) == ("failed", 130472)
    assert "experiment" in row["error"]
    assert post(api, status("delivered", sent.wamid)).status == 200  # another device got it
    assert message(first)["status"] == "delivered"

    second, sent = send(double, client_id=bia)
    assert post(api, status("read", sent.wamid)).status == 200
    assert post(api, status("failed", sent.wamid)).status == 200
    assert message(second)["status"] == "read"


def test_a_status_before_the_wamid_is_stored_waits_and_is_applied_when_the_sender_stores_it(api, pro, double):
    from odys import clock, outbox, sender

    pid, bia = pro
    message_id = outbox.queue_text(professional_id=pid, client_id=bia, to_phone=BIA, body="Olá!")
    double.next_wamids.append("wamid.EARLY1")
    # Meta's statuses overtake the send's answer: our id comes back as biz_opaque_callback_data
    assert post(api, status("delivered", "wamid.EARLY1", callback=message_id)).json["statuses"] == 1
    assert post(api, status("read", "wamid.EARLY1", callback=message_id)).status == 200
    assert message(message_id)["status"] == "queued"

    assert sender.deliver(message_id, clock.now()) == "sent"
    row = message(message_id)
    assert (row["provider_message_id"], row["status"]) == ("wamid.EARLY1", "read")
    assert row["delivered_at"] is not None and row["read_at"] is not None


def test_statuses_of_unknown_messages_are_kept_and_acknowledged(api, pro):
    from odys import db

    result = post(api, status("delivered", "wamid.NOT-OURS", callback="some data"))  # pywa's with_tracker value
    assert (result.status, result.json["statuses"]) == (200, 1)
    assert db.one("SELECT status, message_id FROM whatsapp_statuses") == {"status": "delivered", "message_id": None}


def test_every_entry_change_and_item_of_a_batch_is_applied(api, pro, double):
    _, bia = pro
    first, sent_first = send(double, client_id=bia)
    second, sent_second = send(double, client_id=bia)
    document = status("delivered", sent_first.wamid)
    value = document["entry"][0]["changes"][0]["value"]
    value["statuses"].append({**copy.deepcopy(value["statuses"][0]), "id": sent_second.wamid, "status": "read"})
    other_entry = status("read", sent_first.wamid)["entry"][0]
    document["entry"].append(other_entry)
    result = post(api, document)
    assert (result.status, result.json["statuses"]) == (200, 3)
    assert message(first)["status"] == "read" and message(second)["status"] == "read"


# --- inbound messages ------------------------------------------------------------------------------------------

def test_inbound_text_is_stored_in_the_conversation_and_notifies_the_professional(api, pro, double, token_for):
    pid, bia = pro
    send(double, client_id=bia)
    result = post(api, inbound("5511988887777", text="Posso levar meu filho?", wamid="wamid.IN-A"))
    assert (result.status, result.json["messages"]) == (200, 1)
    assert received() == [{"professional_id": pid, "client_id": bia, "body": "Posso levar meu filho?",
                           "wa_id": "5511988887777", "context_provider_id": None}]
    assert notices(pid)[-1] == "whatsapp_message"
    from odys import db
    assert db.one("SELECT wa_id, wa_user_id FROM clients WHERE id = :id", id=bia) == {
        "wa_id": "5511988887777", "wa_user_id": "BR.5511988887777"}

    assert post(api, inbound("5511988887777", text="Posso levar meu filho?", wamid="wamid.IN-A")).status == 200
    assert len(received()) == 1 and notices(pid).count("whatsapp_message") == 1  # Meta's redelivery: once


def test_the_quoted_message_decides_between_two_professionals_with_the_same_client(api, pro, double, token_for):
    ana, bia_of_ana = pro
    rui = second_professional(api, token_for)
    bia_of_rui = add_client_for(rui, BIA)
    _, to_ana = send(double, client_id=bia_of_ana, pid=ana)
    send(double, client_id=bia_of_rui, pid=rui)   # the latest message went to Rui's Bia

    post(api, inbound("5511988887777", text="Confirmo com a Ana", wamid="wamid.Q1", context=to_ana.wamid))
    post(api, inbound("5511988887777", text="E com o Rui?", wamid="wamid.Q2"))
    assert [(m["professional_id"], m["client_id"], m["context_provider_id"]) for m in received()] == [
        (ana, bia_of_ana, to_ana.wamid), (rui, bia_of_rui, None)]


def add_client_for(pid: str, phone: str, name: str = "Bia Lima") -> str:
    from odys import db

    return str(db.scalar("INSERT INTO clients (professional_id, name, phone) VALUES (:p, :n, :ph) RETURNING id",
                         p=pid, n=name, ph=phone))


def test_a_sender_without_the_ninth_digit_is_matched_to_the_client(api, professional, double):
    pid = professional_id()
    client = add_client("+5531987654321", "Caio")   # stored with the 9; WhatsApp knows the old 8-digit id
    double.wa_ids["5531987654321"] = "553187654321"
    from odys import db
    result = post(api, inbound("553187654321", text="Olá", wamid="wamid.N1"))
    assert result.status == 200
    assert [(m["client_id"], m["wa_id"]) for m in received()] == [(client, "553187654321")]
    assert db.scalar("SELECT wa_id FROM clients WHERE id = :id", id=client) == "553187654321"
    assert notices(pid)[-1] == "whatsapp_message"


def test_an_unknown_sender_is_dropped_and_logged_without_their_number(api, pro, log_lines):
    pid, _ = pro
    result = post(api, inbound("5521999990000", text="Quem é?", wamid="wamid.U1", user_id="BR.999"))
    assert (result.status, result.json["messages"]) == (200, 1)
    assert received() == [] and notices(pid) == []
    text = json.dumps(log_lines())
    assert "dropped" in text and "5521999990000" not in text and "Quem" not in text


@pytest.mark.parametrize("word", ["PARAR", "  parar ", "Sair", "STOP", "párar"])
def test_parar_opts_the_person_out_of_automatic_messages_and_is_answered_once(api, pro, double, word):
    from odys import db

    pid, bia = pro
    send(double, client_id=bia)
    assert post(api, inbound("5511988887777", text=word, wamid="wamid.STOP1")).status == 200
    assert db.scalar("SELECT whatsapp_opted_out_at IS NOT NULL FROM clients WHERE id = :id", id=bia)
    answers = queued_texts()
    assert len(answers) == 1 and answers[0]["client_id"] == bia and "automáticas" in answers[0]["body"]
    assert "whatsapp_opted_out" in notices(pid)

    post(api, inbound("5511988887777", text="PARAR", wamid="wamid.STOP2"))   # again: already out, no new answer
    assert len(queued_texts()) == 1


def test_a_sentence_with_parar_is_just_a_message(api, pro, double):
    from odys import db

    _, bia = pro
    send(double, client_id=bia)
    post(api, inbound("5511988887777", text="Vou parar no caminho", wamid="wamid.S1"))
    assert db.scalar("SELECT whatsapp_opted_out_at FROM clients WHERE id = :id", id=bia) is None


# --- quick replies ---------------------------------------------------------------------------------------------

def reminder(double, pro, *, hours: float = 48, status_: str = "pending") -> tuple[str, str, dict[str, str], Any]:
    """A reminder with its three buttons, sent to Bia about an appointment ``hours`` from now:
    (appointment id, message id, {action: payload}, the double's record)."""
    _, bia = pro
    starts = dt.datetime.now(UTC).replace(microsecond=0) + dt.timedelta(hours=hours)
    appointment = add_appointment(starts, status=status_, client_id=bia)
    message_id, sent = send(double, client_id=bia, appointment_id=appointment)
    payloads = dict(zip(("confirm", "reschedule", "cancel"), sent.button_payloads))
    assert len(payloads) == 3
    return appointment, message_id, payloads, sent


def tap(api, action: str, payloads: dict[str, str], sent, *, wamid: str = "wamid.TAP1", wa_id: str = "5511988887777",
        payload: str | None = None):
    """The client taps a button of ``sent`` (Meta quotes it in ``context``; ``sent=None``: no context)."""
    label = {"confirm": "Confirmar", "reschedule": "Remarcar", "cancel": "Cancelar"}[action]
    return post(api, inbound(wa_id, wamid=wamid, context=sent.wamid if sent else None,
                             button=(label, payload or payloads[action])))


def test_a_tapped_cancel_cancels_that_appointment_answers_and_notifies(api, pro, double):
    pid, bia = pro
    appointment, _, payloads, sent = reminder(double, pro)
    other, *_ = reminder(double, pro, hours=72)
    assert tap(api, "cancel", payloads, sent).status == 200
    assert appointment_status(appointment) == "cancelled" and appointment_status(other) == "pending"
    assert "booking_cancelled" in notices(pid)               # the manage link's notice
    assert [m["body"] for m in received()] == ["Cancelar"]   # the tap shows in the conversation
    assert "cancelada" in queued_texts()[-1]["body"]


def test_a_replayed_tap_acts_once(api, pro, double):
    from odys import db

    pid, _ = pro
    appointment, _, payloads, sent = reminder(double, pro)
    tap(api, "confirm", payloads, sent, wamid="wamid.T1")
    answers = len(queued_texts())
    db.run("UPDATE appointments SET status = 'pending' WHERE id = :id", id=appointment)  # the professional reopens
    tap(api, "confirm", payloads, sent, wamid="wamid.T2")    # the same button again (a new tap, same payload)
    assert appointment_status(appointment) == "pending"
    assert len(queued_texts()) == answers and db.scalar("SELECT count(*) FROM quick_reply_uses") == 1


def test_forged_expired_or_foreign_payloads_change_nothing(api, pro, double):
    from odys import reply_payloads

    pid, bia = pro
    appointment, message_id, payloads, sent = reminder(double, pro)
    other, *_ = reminder(double, pro, hours=72)
    body, mac = payloads["cancel"].split(".")
    forged = body + "." + ("A" if mac[0] != "A" else "B") + mac[1:]
    expired = reply_payloads.issue(message_id, appointment, "cancel", dt.datetime.now(UTC) - dt.timedelta(hours=1))
    retargeted = reply_payloads.issue(message_id, other, "cancel", dt.datetime.now(UTC) + dt.timedelta(days=3))
    for n, payload in enumerate([forged, expired, retargeted, "cancel", "x" * 300]):
        assert tap(api, "cancel", payloads, sent, wamid=f"wamid.F{n}", payload=payload).status == 200
    # another WhatsApp user sending Bia's payload (outside her chat: no context) is not Bia
    add_client("+5511977776666", "Caio")
    assert tap(api, "cancel", payloads, None, wamid="wamid.F9", wa_id="5511977776666").status == 200
    assert appointment_status(appointment) == "pending" and appointment_status(other) == "pending"
    from odys import db
    assert db.scalar("SELECT count(*) FROM quick_reply_uses") == 0
    assert "booking_cancelled" not in notices(pid)


def test_cancel_inside_the_cancellation_notice_is_refused_with_an_answer(api, pro, double):
    appointment, _, payloads, sent = reminder(double, pro, hours=12)  # Ana asks 24 hours' notice (the default)
    assert tap(api, "cancel", payloads, sent).status == 200
    assert appointment_status(appointment) == "pending"
    assert "24 horas" in queued_texts()[-1]["body"]


def test_a_tapped_confirm_confirms_a_pending_appointment(api, pro, double):
    pid, _ = pro
    appointment, _, payloads, sent = reminder(double, pro)
    assert tap(api, "confirm", payloads, sent).status == 200
    assert appointment_status(appointment) == "confirmed"
    assert "booking_confirmed" in notices(pid)
    assert "confirmada" in queued_texts()[-1]["body"]


def test_a_tapped_reschedule_answers_with_the_manage_link(api, pro, double):
    from odys import booking_tokens

    pid, _ = pro
    appointment, _, payloads, sent = reminder(double, pro)
    assert tap(api, "reschedule", payloads, sent).status == 200
    assert appointment_status(appointment) == "pending"
    answer = queued_texts()[-1]["body"]
    token = answer.rsplit("/b/", 1)[1]
    assert booking_tokens.verify(token) == appointment
    assert "reschedule_requested" in notices(pid)


# --- robustness ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("raw", [
    b"", b"not json", b"[]", b"null", b'{"entry": "x"}', b'{"entry": [1, {"changes": 2}]}',
    b'{"entry": [{"changes": [{"field": "messages", "value": {"statuses": [1, {"id": 5}], "messages": [{}]}}]}]}',
    b'{"entry": [{"changes": [{"field": "messages", "value": {"statuses": [{"id": "wamid.X", "status": "read", '
    b'"timestamp": "99999999999999999999", "biz_opaque_callback_data": {"a": 1}}]}}]}]}',
    b'{"entry": [{"changes": [{"field": "messages", "value": {"messages": [{"id": "wamid.\\u0000", "from": "1"}]}}]}]}',
    b'{"entry": [{"changes": [{"field": "messages", "value": {"contacts": "x", "messages": [{"id": "wamid.Y", '
    b'"from": "5511988887777", "type": "text", "text": {"body": "a\\u0000b"}, "context": []}]}}]}]}',
    b"\xff\xfe", b"[" * 100_000,
])
def test_signed_malformed_deliveries_are_acknowledged_never_5xx(api, pro, raw):
    result = post(api, None, raw=raw)
    assert result.status == 200, result.body
    assert result.json["received"] is True


@pytest.mark.parametrize("name", ["webhook_message_image", "webhook_message_unsupported",
                                  "webhook_message_interactive_message_with_err", "webhook_status_failed"])
def test_other_real_payloads_are_acknowledged(api, pro, double, name):
    _, bia = pro
    send(double, client_id=bia, phone="+972987654321")
    assert post(api, fixture(name)).status == 200


def test_without_the_app_secret_a_signed_delivery_is_503_so_meta_retries_and_nothing_is_written(api, pro,
                                                                                                 monkeypatch):
    monkeypatch.delenv("WHATSAPP_APP_SECRET")
    before = table_counts()
    result = post(api, inbound("5511988887777"))
    assert (result.status, result.json["code"]) == (503, "whatsapp_not_configured")
    assert table_counts() == before
    assert api.post(PATH, body=b"{}", headers={"content-type": "application/json"}).status == 401  # unsigned


def test_reply_payloads_are_bound_short_and_under_their_own_hmac_domain():
    from odys import booking_tokens, reply_payloads

    now = dt.datetime(2026, 12, 1, tzinfo=UTC)
    message_id, appointment_id = "3f2a9c1b-7e4d-4a0b-8c6e-1d2f3a4b5c6d", "0b7d5c1e-2f3a-4b5c-8d6e-7f8091a2b3c4"
    payload = reply_payloads.issue(message_id, appointment_id, "confirm", now + dt.timedelta(days=1))
    assert len(payload) <= 128
    got = reply_payloads.verify(payload, now)
    assert (got.message_id, got.appointment_id, got.action, got.use_id) == (
        message_id, appointment_id, "confirm", f"{message_id}:confirm")
    assert reply_payloads.verify(payload, now + dt.timedelta(days=1)) is None            # expired
    assert booking_tokens.verify(payload, now) is None                                   # not a manage link
    link = booking_tokens.issue(appointment_id, now + dt.timedelta(days=1))
    assert reply_payloads.verify(link, now) is None                                      # nor the reverse
    with pytest.raises(ValueError):
        reply_payloads.issue(message_id, appointment_id, "delete", now)


# --- review findings: what must never happen --------------------------------------------------------------------

def test_the_professional_quoting_their_own_notice_is_not_filed_as_the_clients_message(api, pro, double):
    from odys import clock, db, outbox, sender

    pid, bia = pro
    notice = outbox.queue(professional_id=pid, template="msgNewBookingForProfessional", recipient="professional",
                          to_phone="+5511987654321", client_id=bia,
                          params={"professional_name": "Ana", "client_name": "Bia", "date_time": "amanhã às 10:00",
                                  "client_phone": BIA})
    assert sender.deliver(notice, clock.now()) == "sent"
    wamid = db.scalar("SELECT provider_message_id FROM messages WHERE id = :id", id=notice)
    for text in ("ok, obrigada", "PARAR"):
        assert post(api, inbound("5511987654321", text=text, wamid=f"wamid.P{text[:2]}", context=wamid)).status == 200
    assert received() == []  # Ana's number is no client of hers: dropped
    assert db.one("SELECT wa_id, whatsapp_opted_out_at FROM clients WHERE id = :id", id=bia) == \
        {"wa_id": None, "whatsapp_opted_out_at": None}


def test_the_conversation_shows_only_messages_with_the_client(api, professional, pro, double):
    from odys import clock, outbox, sender

    token, _ = professional
    pid, bia = pro
    send(double, client_id=bia)
    notice = outbox.queue(professional_id=pid, template="msgNewBookingForProfessional", recipient="professional",
                          to_phone="+5511987654321", client_id=bia,
                          params={"professional_name": "Ana", "client_name": "Bia", "date_time": "amanhã",
                                  "client_phone": BIA})
    sender.deliver(notice, clock.now())
    seen = api.get("/api/messages", token=token, query={"clientId": bia}).json["messages"]
    assert [m["template"] for m in seen] == [None]  # Olá! to Bia; not Ana's own notice about her


def test_a_message_written_days_ago_does_not_open_the_window(api, professional, pro, double):
    token, _ = professional
    _, bia = pro
    send(double, client_id=bia)
    late = inbound("5511988887777", text="Oi, sumi", wamid="wamid.OLD")
    late["entry"][0]["changes"][0]["value"]["messages"][0]["timestamp"] = str(int(time.time()) - 3 * 86400)
    assert post(api, late).status == 200
    conversation = api.get("/api/messages", token=token, query={"clientId": bia}).json
    assert [m["body"] for m in conversation["messages"]] == ["Olá!", "Oi, sumi"]  # in the order they were written
    assert conversation["window"]["open"] is False


def test_a_database_outage_is_not_acknowledged_so_meta_delivers_again(api, pro, double, monkeypatch):
    send(double, client_id=pro[1])
    from odys import db
    from odys.store import messages as store

    def down(**_kwargs):
        raise db.DatabaseUnavailable()

    with monkeypatch.context() as patched:
        patched.setattr(store, "insert_inbound", down)
        result = post(api, inbound("5511988887777", text="Oi", wamid="wamid.DOWN"))
    assert result.status == 503 and result.json["code"] == "database_unavailable"
    assert post(api, inbound("5511988887777", text="Oi", wamid="wamid.DOWN")).status == 200
    assert [m["body"] for m in received()] == ["Oi"]
