"""cron_watchdog through its handler, with the event EventBridge Scheduler delivers (the target's Input from
template.yaml, ``<aws.scheduler.scheduled-time>`` filled in), moto's SQS (queue + DLQ) and the Cloud API double:
failed deliveries told once a day, the token check (loud when invalid, resuming a 190 pause when valid), stuck
rows re-enqueued, the dead-letter depth, and a summary line without personal data."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import sys

import pytest
from conftest import WA_PHONE_NUMBER_ID, WA_TOKEN

from booking_helpers import add_appointment, add_client, professional_id
from devtools import lambdas
from devtools.local_sqs import Poller

TOKEN, PHONE_NUMBER_ID = WA_TOKEN, WA_PHONE_NUMBER_ID
UTC = dt.timezone.utc
PRO_PHONE = "+5511987654321"  # Ana's (conftest.onboarding_body)


_sqs = None  # this test's queue pair (the sqs fixture)


@pytest.fixture
def wa(wa, sqs):
    """The shared double; this test's queue pair remembered for the helpers."""
    global _sqs
    _sqs = sqs
    return wa


@pytest.fixture
def ana(wa, professional):
    """Ana onboarded (her welcome message queued and enqueued), the queue then emptied."""
    sqs_client().purge_queue(QueueUrl=_sqs.url)
    return professional_id()


def sqs_client():
    return _sqs.client()


def scheduler_event(at: dt.datetime) -> dict:
    """The Input template.yaml gives the 09:00 schedule, as the scheduler delivers it at ``at``."""
    for resource in lambdas.load_template()["Resources"].values():
        if (resource.get("Properties") or {}).get("CodeUri", "").rstrip("/") == "functions/cron_watchdog":
            schedule = next(e for e in resource["Properties"]["Events"].values() if e["Type"] == "ScheduleV2")
            props = schedule["Properties"]
            assert props["ScheduleExpression"] == "cron(0 9 * * ? *)"
            assert props["ScheduleExpressionTimezone"] == "America/Sao_Paulo"
            stamp = at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            return json.loads(props["Input"].replace("<aws.scheduler.scheduled-time>", stamp))
    raise AssertionError("template.yaml has no cron_watchdog function")


def nine_today() -> dt.datetime:
    """Today's 09:00 in São Paulo (12:00 UTC), the last scheduled time not after now — or yesterday's."""
    now = dt.datetime.now(UTC)
    nine = now.replace(hour=12, minute=0, second=0, microsecond=0)
    return nine if nine <= now else nine - dt.timedelta(days=1)


def run(at: dt.datetime | None = None) -> dict:
    return lambdas.invoke("cron_watchdog", scheduler_event(at or nine_today()))


def failed_delivery(name: str, phone: str, *, failed_at: dt.datetime, starts_at: dt.datetime | None = None) -> str:
    """A client's reminder that the Cloud API refused (Meta's 131026), as the sender records it."""
    from odys import outbox
    from odys.store import messages

    starts_at = starts_at or failed_at + dt.timedelta(days=1)
    client_id = add_client(phone, name)
    appointment_id = add_appointment(starts_at, client_id=client_id)
    message_id = outbox.queue(
        professional_id=professional_id(), template="msgReminder24h", recipient="client", to_phone=phone,
        client_id=client_id, appointment_id=appointment_id, appointment_starts_at=starts_at,
        params={"client_name": name, "professional_name": "Ana Souza",
                "date_time": "terça-feira, 3 de dezembro às 14:30", "manage_link": "https://app.odys.com.br/b/x"})
    messages.mark_failed(message_id, code=131026, error="Message undeliverable", at=failed_at)
    return message_id


def notices() -> list[dict]:
    from odys import db

    return db.all("SELECT kind, title, body, client_id::text, dedupe_key FROM notifications "
                  "WHERE kind = 'whatsapp_delivery_failed'")


def delivery_failed_rows() -> list[dict]:
    from odys import db

    return db.all("SELECT id::text, params, to_phone, recipient, status, dedupe_key FROM messages "
                  "WHERE template = 'msgWhatsappDeliveryFailed'")


def queued_ids() -> list[str]:
    client, ids = sqs_client(), []
    while True:
        got = client.receive_message(QueueUrl=_sqs.url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                     VisibilityTimeout=30).get("Messages") or []
        if not got:
            return ids
        ids += [json.loads(m["Body"])["messageId"] for m in got]


def pause(until: dt.datetime, code: int) -> None:
    from odys.store import messages

    messages.pause_sending(until, code=code, reason="Error validating access token")


def paused_until() -> dt.datetime | None:
    from odys import db

    return db.scalar("SELECT paused_until FROM whatsapp_state")


def emf(out: str, name: str) -> list[dict]:
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{") and '"_aws"' in line]
    return [line for line in lines if any(m["Name"] == name for d in line["_aws"]["CloudWatchMetrics"]
                                          for m in d["Metrics"])]


# --- failed deliveries ----------------------------------------------------------------------------------------

def test_a_failed_delivery_leads_to_one_notice_and_one_whatsapp_message_once_a_day(ana, wa, sqs):
    scheduled = nine_today()
    failed_delivery("Bia Lima", "+5511955550001", failed_at=scheduled - dt.timedelta(hours=3))
    failed_delivery("Caio Reis", "+5511955550002", failed_at=scheduled - dt.timedelta(hours=2))
    failed_delivery("Old Failure", "+5511955550003", failed_at=scheduled - dt.timedelta(hours=30))  # yesterday's run
    queued_ids()  # what queueing those put on SQS

    summary = run(scheduled)

    assert summary["failed"] == 2 and summary["professionalsFailed"] == 1
    assert summary["notified"] == 1 and summary["whatsappNotices"] == 1 and summary["tokenValid"] is True
    [notice] = notices()
    assert "Bia Lima e Caio Reis" in notice["body"] and notice["client_id"] is None
    [row] = delivery_failed_rows()
    assert row["recipient"] == "professional" and row["to_phone"] == PRO_PHONE
    assert row["params"]["client_name"] == "Bia Lima e Caio Reis"
    assert row["params"]["professional_name"] == "Ana Souza"
    assert row["params"]["date_time"].endswith("e mais 1")
    assert queued_ids() == [row["id"]]  # enqueued after its commit

    # the sender delivers it to the Cloud API stand-in with Meta's template
    from odys import outbox

    outbox.enqueue([row["id"]])  # queued_ids() above took its first SQS message
    poller = Poller(sqs, lambda event: lambdas.invoke("whatsapp_sender", event), wait_seconds=0)
    poller.poll_once()
    sent = wa.find(to=PRO_PHONE)
    assert sent.template == "odys_whatsapp_delivery_failed" and sent.params["client_name"] == "Bia Lima e Caio Reis"

    # the scheduler's retry, a later run the same day, even with a new failure: nothing more
    failed_delivery("Dani Alves", "+5511955550004", failed_at=scheduled + dt.timedelta(hours=1))
    for again in (scheduled, scheduled + dt.timedelta(hours=2)):
        summary = run(again)
        assert summary["notified"] == 0 and summary["whatsappNotices"] == 0
    assert len(notices()) == 1 and len(delivery_failed_rows()) == 1

    # the next day's run tells the next day's failures
    summary = run(scheduled + dt.timedelta(days=1))
    assert summary["notified"] == 1 and summary["whatsappNotices"] == 1
    assert len(notices()) == 2 and delivery_failed_rows()[-1]["params"]["client_name"] == "Dani Alves"


def test_many_clients_are_named_in_one_line(ana, wa):
    scheduled = nine_today()
    for i, name in enumerate(["Bia Lima", "Caio Reis", "Dani Alves", "Edu Prado"]):
        failed_delivery(name, f"+551195555001{i}", failed_at=scheduled - dt.timedelta(hours=5 - i))

    run(scheduled)

    [row] = delivery_failed_rows()
    assert row["params"]["client_name"] == "Bia Lima, Caio Reis e mais 2"
    assert "\n" not in row["params"]["date_time"] and row["params"]["date_time"].endswith("e mais 3")


def test_a_single_failure_names_its_client_and_session(ana, wa):
    scheduled = nine_today()
    starts = scheduled + dt.timedelta(days=1, hours=5)  # 14:00 in São Paulo tomorrow
    failed_delivery("Bia Lima", "+5511955550001", failed_at=scheduled - dt.timedelta(hours=1), starts_at=starts)

    run(scheduled)

    [row] = delivery_failed_rows()
    assert row["params"]["client_name"] == "Bia Lima" and row["params"]["date_time"].endswith("às 14:00")
    [notice] = notices()
    assert notice["client_id"] is not None  # deleting the client deletes the notice about them


# --- the token and the number ---------------------------------------------------------------------------------

def test_an_invalid_token_is_loud_and_sends_no_whatsapp_notices(ana, wa, log_lines, capsys):
    scheduled = nine_today()
    failed_delivery("Bia Lima", "+5511955550001", failed_at=scheduled - dt.timedelta(hours=1))
    until = (dt.datetime.now(UTC) + dt.timedelta(minutes=10)).replace(microsecond=0)
    pause(until, 190)
    wa.set_token(valid=False)

    summary = run(scheduled)

    assert summary["tokenValid"] is False and summary["resumed"] is False and summary["tokenDaysLeft"] == 0
    errors = [line for line in log_lines() if line["message"] == "whatsapp token invalid"]
    assert errors and errors[0]["level"] == "ERROR" and errors[0]["code"] == 190
    assert emf(capsys.readouterr().out, "WhatsAppTokenInvalid")
    assert delivery_failed_rows() == []          # the channel cannot deliver it
    assert len(notices()) == 1                    # the in-app notice still
    assert paused_until() == until                # the pause is kept


def test_a_token_without_the_messaging_scope_is_invalid(ana, wa, log_lines):
    wa.set_token(scopes=["whatsapp_business_management"])

    summary = run()

    assert summary["tokenValid"] is False
    [error] = [line for line in log_lines() if line["message"] == "whatsapp token invalid"]
    assert error["missing_scope"] == "whatsapp_business_messaging"


def test_a_valid_token_resumes_sending_paused_by_error_190(ana, wa, log_lines):
    pause(dt.datetime.now(UTC) + dt.timedelta(minutes=10), 190)

    summary = run()

    assert summary["resumed"] is True and summary["tokenValid"] is True and summary["health"] == "AVAILABLE"
    assert paused_until() <= dt.datetime.now(UTC)
    assert any(line["message"] == "whatsapp sending resumed" for line in log_lines())
    from odys.store import messages
    assert messages.sending_paused_until(dt.datetime.now(UTC)) is None


def test_a_pause_for_a_restriction_is_not_lifted_by_a_valid_token(ana, wa):
    until = (dt.datetime.now(UTC) + dt.timedelta(minutes=15)).replace(microsecond=0)
    pause(until, 368)

    assert run()["resumed"] is False
    assert paused_until() == until


def test_the_token_expiry_and_a_blocked_number_are_reported(ana, wa, log_lines, capsys):
    wa.set_token(expires_in_days=3)
    wa.health = "BLOCKED"
    pause(dt.datetime.now(UTC) + dt.timedelta(minutes=10), 190)

    summary = run()

    assert 2.9 <= summary["tokenDaysLeft"] <= 3.0 and summary["health"] == "BLOCKED"
    assert summary["resumed"] is False  # a blocked number cannot send anyway
    [health] = [line for line in log_lines() if line["message"] == "whatsapp number health"]
    assert health["level"] == "ERROR" and health["health"] == "BLOCKED"
    [days] = emf(capsys.readouterr().out, "WhatsAppTokenDaysLeft")
    assert 2.9 <= days["WhatsAppTokenDaysLeft"][0] <= 3.0
    assert [r.path for r in wa.requests] == ["/v24.0/debug_token", f"/v24.0/{PHONE_NUMBER_ID}"]
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in wa.requests)


# --- stuck messages and the dead-letter queue -----------------------------------------------------------------

def test_stuck_queued_messages_are_enqueued_again(ana, wa):
    from odys import db, outbox

    client_id = add_client("+5511955550001", "Bia Lima")
    message_id = outbox.queue_text(professional_id=professional_id(), client_id=client_id,
                                   to_phone="+5511955550001", body="Até amanhã!")
    db.run("UPDATE messages SET created_at = now() - interval '2 hours', enqueued_at = now() - interval '2 hours' "
           "WHERE id = :id", id=message_id)
    queued_ids()  # its first SQS message was lost

    summary = run()

    assert summary["requeued"] == 1 and summary["queued"] >= 1
    assert message_id in queued_ids()


def test_the_dead_letter_depth_is_read(ana, wa, sqs):
    assert os.environ["WHATSAPP_DLQ_URL"] == sqs.dlq_url  # as under make dev (devtools.local_sqs)
    for i in range(2):
        sqs_client().send_message(QueueUrl=sqs.dlq_url, MessageBody=json.dumps({"messageId": f"m{i}"}))

    assert run()["dlqDepth"] == 2


# --- the summary ------------------------------------------------------------------------------------------------

def test_the_summary_line_holds_counts_and_no_personal_data(ana, wa, log_lines, capsys):
    scheduled = nine_today()
    failed_delivery("Bia Lima", "+5511955550001", failed_at=scheduled - dt.timedelta(hours=1))

    run(scheduled)

    lines = log_lines()
    [summary] = [line for line in lines if line["message"] == "whatsapp watchdog"]
    for key in ("requeued", "queued", "sent", "failed", "notified", "whatsapp_notices", "dlq_depth",
                "credential_days_left", "credential_valid", "health", "scheduled_time"):
        assert key in summary
    assert summary["failed"] == 1 and summary["notified"] == 1 and summary["dlq_depth"] == 0
    assert summary["credential_valid"] is True and summary["credential_days_left"] == "never"
    everything = json.dumps(lines, ensure_ascii=False) + capsys.readouterr().out
    for personal in ("Bia", "Lima", "Ana Souza", "5511955550001", "11955550001", "987654321", TOKEN):
        assert personal not in everything
    assert not re.search(r"\+55\d{10,11}", everything)
    assert emf(everything, "WhatsAppFailed") and emf(everything, "WhatsAppDeadLetterDepth")


@pytest.mark.parametrize("function", ["cron_watchdog", "cron_housekeeping", "cron_reminders"])
@pytest.mark.parametrize("event", [{}, {"detail-type": "Scheduled Event", "detail": {}}, {"scheduledTime": "garbage"}])
def test_a_scheduler_event_without_a_readable_time_runs_for_now_and_says_so(function, event, log_lines):
    result = lambdas.invoke(function, event)  # a console test invoke: no crash into the scheduler's retries
    assert isinstance(result, dict) and result["scheduledTime"]
    assert any("using the current time" in line["message"] for line in log_lines())


# --- make invoke FN=cron_watchdog against make dev ----------------------------------------------------------------

FAIL_ONE = """
import datetime as dt, sys
sys.path[:0] = ["layers/shared", "."]
from odys import clock, db
pid = db.scalar("SELECT id::text FROM professionals ORDER BY created_at LIMIT 1")
cid = db.scalar("INSERT INTO clients (professional_id, name, phone) VALUES (:p, 'Bia Lima', '+5511955550001') "
                "RETURNING id::text", p=pid)
# written as the sender leaves a failed send (not queued: the dev server's own sender would race to send it)
db.run("INSERT INTO messages (professional_id, client_id, direction, recipient, to_phone, body, status, automatic, "
       "error_code, error, failed_at) VALUES (:p, :c, 'outbound', 'client', '+5511955550001', 'Até amanhã!', "
       "'failed', false, 131026, 'Message undeliverable', :at)", p=pid, c=cid, at=clock.now() - dt.timedelta(hours=1))
print(pid)
"""


@pytest.fixture(scope="module")
def dev(make_dev):
    return make_dev


def test_make_invoke_cron_watchdog_tells_a_failed_delivery_once(dev):
    import subprocess
    import time
    import urllib.request

    from conftest import ROOT
    from test_dev_server_process import dev_environment

    environment = json.loads(dev.state.read_text())["environment"]
    made = subprocess.run([sys.executable, "-c", FAIL_ONE], cwd=ROOT, env={**dev_environment(), **environment},
                          capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr

    def invoke() -> dict:
        done = subprocess.run(["make", "-s", "invoke", "FN=cron_watchdog"], cwd=ROOT, capture_output=True, text=True,
                              env={**dev_environment(), "ODYS_DEV_STATE": str(dev.state)}, timeout=120)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    first = invoke()
    assert first["notified"] == 1 and first["whatsappNotices"] == 1 and first["tokenValid"] is True
    assert first["dlqDepth"] == 0
    assert invoke()["notified"] == 0  # the second run the same day adds none

    deadline = time.monotonic() + 30  # the dev poller hands it to whatsapp_sender, which sends it to the stand-in
    while True:
        with urllib.request.urlopen(environment["WHATSAPP_GRAPH_URL"] + "/_double/messages") as answer:
            sent = [m for m in json.load(answer)["messages"] if m["template"] == "odys_whatsapp_delivery_failed"]
        if sent or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert len(sent) == 1 and sent[0]["params"]["client_name"] == "Bia Lima"
