"""The daily housekeeping (functions/cron_housekeeping, odys.housekeeping) through its handler with the event
EventBridge Scheduler delivers (the target's Input, ``{"scheduledTime": "<aws.scheduler.scheduled-time>"}``):
recurring horizons extended, retention applied, a second run does nothing; the GET routes no longer write."""

from __future__ import annotations

import datetime as dt

from test_recurring import UTC, created_series, frozen, ny, occurrences  # noqa: F401 - fixtures

from devtools import lambdas
from odys import db

HOUSEKEEPING_INPUT = '{"scheduledTime": "<aws.scheduler.scheduled-time>"}'


def scheduler_event(when: str) -> dict:
    """What the scheduler delivers for our Input template: the placeholder replaced by the scheduled time."""
    import json

    return json.loads(HOUSEKEEPING_INPUT.replace("<aws.scheduler.scheduled-time>", when))


def old_retained_rows() -> None:
    """Past their retention on 2026-10-27 (the runs below): a 40-day-old Stripe event, an 8-day-old orphan status."""
    db.run("INSERT INTO stripe_events (id, type, processed_at) VALUES ('evt_old', 'x', '2026-09-17T10:00:00Z'), "
           "('evt_new', 'x', '2026-10-20T10:00:00Z')")
    db.run("INSERT INTO whatsapp_statuses (provider_message_id, status, occurred_at, received_at) VALUES "
           "('wamid.old', 'sent', '2026-10-18T10:00:00Z', '2026-10-19T10:00:00Z')")


def test_one_run_extends_the_series_and_purges_and_a_second_run_does_nothing(api, ny, frozen, log_lines):
    token, _, client = ny
    body = created_series(api, token, client["id"])
    assert len(occurrences(body["id"])) == 8
    old_retained_rows()
    frozen["now"] = dt.datetime(2026, 10, 27, 10, 31, tzinfo=UTC)   # a minute after the 07:30 São Paulo run

    first = lambdas.invoke("cron_housekeeping", scheduler_event("2026-10-27T10:30:00Z"))
    assert first == {"scheduledTime": "2026-10-27T10:30:00+00:00",
                     "recurring": {"schedules": 1, "created": 1, "skipped": 0, "failed": 0},
                     "purged": {"idempotency_keys": 0, "stripe_events": 1, "notifications": 0,
                                "whatsapp_statuses": 1, "deletion_audit": 0}}
    rows = occurrences(body["id"])
    assert len(rows) == 9 and rows[-1]["starts_at"] == dt.datetime(2026, 12, 21, 15, tzinfo=UTC)
    assert db.scalar("SELECT materialized_until FROM recurring_schedules") == dt.date(2026, 12, 22)
    assert [r[0] for r in db.run("SELECT id FROM stripe_events")] == ["evt_new"]

    again = lambdas.invoke("cron_housekeeping", scheduler_event("2026-10-27T10:30:00Z"))   # a retry, same day
    assert again["recurring"] == {"schedules": 0, "created": 0, "skipped": 0, "failed": 0}
    assert set(again["purged"].values()) == {0}
    assert len(occurrences(body["id"])) == 9

    summaries = [line for line in log_lines() if line.get("message") == "daily housekeeping"]
    assert len(summaries) == 2 and summaries[0]["level"] == "INFO"
    assert summaries[0]["created_count"] == 1 and summaries[0]["purged_stripe_events"] == 1
    text = str(summaries)
    assert client["id"] not in text and "João" not in text and "+55" not in text


def test_the_scheduled_time_not_the_wall_clock_decides_the_horizon(api, ny, frozen):
    token, _, client = ny
    body = created_series(api, token, client["id"])
    frozen["now"] = dt.datetime(2026, 11, 10, 18, tzinfo=UTC)   # a run delivered late: still the day it was for
    done = lambdas.invoke("cron_housekeeping", scheduler_event("2026-10-27T10:30:00Z"))
    assert done["recurring"]["created"] == 1
    assert db.scalar("SELECT materialized_until FROM recurring_schedules") == dt.date(2026, 12, 22)
    assert len(occurrences(body["id"])) == 9
    manual = lambdas.invoke("cron_housekeeping", {})   # by hand, without Input: the clock
    assert manual["scheduledTime"] == "2026-11-10T18:00:00+00:00" and manual["recurring"]["created"] == 2


def test_the_get_routes_no_longer_write(api, ny, frozen):
    token, _, client = ny
    created_series(api, token, client["id"])
    frozen["now"] = dt.datetime(2026, 11, 17, 12, tzinfo=UTC)   # four weeks later, no housekeeping meanwhile
    before = db.scalar("SELECT count(*) FROM appointments")
    for path, query in (("/api/appointments", None), ("/api/appointments", {"clientId": client["id"]}),
                        ("/api/recurring-schedules", None)):
        assert api.get(path, token=token, query=query).status == 200, path
    assert db.scalar("SELECT count(*) FROM appointments") == before == 8
    assert db.scalar("SELECT materialized_until FROM recurring_schedules") == dt.date(2026, 12, 15)
    assert lambdas.invoke("cron_housekeeping", scheduler_event("2026-11-17T10:30:00Z"))["recurring"]["created"] == 4


def test_template_schedules_it_at_0730_sao_paulo_with_retries_and_a_dead_letter_queue():
    function = lambdas.load_template()["Resources"]["HousekeepingFunction"]["Properties"]
    assert function["CodeUri"] == "functions/cron_housekeeping/"
    assert function["Timeout"] >= 300
    [event] = function["Events"].values()
    assert event["Type"] == "ScheduleV2"
    schedule = event["Properties"]
    assert schedule["ScheduleExpression"] == "cron(30 7 * * ? *)"
    assert schedule["ScheduleExpressionTimezone"] == "America/Sao_Paulo"
    assert schedule["OmitName"] is True and "Name" not in schedule
    assert schedule["Input"] == HOUSEKEEPING_INPUT
    assert schedule["RetryPolicy"]["MaximumRetryAttempts"] >= 1
    assert schedule["DeadLetterConfig"] == {"Type": "SQS"}
    # nothing but the database: no queue to send to
    assert function["Policies"] == [{"AWSSecretsManagerGetSecretValuePolicy": {"SecretArn": {"Ref": "SecretsArn"}}}]
