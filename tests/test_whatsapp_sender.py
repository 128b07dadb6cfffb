"""whatsapp_sender: outbox rows queued through SQS (moto's server) reach the handler as real SQS events (the dev
poller's event source mapping) and go to the Cloud API double (devtools/whatsapp_double.py), which answers with
Meta's success and error shapes. Decisions at send time, failures by Meta's code, the account-level pause,
statuses that arrived before the wamid."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import subprocess
import sys
import time

import pytest
from conftest import WA_PHONE_NUMBER_ID, WA_TOKEN

from booking_helpers import add_appointment, add_client, professional_id
from devtools import lambdas
from devtools.local_sqs import LocalQueue, Poller, sqs_event

TOKEN, PHONE_NUMBER_ID = WA_TOKEN, WA_PHONE_NUMBER_ID
PHONE = "+5531987654321"          # DDD 31: WhatsApp knows many such numbers without the 9th digit
WA_ID = "553187654321"
UTC = dt.timezone.utc
_hours = itertools.count(24)


@pytest.fixture
def wa(wa):
    """The shared double, knowing Bia's WhatsApp id."""
    wa.wa_ids[PHONE.lstrip("+")] = WA_ID
    return wa


class Sender:
    """The event source mapping: receive a batch, invoke whatsapp_sender, delete what it did not report failed."""

    def __init__(self, local: LocalQueue) -> None:
        self.local = local
        self.answers: list[dict] = []
        self.poller = Poller(local, self._invoke, wait_seconds=0)

    def _invoke(self, event: dict) -> dict:
        answer = lambdas.invoke("whatsapp_sender", event)
        self.answers.append(answer)
        return answer

    def run(self) -> tuple[int, int]:
        """(records received, records deleted) of one batch."""
        return self.poller.poll_once()

    def run_again(self) -> tuple[int, int]:
        time.sleep(self.local.visibility_timeout + 0.2)  # what was not deleted reappears
        return self.run()


@pytest.fixture
def sender(sqs, wa, professional):
    """The sender, after it sent what onboarding queued (the welcome message)."""
    sending = Sender(sqs)
    sending.run()
    sending.answers.clear()
    wa.requests.clear()
    wa.sent.clear()
    return sending


def reminder(*, starts_at: dt.datetime | None = None, status: str = "confirmed", phone: str = PHONE,
             template: str = "msgReminder24h", **kw) -> tuple[str, str, str]:
    """A client, an appointment and its queued message (enqueued on SQS after commit): (message, appointment,
    client) ids."""
    from odys import outbox

    starts_at = starts_at or (dt.datetime.now(UTC) + dt.timedelta(hours=next(_hours))).replace(microsecond=0)
    client_id = add_client(phone, "Bia Lima")
    appointment_id = add_appointment(starts_at, status=status, client_id=client_id)
    message_id = outbox.queue(
        professional_id=professional_id(), template=template, recipient="client", to_phone=phone,
        client_id=client_id, appointment_id=appointment_id, appointment_starts_at=starts_at,
        params={"client_name": "Bia Lima", "professional_name": "Ana Souza",
                "date_time": "terça-feira, 3 de dezembro às 14:30", "manage_link": "https://app.odys.com.br/b/x"},
        **kw)
    return message_id, appointment_id, client_id


def activation() -> str:
    """A queued message to the professional (msgSubscriptionActivated)."""
    from odys import outbox

    return outbox.queue(professional_id=professional_id(), template="msgSubscriptionActivated",
                        recipient="professional", to_phone="+5511987654321",
                        params={"professional_name": "Ana Souza", "plan": "Pro"})


def row(message_id: str) -> dict:
    from odys import db

    return db.one("SELECT status, provider_message_id, wa_id, sent_at, delivered_at, read_at, failed_at, error_code, "
                  "error, skip_reason, attempts, body FROM messages WHERE id = :id", id=message_id)


def state() -> dict:
    from odys import db

    return db.one("SELECT paused_until, pause_code, pause_reason FROM whatsapp_state")


# --- sent ---------------------------------------------------------------------------------------------------------


def test_a_template_send_stores_the_wamid_the_wa_id_and_sent(sender, wa):
    from odys import db, reply_payloads

    message_id, appointment_id, client_id = reminder()
    assert sender.run() == (1, 1)
    assert sender.answers == [{"batchItemFailures": []}]
    [sent] = wa.sent
    stored = row(message_id)
    assert (stored["status"], stored["provider_message_id"], stored["wa_id"]) == ("sent", sent.wamid, WA_ID)
    assert stored["sent_at"] is not None and stored["attempts"] == 1
    # the client is known by the id WhatsApp answered (inbound messages come from it)
    assert db.scalar("SELECT wa_id FROM clients WHERE id = :id", id=client_id) == WA_ID
    # what went out: the approved template, named parameters, our id as the tracker, signed quick replies
    assert (sent.to, sent.template, sent.language, sent.callback) == ("5531987654321", "odys_reminder_24h",
                                                                      "pt_BR", message_id)
    assert sent.params == {"client_name": "Bia Lima", "professional_name": "Ana Souza",
                           "date_time": "terça-feira, 3 de dezembro às 14:30",
                           "manage_link": "https://app.odys.com.br/b/x"}
    now = dt.datetime.now(UTC)
    verified = [reply_payloads.verify(p, now) for p in sent.button_payloads]
    assert [(v.action, v.message_id, v.appointment_id) for v in verified] == [
        ("confirm", message_id, appointment_id), ("reschedule", message_id, appointment_id),
        ("cancel", message_id, appointment_id)]
    request = wa.requests[-1]
    assert request.path == f"/v24.0/{PHONE_NUMBER_ID}/messages"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"


def test_a_redelivered_or_duplicate_sqs_message_sends_nothing_more(sender, wa):
    message_id, _, _ = reminder()
    sender.run()
    from odys import outbox

    outbox.enqueue([message_id])  # the sweep or SQS delivering it twice
    assert sender.run() == (1, 1)
    assert len(wa.sent) == 1 and row(message_id)["attempts"] == 1


def test_a_professional_message_is_sent_and_no_client_is_touched(sender, wa):
    message_id = activation()
    assert sender.run() == (1, 1)
    assert row(message_id)["status"] == "sent"
    assert wa.sent[0].template == "odys_subscription_activated" and wa.sent[0].button_payloads == []


def test_a_free_form_row_goes_out_as_text(sender, wa):
    from odys import outbox

    client_id = add_client(PHONE, "Bia Lima")
    message_id = outbox.queue_text(professional_id=professional_id(), client_id=client_id, to_phone=PHONE,
                                   body="Até amanhã!")
    sender.run()
    assert row(message_id)["status"] == "sent"
    assert (wa.sent[0].type, wa.sent[0].text, wa.sent[0].callback) == ("text", "Até amanhã!", message_id)


def test_a_reworded_template_goes_free_form_inside_the_window_and_as_the_template_outside(sender, wa, api,
                                                                                          professional):
    from odys import db

    token, _ = professional
    result = api.patch("/api/message-templates/msgReminder24h", token=token,
                       json_body={"text": "Oi {client_name}, até {date_time}!"})
    assert result.status == 200, result.body
    outside, _, client_id = reminder()
    sender.run()
    assert wa.sent[-1].template == "odys_reminder_24h"      # no window: only the approved template may go
    db.run("INSERT INTO messages (professional_id, client_id, direction, body, status) "
           "VALUES (:p, :c, 'inbound', 'oi', 'received')", p=professional_id(), c=client_id)
    inside, _, _ = reminder(phone="+5511977776666")
    db.run("UPDATE messages SET client_id = :c WHERE id = :id", c=client_id, id=inside)
    sender.run()
    assert wa.sent[-1].text == "Oi Bia Lima, até terça-feira, 3 de dezembro às 14:30!"
    assert row(inside)["body"] == wa.sent[-1].text and row(outside)["status"] == "sent"


# --- failures by Meta's code ----------------------------------------------------------------------------------------


def test_a_pair_rate_limit_is_a_batch_item_failure_and_the_row_stays_queued(sender, wa):
    message_id, _, _ = reminder()
    wa.fail_next(131056)
    assert sender.run() == (1, 0)
    [answer] = sender.answers
    assert len(answer["batchItemFailures"]) == 1
    stored = row(message_id)
    assert (stored["status"], stored["attempts"], stored["error_code"]) == ("queued", 1, None)
    assert sender.run_again() == (1, 1)          # SQS brings it back; now Meta accepts it
    assert row(message_id)["status"] == "sent" and row(message_id)["attempts"] == 2


def test_a_missing_template_fails_once_with_metas_code_and_message(sender, wa):
    message_id, _, _ = reminder()
    wa.fail_next(132001)
    assert sender.run() == (1, 1)                # done: retrying cannot help
    stored = row(message_id)
    assert (stored["status"], stored["error_code"], stored["attempts"]) == ("failed", 132001, 1)
    assert stored["error"].startswith("(#132001) Template name does not exist") and stored["failed_at"]
    from odys import outbox

    outbox.enqueue([message_id])                 # a redelivery does nothing more
    assert sender.run() == (1, 1)
    assert len(wa.requests) == 1 and row(message_id) == stored


@pytest.mark.parametrize("failure", [{"http_status": 502}, {"code": 131000}, {"code": 2},
                                     {"code": 130429, "http_status": 429}])
def test_server_errors_and_throttling_are_batch_item_failures(sender, wa, failure):
    message_id, _, _ = reminder()
    wa.fail_next(failure.get("code"), http_status=failure.get("http_status"))
    assert sender.run() == (1, 0)
    assert row(message_id)["status"] == "queued" and row(message_id)["attempts"] == 1


def test_an_unknown_code_on_a_4xx_is_permanent_but_an_unknown_5xx_is_retried(sender, wa):
    first, _, _ = reminder()
    wa.fail_next(131026)
    sender.run()
    second, _, _ = reminder(phone="+5511977776666")
    wa.fail_next(999999, http_status=500)
    sender.run()
    assert (row(first)["status"], row(first)["error_code"]) == ("failed", 131026)
    assert (row(second)["status"], row(second)["attempts"]) == ("queued", 1)


def test_a_timeout_is_retried(sender, wa):
    message_id, _, _ = reminder()
    wa.fail_next(131000, delay=1.5)              # longer than WHATSAPP_TIMEOUT_SECONDS
    assert sender.run() == (1, 0)
    assert row(message_id)["status"] == "queued" and row(message_id)["attempts"] == 1


def test_retries_stop_at_max_attempts(sender, wa):
    from odys import db, sender as sending

    message_id, _, _ = reminder()
    db.run("UPDATE messages SET attempts = :n WHERE id = :id", n=sending.MAX_ATTEMPTS - 1, id=message_id)
    wa.fail_next(131056)
    assert sender.run() == (1, 1)
    stored = row(message_id)
    assert (stored["status"], stored["error_code"], stored["attempts"]) == ("failed", 131056, sending.MAX_ATTEMPTS)


def test_an_expired_token_pauses_sending_and_leaves_every_message_queued_until_the_pause_ends(sender, wa,
                                                                                           monkeypatch, log_lines):
    from odys import clock

    ids = [reminder(phone=f"+55119777700{i:02d}")[0] for i in range(3)]
    wa.fail_next(190)
    assert sender.run() == (3, 0)                # all three come back: none failed
    assert len(wa.requests) == 1                 # the first hit 190; the others were not even tried
    paused = state()
    assert paused["pause_code"] == 190 and paused["paused_until"] > dt.datetime.now(UTC) + dt.timedelta(minutes=9)
    assert all(row(i)["status"] == "queued" and row(i)["attempts"] == 0 for i in ids)
    assert any(line["message"] == "whatsapp sending paused" and line["level"] == "ERROR" for line in log_lines())
    assert sender.run_again() == (3, 0) and len(wa.requests) == 1   # still paused: nothing sent, nothing counted
    later = dt.datetime.now(UTC) + dt.timedelta(minutes=11)
    monkeypatch.setattr(clock, "now", lambda: later)
    assert sender.run_again() == (3, 3)          # the pause is over and the token works again
    assert [row(i)["status"] for i in ids] == ["sent"] * 3


def test_a_message_sqs_is_retrying_is_not_swept_again_and_an_old_automatic_one_expires(sender, wa, monkeypatch):
    from odys import clock, outbox

    start = dt.datetime.now(UTC)
    message_id = activation()                   # an automatic message about no appointment
    wa.fail_next(131056, times=2)
    assert sender.run() == (1, 0)               # a batch item failure: SQS has it again
    monkeypatch.setattr(clock, "now", lambda: start + dt.timedelta(minutes=6))
    assert sender.run_again() == (1, 0)         # throttled again, six minutes later: SQS still has it
    # four minutes after that last attempt it is not stale, although first enqueued ten minutes ago
    assert outbox.sweep(start + dt.timedelta(minutes=10))["claimed"] == 0
    monkeypatch.setattr(clock, "now", lambda: start + dt.timedelta(hours=25))
    assert sender.run_again() == (1, 1)
    stored = row(message_id)
    assert (stored["status"], stored["skip_reason"]) == ("skipped", "expired")
    assert len(wa.requests) == 2                # only the two throttled attempts reached Meta


@pytest.mark.parametrize("code", [368, 131048])
def test_account_restrictions_pause_for_15_minutes(sender, wa, code):
    message_id, _, _ = reminder()
    wa.fail_next(code)
    assert sender.run() == (1, 0)
    paused = state()
    assert paused["pause_code"] == code and paused["paused_until"] > dt.datetime.now(UTC) + dt.timedelta(minutes=14)
    assert row(message_id)["status"] == "queued"


# --- decided at send time -------------------------------------------------------------------------------------------


def test_a_cancelled_or_moved_appointment_gets_no_stale_message(sender, wa):
    from odys import db

    cancelled, cancelled_appt, _ = reminder()
    db.run("UPDATE appointments SET status = 'cancelled' WHERE id = :id", id=cancelled_appt)
    moved, moved_appt, _ = reminder(phone="+5511977776666")
    db.run("UPDATE appointments SET starts_at = starts_at + interval '1 day', ends_at = ends_at + interval '1 day' "
           "WHERE id = :id", id=moved_appt)
    assert sender.run() == (2, 2)
    assert (row(cancelled)["status"], row(cancelled)["skip_reason"]) == ("skipped", "appointment_cancelled")
    assert (row(moved)["status"], row(moved)["skip_reason"]) == ("skipped", "appointment_changed")
    assert wa.requests == []


def test_a_payment_request_for_an_appointment_paid_since_is_skipped(sender, wa):
    from odys import db, outbox

    client_id = add_client("+5511977775555", "Bia Lima")
    starts = (dt.datetime.now(UTC) - dt.timedelta(days=1)).replace(microsecond=0)
    appointment_id = add_appointment(starts, status="completed", client_id=client_id)
    message_id = outbox.queue(
        professional_id=professional_id(), template="msgPaymentPending", recipient="client", to_phone="+5511977775555",
        client_id=client_id, appointment_id=appointment_id, appointment_starts_at=starts,
        params={"client_name": "Bia Lima", "professional_name": "Ana Souza", "date_time": "ontem às 14:30",
                "amount": "R$ 150,00", "pix_code": "00020126580014br.gov.bcb.pix"})
    db.run("UPDATE appointments SET payment_status = 'paid' WHERE id = :id", id=appointment_id)  # paid meanwhile
    assert sender.run() == (1, 1)
    assert (row(message_id)["status"], row(message_id)["skip_reason"]) == ("skipped", "appointment_paid")
    assert wa.requests == []


def test_a_reminder_for_an_appointment_that_began_is_skipped(sender, wa):
    message_id, _, _ = reminder(starts_at=(dt.datetime.now(UTC) - dt.timedelta(minutes=5)).replace(microsecond=0))
    sender.run()
    assert row(message_id)["skip_reason"] == "appointment_started" and wa.requests == []


def test_a_cancellation_notice_needs_the_appointment_still_cancelled(sender, wa):
    from odys import outbox

    client_id = add_client(PHONE, "Bia Lima")
    starts_at = (dt.datetime.now(UTC) + dt.timedelta(days=2)).replace(microsecond=0)
    params = {"client_name": "Bia Lima", "professional_name": "Ana Souza", "date_time": "amanhã",
              "booking_link": "https://app.odys.com.br/ana-psi"}
    ids = []
    for status in ("cancelled", "confirmed"):  # the second was re-activated after the notice was queued
        appointment_id = add_appointment(starts_at + dt.timedelta(hours=len(ids)), status=status, client_id=client_id)
        ids.append(outbox.queue(professional_id=professional_id(), template="msgBookingCancelledByProfessional",
                                recipient="client", to_phone=PHONE, client_id=client_id, params=params,
                                appointment_id=appointment_id, appointment_starts_at=starts_at))
    sender.run()
    assert row(ids[0])["status"] == "sent"
    assert (row(ids[1])["status"], row(ids[1])["skip_reason"]) == ("skipped", "appointment_changed")


def test_whatsapp_disabled_free_plan_and_opted_out_clients_are_skipped_visibly(sender, wa, api, professional):
    from odys import db

    token, _ = professional
    opted, _, opted_client = reminder()
    db.run("UPDATE clients SET whatsapp_opted_out_at = now() WHERE id = :id", id=opted_client)
    sender.run()
    assert (row(opted)["status"], row(opted)["skip_reason"]) == ("skipped", "opted_out")

    db.run("UPDATE professionals SET plan = 'free', trial_ends_at = now() - interval '1 day'")
    automatic, _, _ = reminder(phone="+5511977776666")
    manual, _, _ = reminder(phone="+5511977775555", template="msgBookingConfirmed", automatic=False)
    to_professional = activation()
    sender.run()
    assert (row(automatic)["status"], row(automatic)["skip_reason"]) == ("skipped", "plan")
    assert row(manual)["status"] == "sent" and row(to_professional)["status"] == "sent"  # free: manual messages

    assert api.patch("/api/account", token=token, json_body={"whatsappEnabled": False}).status == 200
    disabled = activation()
    sender.run()
    assert (row(disabled)["status"], row(disabled)["skip_reason"]) == ("skipped", "whatsapp_disabled")
    assert len(wa.sent) == 2


def test_a_template_the_professional_switched_off_is_skipped(sender, wa, api, professional):
    token, _ = professional
    assert api.patch("/api/message-templates/msgReminder24h", token=token,
                     json_body={"enabled": False}).status == 200
    message_id, _, _ = reminder()
    sender.run()
    assert (row(message_id)["status"], row(message_id)["skip_reason"]) == ("skipped", "disabled_by_professional")
    assert wa.requests == []


# --- statuses that arrived first ----------------------------------------------------------------------------------


def test_statuses_that_arrived_before_the_wamid_are_applied_once_it_is_stored(sender, wa):
    from odys import db

    by_callback, _, _ = reminder()
    at = dt.datetime.now(UTC).replace(microsecond=0)
    db.run("INSERT INTO whatsapp_statuses (provider_message_id, status, occurred_at, message_id) "
           "VALUES ('wamid.EARLY1', 'delivered', :at, :id)", at=at, id=by_callback)
    by_wamid, _, _ = reminder(phone="+5511977776666")
    db.run("INSERT INTO whatsapp_statuses (provider_message_id, status, occurred_at) VALUES "
           "('wamid.EARLY2', 'delivered', :at), ('wamid.EARLY2', 'read', :later)",
           at=at, later=at + dt.timedelta(seconds=5))
    wa.next_wamids[:] = ["wamid.EARLY1", "wamid.EARLY2"]
    sender.run()
    first, second = row(by_callback), row(by_wamid)
    assert (first["status"], first["delivered_at"]) == ("delivered", at)
    assert (second["status"], second["delivered_at"], second["read_at"]) == ("read", at, at + dt.timedelta(seconds=5))
    assert db.scalar("SELECT count(*) FROM whatsapp_statuses WHERE message_id = :id", id=by_wamid) == 2


def test_an_early_failed_status_fails_the_sent_message(sender, wa):
    from odys import db

    message_id, _, _ = reminder()
    db.run("INSERT INTO whatsapp_statuses (provider_message_id, status, occurred_at, error_code, error_title) "
           "VALUES ('wamid.EARLY3', 'failed', now(), 131026, 'Message undeliverable')")
    wa.next_wamids.append("wamid.EARLY3")
    sender.run()
    stored = row(message_id)
    assert (stored["status"], stored["error_code"], stored["error"]) == ("failed", 131026, "Message undeliverable")


# --- the handler and its configuration ----------------------------------------------------------------------------


def test_a_record_naming_no_message_is_dropped_and_the_rest_of_the_batch_still_goes(sqs, wa, professional):
    message_id, _, _ = reminder()
    received = sqs.client().receive_message(QueueUrl=sqs.url, MaxNumberOfMessages=10).get("Messages")
    event = sqs_event(received, queue_arn=sqs.arn)
    junk = dict(event["Records"][0], messageId="junk-1", body="not json")
    event["Records"].append(junk)
    assert lambdas.invoke("whatsapp_sender", event) == {"batchItemFailures": []}
    assert row(message_id)["status"] == "sent"


def test_outside_dev_and_test_only_the_graph_api_is_called(sender, wa, monkeypatch):
    message_id, _, _ = reminder()
    monkeypatch.setenv("ODYS_STAGE", "prod")
    assert sender.run() == (1, 0)                # a configuration error: kept for later, nothing sent elsewhere
    assert wa.requests == [] and row(message_id)["status"] == "queued"


def test_template_declares_the_sender_with_partial_batch_responses_and_capped_concurrency():
    resources = lambdas.load_template()["Resources"]
    function = resources["WhatsAppSenderFunction"]["Properties"]
    assert function["CodeUri"] == "functions/whatsapp_sender/"
    [event] = function["Events"].values()
    props = event["Properties"]
    assert event["Type"] == "SQS" and props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["Queue"] == {"Fn::GetAtt": ["WhatsAppQueue", "Arn"]} or "WhatsAppQueue" in json.dumps(props["Queue"])
    assert props["BatchSize"] == 10 and 2 <= props["ScalingConfig"]["MaximumConcurrency"] <= 10
    # a message being sent never reappears to a second sender (AWS: visibility timeout >= 6 x function timeout)
    visibility = resources["WhatsAppQueue"]["Properties"]["VisibilityTimeout"]
    assert visibility >= 6 * function["Timeout"]


def test_the_client_imports_only_the_standard_library():
    code = ("import sys; sys.path[:0] = ['layers/shared']; import odys.whatsapp_api; "
            "print(sorted(m for m in ('httpx', 'boto3', 'botocore', 'requests', 'pywa') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=lambdas.ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_doubles_control_api_lists_sends_and_scripts_failures(sender, wa):
    import urllib.request

    def call(method: str, path: str, body: dict | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        with urllib.request.urlopen(urllib.request.Request(wa.url + path, data=data, method=method)) as answer:
            return json.loads(answer.read())

    call("POST", "/_double/fail", {"code": 131047})
    failed, _, _ = reminder()
    sent, _, _ = reminder(phone="+5511977776666")
    sender.run()
    assert row(failed)["error_code"] == 131047 and row(sent)["status"] == "sent"
    [listed] = call("GET", "/_double/messages")["messages"]
    assert (listed["to"], listed["template"], listed["callback"]) == ("5511977776666", "odys_reminder_24h", sent)
    assert call("POST", "/_double/reset") == {"ok": True} and call("GET", "/_double/messages") == {"messages": []}
