"""The WhatsApp outbox: rows queued in the caller's transaction reach SQS (moto's server) only after commit, once;
dedupe keys; SQS failures left to the sweep; the sweep's choice of rows; the dev poller's event source mapping."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time

import pytest

from booking_helpers import add_client, professional_id
from devtools import lambdas
from devtools.local_sqs import LocalQueue, Poller, sender_route, unique_name

PARAMS = {"professional_name": "Ana Souza", "plan": "Pro"}  # msgSubscriptionActivated


def drain(local: LocalQueue, url: str | None = None) -> list[str]:
    """Every message id body on the queue (each received once: hidden for a minute)."""
    client, ids = local.client(), []
    while True:
        got = client.receive_message(QueueUrl=url or local.url, MaxNumberOfMessages=10, VisibilityTimeout=60,
                                     WaitTimeSeconds=0).get("Messages") or []
        if not got:
            return ids
        ids += [json.loads(m["Body"]).get("messageId", m["Body"]) for m in got]


@pytest.fixture
def pro():
    """Ana's professionals row, written directly: these tests are about the outbox, not onboarding."""
    from odys import db

    db.run("INSERT INTO professionals (user_id, name, slug, phone, email, profession) "
           "VALUES ('outbox-user', 'Ana Souza', 'ana-psi', '+5511987654321', 'ana@example.com', 'Psicóloga')")
    return professional_id()


def queue_activation(pid: str, **kw):
    from odys import outbox

    return outbox.queue(professional_id=pid, template="msgSubscriptionActivated", params=dict(PARAMS),
                        recipient="professional", to_phone="+5511987654321", **kw)


def test_rolled_back_queue_leaves_no_row_and_sends_nothing(sqs, pro):
    from odys import db

    with pytest.raises(RuntimeError), db.transaction():
        assert queue_activation(pro) is not None
        raise RuntimeError("the event failed")
    assert db.scalar("SELECT count(*) FROM messages") == 0
    assert drain(sqs) == []


def test_committed_queue_is_on_sqs_exactly_once_after_commit(sqs, pro):
    from odys import db
    from odys.store import messages

    with db.transaction():
        message_id = queue_activation(pro, dedupe_key="activated:1")
        assert drain(sqs) == []  # not before the commit
        assert messages.outbox_row(message_id)["enqueued_at"] is not None  # stamped with the row: no UPDATE after
    assert drain(sqs) == [message_id]
    row = messages.outbox_row(message_id)
    assert row["status"] == "queued" and row["enqueued_at"] is not None and row["recipient"] == "professional"
    assert row["template"] == "msgSubscriptionActivated" and row["params"] == PARAMS and row["locale"] == "pt-BR"
    assert "Ana Souza" in row["body"] and "Pro" in row["body"] and row["automatic"] is True
    assert drain(sqs) == []


def test_one_transaction_enqueues_its_messages_together_and_a_rollback_leaks_none(sqs, pro):
    from odys import db
    from odys.store import messages

    with pytest.raises(RuntimeError), db.transaction():
        queue_activation(pro)
        raise RuntimeError("rolled back")
    with db.transaction():
        ids = [queue_activation(pro) for _ in range(3)]
    assert sorted(drain(sqs)) == sorted(ids)  # not the rolled-back one
    assert len({messages.outbox_row(i)["enqueued_at"] for i in ids}) == 1  # one batch, stamped once


def test_outside_a_transaction_the_row_commits_and_is_enqueued_at_once(sqs, pro):
    message_id = queue_activation(pro)
    assert drain(sqs) == [message_id]


def test_a_dedupe_key_makes_the_second_queue_a_no_op(sqs, pro):
    from odys import db

    with db.transaction():
        first = queue_activation(pro, dedupe_key="activated:pro")
        assert queue_activation(pro, dedupe_key="activated:pro") is None  # same transaction
    with db.transaction():
        assert queue_activation(pro, dedupe_key="activated:pro") is None  # a later event
    assert first is not None and drain(sqs) == [first]
    assert db.scalar("SELECT count(*) FROM messages") == 1


def test_invalid_params_or_recipient_write_nothing(sqs, pro):
    from odys import db, outbox
    from odys.message_templates import TemplateError

    with pytest.raises(TemplateError):
        outbox.queue(professional_id=pro, template="msgSubscriptionActivated", params={"plan": "Pro"},
                     recipient="professional", to_phone="+5511987654321")
    with pytest.raises(ValueError):
        outbox.queue(professional_id=pro, template="msgSubscriptionActivated", params=dict(PARAMS),
                     recipient="client", to_phone="+5511987654321", client_id=add_client())
    assert db.scalar("SELECT count(*) FROM messages") == 0 and drain(sqs) == []


def test_queue_text_is_a_free_form_client_message(sqs, pro):
    from odys import db, outbox
    from odys.store import messages

    client_id = add_client("+5511955554444")
    with db.transaction():
        message_id = outbox.queue_text(professional_id=pro, client_id=client_id, to_phone="+5511955554444",
                                       body="  Até amanhã!  ", locale="en-US")
    row = messages.outbox_row(message_id)
    assert (row["template"], row["body"], row["recipient"], row["automatic"], row["locale"]) == (
        None, "Até amanhã!", "client", False, "en")
    assert drain(sqs) == [message_id]
    with pytest.raises(ValueError):
        outbox.queue_text(professional_id=pro, client_id=client_id, to_phone="+5511955554444", body="   ")


def test_an_sqs_failure_at_enqueue_is_logged_and_the_sweep_sends_it(sqs, pro, monkeypatch, log_lines):
    from odys import clock, db, outbox, queue
    from odys.store import messages

    monkeypatch.setenv("WHATSAPP_QUEUE_URL", sqs.url + "-gone")  # SQS answers NonExistentQueue
    with db.transaction():
        message_id = queue_activation(pro)
    assert message_id is not None  # the request's transaction committed anyway
    failures = [line for line in log_lines() if line["message"] == "whatsapp enqueue failed"]
    assert failures and failures[0]["level"] == "ERROR"
    assert "+5511987654321" not in json.dumps(log_lines())
    assert messages.outbox_row(message_id)["enqueued_at"] is None and drain(sqs) == []

    monkeypatch.setenv("WHATSAPP_QUEUE_URL", sqs.url)
    queue.reset_client()
    now = clock.now()
    assert outbox.sweep(now) == {"claimed": 0, "enqueued": 0}  # a minute for its own enqueue first
    later = now + dt.timedelta(minutes=2)
    assert outbox.sweep(later) == {"claimed": 1, "enqueued": 1}
    assert drain(sqs) == [message_id]
    assert messages.outbox_row(message_id)["enqueued_at"] == later
    assert outbox.sweep(later + dt.timedelta(minutes=1)) == {"claimed": 0, "enqueued": 0}


def test_without_a_queue_url_the_row_waits_for_the_sweep(sqs, pro, monkeypatch, log_lines):
    from odys.store import messages

    monkeypatch.delenv("WHATSAPP_QUEUE_URL")
    message_id = queue_activation(pro)
    assert [line["level"] for line in log_lines()
            if line["message"] == "whatsapp enqueue failed: WHATSAPP_QUEUE_URL is not configured"] == ["ERROR"]
    row = messages.outbox_row(message_id)
    assert row["status"] == "queued" and row["enqueued_at"] is None and drain(sqs) == []


def test_a_failing_sweep_gives_its_rows_back(sqs, pro, monkeypatch):
    from odys import clock, db, outbox
    from odys.store import messages

    monkeypatch.setenv("WHATSAPP_QUEUE_URL", sqs.url + "-gone")
    message_id = queue_activation(pro)
    later = clock.now() + dt.timedelta(minutes=2)
    assert outbox.sweep(later) == {"claimed": 1, "enqueued": 0}
    assert messages.outbox_row(message_id)["enqueued_at"] is None  # the next sweep takes it again
    monkeypatch.setenv("WHATSAPP_QUEUE_URL", sqs.url)
    assert outbox.sweep(later) == {"claimed": 1, "enqueued": 1} and drain(sqs) == [message_id]
    assert db.scalar("SELECT count(*) FROM messages") == 1


def test_the_sweep_takes_only_stale_queued_rows(sqs, pro, monkeypatch):
    from odys import clock, db, outbox

    monkeypatch.setenv("WHATSAPP_QUEUE_URL", sqs.url + "-gone")  # rows never enqueued unless the test says so
    now = clock.now()
    ago = lambda minutes: now - dt.timedelta(minutes=minutes)  # noqa: E731
    rows = {}
    for name, created, enqueued, status in [
        ("never_enqueued_old", ago(2), None, "queued"),
        ("enqueued_long_ago", ago(30), ago(10), "queued"),
        ("just_created", ago(0.5), None, "queued"),
        ("enqueued_recently", ago(30), ago(2), "queued"),
        ("already_sent", ago(30), ago(10), "sent"),
        ("failed", ago(30), None, "failed"),
    ]:
        rows[name] = queue_activation(pro)
        db.run("UPDATE messages SET created_at = :c, enqueued_at = :e, status = :s WHERE id = :id",
               c=created, e=enqueued, s=status, id=rows[name])
    monkeypatch.setenv("WHATSAPP_QUEUE_URL", sqs.url)
    assert outbox.sweep(now) == {"claimed": 2, "enqueued": 2}
    assert sorted(drain(sqs)) == sorted([rows["never_enqueued_old"], rows["enqueued_long_ago"]])


def test_the_sweep_works_in_bounded_batches_oldest_first(sqs, pro, monkeypatch):
    from odys import clock, db, outbox

    monkeypatch.setattr(outbox, "SWEEP_BATCH", 3)
    monkeypatch.setattr(outbox, "SWEEP_MAX_BATCHES", 2)
    monkeypatch.setenv("WHATSAPP_QUEUE_URL", sqs.url + "-gone")
    now = clock.now()
    ids = [queue_activation(pro) for _ in range(8)]
    for minutes, message_id in enumerate(ids):
        db.run("UPDATE messages SET created_at = :c WHERE id = :id", c=now - dt.timedelta(minutes=60 - minutes),
               id=message_id)
    monkeypatch.setenv("WHATSAPP_QUEUE_URL", sqs.url)
    assert outbox.sweep(now) == {"claimed": 6, "enqueued": 6}
    assert sorted(drain(sqs)) == sorted(ids[:6])
    assert outbox.sweep(now) == {"claimed": 2, "enqueued": 2}
    assert sorted(drain(sqs)) == sorted(ids[6:])


def test_the_sweep_function_runs_on_a_scheduler_event(sqs, pro, monkeypatch):
    from odys import db

    message_id = queue_activation(pro)
    drain(sqs)
    db.run("UPDATE messages SET created_at = now() - interval '1 hour', enqueued_at = now() - interval '6 minutes'")
    event = {"version": "0", "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa", "detail-type": "Scheduled Event",
             "source": "aws.scheduler", "account": "123456789012", "time": "2026-12-02T00:05:00Z",
             "region": "us-east-1", "resources": ["arn:aws:scheduler:us-east-1:123456789012:schedule/default/x"],
             "detail": {}}
    assert lambdas.invoke("whatsapp_sweep", event) == {"claimed": 1, "enqueued": 1}
    assert drain(sqs) == [message_id]


def test_template_declares_the_queue_the_dlq_the_sweep_and_the_producers_policies():
    template = lambdas.load_template()
    resources = template["Resources"]
    assert template["Globals"]["Function"]["Environment"]["Variables"]["WHATSAPP_QUEUE_URL"] == {"Ref": "WhatsAppQueue"}
    queue_props = resources["WhatsAppQueue"]["Properties"]
    assert queue_props["RedrivePolicy"] == {"deadLetterTargetArn": {"GetAtt": "WhatsAppDeadLetterQueue.Arn"},
                                            "maxReceiveCount": 5}
    sender = sender_route(template)
    if sender is not None:  # the visibility timeout stays above 6 x the sender's Timeout
        assert queue_props["VisibilityTimeout"] >= 6 * sender[0].timeout
    sweep = resources["WhatsAppSweepFunction"]["Properties"]
    assert [e["Properties"]["ScheduleExpression"] for e in sweep["Events"].values()] == ["rate(5 minutes)"]
    policy = {"SQSSendMessagePolicy": {"QueueName": {"GetAtt": "WhatsAppQueue.QueueName"}}}
    producers = {"booking", "booking_manage", "appointments", "appointment", "recurring_schedules",
                 "recurring_schedule", "account", "stripe_webhook", "whatsapp_webhook", "messages", "whatsapp_sweep"}
    for resource in resources.values():
        props = resource.get("Properties") or {}
        name = lambdas.function_name(props.get("CodeUri", "")) if resource["Type"] == "AWS::Serverless::Function" else ""
        if name in producers:
            assert policy in props["Policies"], name


def test_importing_the_outbox_loads_neither_boto3_nor_the_templates():
    # (Powertools itself imports the bare ``botocore`` package, ~1 ms, for its user agent: not its client.)
    code = ("import sys, odys.outbox; heavy = [m for m in ('boto3', 'botocore.session', 'botocore.client', "
            "'odys.message_templates') if m in sys.modules]; print(','.join(heavy))")
    env = {**os.environ, "PYTHONPATH": str(lambdas.ROOT / "layers" / "shared")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


# --- the dev server's event source mapping ---------------------------------------------------------------------


def test_the_poller_deletes_successes_retries_failures_and_the_dlq_takes_them_after_5_receives(moto_sqs):
    local = moto_sqs.create(unique_name())
    client = local.client()
    for message_id in ("ok-1", "ok-2", "fails"):
        client.send_message(QueueUrl=local.url, MessageBody=json.dumps({"messageId": message_id}),
                            MessageAttributes={"kind": {"DataType": "String", "StringValue": "test"}})
    events: list[dict] = []

    def sender(event):  # the stand-in function: every record of "fails" is a batch item failure
        events.append(event)
        return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in event["Records"]
                                      if json.loads(r["body"])["messageId"] == "fails"]}

    poller = Poller(local, sender, batch_size=10, wait_seconds=1).start()
    dead_letters: list[str] = []
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not dead_letters:
            time.sleep(0.3)
            dead_letters = drain(local, local.dlq_url)
    finally:
        poller.stop()
    assert dead_letters == ["fails"]
    record = events[0]["Records"][0]
    assert set(record) == {"messageId", "receiptHandle", "body", "attributes", "messageAttributes", "md5OfBody",
                           "eventSource", "eventSourceARN", "awsRegion"}
    assert record["eventSource"] == "aws:sqs" and record["eventSourceARN"] == local.arn
    assert record["messageAttributes"]["kind"]["stringValue"] == "test"
    bodies = [json.loads(r["body"])["messageId"] for e in events for r in e["Records"]]
    assert bodies.count("ok-1") == 1 and bodies.count("ok-2") == 1  # deleted after their first delivery
    assert bodies.count("fails") == 5  # redelivered until maxReceiveCount, then moved to the DLQ
    counts = [int(r["attributes"]["ApproximateReceiveCount"]) for e in events for r in e["Records"]
              if json.loads(r["body"])["messageId"] == "fails"]
    assert counts == [1, 2, 3, 4, 5]
    assert drain(local) == []


def test_a_function_error_or_an_invalid_answer_retries_the_whole_batch(moto_sqs):
    local = moto_sqs.create(unique_name())
    client = local.client()
    client.send_message(QueueUrl=local.url, MessageBody=json.dumps({"messageId": "a"}))
    client.send_message(QueueUrl=local.url, MessageBody=json.dumps({"messageId": "b"}))

    def crashes(event):
        raise lambdas.InvocationFailed(500, "function_error", "The function raised RuntimeError.")

    poller = Poller(local, crashes, wait_seconds=1)
    received = 0
    while received < 2:
        received += poller.poll_once()[0]
    time.sleep(1.2)  # the visibility timeout
    invalid = Poller(local, lambda event: {"batchItemFailures": [{"itemIdentifier": "not-in-the-batch"}]},
                     wait_seconds=1)
    got = deleted = 0
    while got < 2:
        batch = invalid.poll_once()
        got, deleted = got + batch[0], deleted + batch[1]
    assert deleted == 0
    time.sleep(1.2)
    assert sorted(drain(local)) == ["a", "b"]  # neither was deleted


def test_without_a_whatsapp_sender_the_dev_server_starts_the_queue_but_no_poller(monkeypatch):
    from devtools import server

    template = lambdas.load_template()
    template["Resources"] = {k: v for k, v in template["Resources"].items()
                             if lambdas.function_name((v.get("Properties") or {}).get("CodeUri", "")) != "whatsapp_sender"}
    assert sender_route(template) is None
    monkeypatch.setattr("devtools.local_sqs.sender_route", lambda: sender_route(template))
    for key in LocalQueue().environment():
        monkeypatch.setenv(key, "placeholder")  # restored after the test
    httpd = server.DevHTTPServer(("127.0.0.1", 0), routes=[])
    stops: list = []
    try:
        banner = server._start_local_queue(httpd, stops)
        assert "no whatsapp_sender function yet" in banner and len(stops) == 1
        assert os.environ["WHATSAPP_QUEUE_URL"].endswith("/odys-whatsapp")
        import boto3

        sqs = boto3.client("sqs")  # the workers' view: endpoint and credentials from the environment only
        attributes = sqs.get_queue_attributes(QueueUrl=os.environ["WHATSAPP_QUEUE_URL"],
                                              AttributeNames=["RedrivePolicy"])["Attributes"]
        assert json.loads(attributes["RedrivePolicy"])["maxReceiveCount"] in (5, "5")
    finally:
        for stop in reversed(stops):
            stop()
        httpd.server_close()


def test_the_dev_poller_feeds_whatsapp_sender_through_its_worker_pool(moto_sqs):
    """The wiring of `make dev`: records reach the real function in a worker process; what it finishes is deleted."""
    sender = sender_route()
    if sender is None:
        pytest.skip("functions/whatsapp_sender is not there yet")
    route, batch_size = sender
    local = moto_sqs.create(unique_name())
    client = local.client()
    client.send_message(QueueUrl=local.url, MessageBody="{}")  # names no message: logged and dropped
    client.send_message(QueueUrl=local.url, MessageBody=json.dumps({"messageId": "8f7e0a52-5d8e-4a36-9d0c-1c2b3a4d5e6f"}))
    workers = lambdas.Workers(max_workers=1)
    try:
        poller = Poller(local, lambda event: workers.invoke(route, event), batch_size=batch_size, wait_seconds=1)
        received = deleted = 0
        deadline = time.monotonic() + 60
        while received < 2 and time.monotonic() < deadline:
            got, gone = poller.poll_once()
            received, deleted = received + got, deleted + gone
    finally:
        workers.close()
    assert (received, deleted) == (2, 2)
    time.sleep(1.2)
    assert drain(local) == [] and drain(local, local.dlq_url) == []


def test_a_row_whose_enqueue_never_ran_is_sent_by_the_sweep_once_stale(sqs, pro, monkeypatch):
    """The function died between its COMMIT and SQS: the row is stamped, so the sweep sends it STALE later."""
    from odys import clock, db, outbox

    monkeypatch.setattr(outbox, "enqueue", lambda ids: 0)  # the environment froze right after the commit
    with db.transaction():
        message_id = queue_activation(pro)
    assert drain(sqs) == []
    now = clock.now()
    assert outbox.sweep(now + dt.timedelta(minutes=2)) == {"claimed": 0, "enqueued": 0}  # maybe still on its way
    assert outbox.sweep(now + dt.timedelta(minutes=6)) == {"claimed": 1, "enqueued": 1}
    assert drain(sqs) == [message_id]
