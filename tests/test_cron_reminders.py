"""cron_reminders through its handler with EventBridge Scheduler's event (the target Input
``{"scheduledTime": "<aws.scheduler.scheduled-time>"}``), against PostgreSQL and moto's SQS; the sender delivers
to the Cloud API double."""

from __future__ import annotations

import datetime as dt
import itertools
from zoneinfo import ZoneInfo

import pytest

from booking_helpers import add_client, professional_id
from devtools import lambdas
from devtools.local_sqs import Poller

from odys import db

UTC = dt.timezone.utc
SP, MANAUS = ZoneInfo("America/Sao_Paulo"), ZoneInfo("America/Manaus")
_phones = itertools.count(20_000_000)


def event(at: dt.datetime) -> dict:
    return {"scheduledTime": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}


def run(at: dt.datetime) -> dict:
    return lambdas.invoke("cron_reminders", event(at))


def soon() -> dt.datetime:
    """A scheduled time just ahead (so what the test inserts now was booked before the run)."""
    return (dt.datetime.now(UTC) + dt.timedelta(minutes=2)).replace(microsecond=0)


def local(day: dt.date, hour: int, tz: ZoneInfo = SP) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tz)


def tomorrow(at: dt.datetime, tz: ZoneInfo = SP) -> dt.date:
    return at.astimezone(tz).date() + dt.timedelta(days=1)


def appointment(starts_at: dt.datetime, *, pid: str | None = None, client_id: str | None = None,
                status: str = "confirmed", price: int = 0, payment: str = "unpaid") -> str:
    pid = pid or professional_id()
    client_id = client_id or str(db.scalar(
        "INSERT INTO clients (professional_id, name, phone) VALUES (:p, 'Bia Lima', :ph) RETURNING id",
        p=pid, ph=f"+55119{next(_phones)}"))
    return str(db.scalar(
        "INSERT INTO appointments (professional_id, client_id, starts_at, ends_at, status, price, payment_status) "
        "VALUES (:p, :c, :s, :e, :st, :price, :pay) RETURNING id", p=pid, c=client_id, s=starts_at,
        e=starts_at + dt.timedelta(minutes=50), st=status, price=price, pay=payment))


def queued(template: str) -> list[dict]:
    return db.all("SELECT id::text, appointment_id::text, appointment_starts_at, params, to_phone, enqueued_at, "
                  "status, skip_reason FROM messages WHERE template = :t ORDER BY created_at, enqueued_at",
                  t=template)


@pytest.fixture
def manaus(api, token_for):
    from conftest import onboarding_body

    result = api.post("/api/account", token=token_for(), json_body=onboarding_body(
        "leo-manaus", name="Leo Reis", phone="+5592987654321", timezone="America/Manaus"))
    assert result.status == 201, result.body
    return str(db.scalar("SELECT id FROM professionals WHERE slug = 'leo-manaus'"))


def deliver_all(sqs) -> None:
    poller = Poller(sqs, lambda e: lambdas.invoke("whatsapp_sender", e), wait_seconds=0)
    while poller.poll_once()[0]:
        pass


def test_one_reminder_per_appointment_delivered_with_the_local_time_and_a_second_run_queues_nothing(
        sqs, wa, professional):
    deliver_all(sqs)  # the welcome message of onboarding
    wa.sent.clear()
    at = soon()
    starts = local(tomorrow(at), 14)
    aid = appointment(starts)
    summary = run(at)
    assert summary["reminders"] == 1 and summary["enqueued"] >= 1
    assert summary["scheduledTime"] == event(at)["scheduledTime"]
    [row] = queued("msgReminder24h")
    assert (row["appointment_id"], row["appointment_starts_at"]) == (aid, starts)
    assert row["params"]["date_time"].endswith("às 14:00")
    deliver_all(sqs)
    [sent] = [s for s in wa.sent if s.template == "odys_reminder_24h"]
    assert sent.params["date_time"] == row["params"]["date_time"]
    assert sent.params["manage_link"].startswith("http") and len(sent.button_payloads) == 3
    assert db.scalar("SELECT reminder_sent_at FROM appointments WHERE id = :id", id=aid) is not None

    again = run(at)  # the scheduler's retry, or a second invocation the same day
    assert (again["reminders"], again["dailyAgendas"], again["enqueued"]) == (0, 0, 0)
    assert len(queued("msgReminder24h")) == 1


def test_manaus_and_sao_paulo_each_get_their_own_tomorrow(sqs, professional, manaus):
    # 03:30 UTC: already tomorrow's 00:30 in São Paulo, still 23:30 of the day before in Manaus
    base = dt.datetime.now(UTC) + dt.timedelta(days=1)
    at = dt.datetime.combine(base.date(), dt.time(3, 30), UTC)
    sp_day, manaus_day = tomorrow(at, SP), tomorrow(at, MANAUS)
    assert sp_day == manaus_day + dt.timedelta(days=1)
    sp_due = appointment(local(sp_day, 10, SP))
    appointment(local(manaus_day, 10, SP))            # São Paulo's today: not due
    manaus_due = appointment(local(manaus_day, 10, MANAUS), pid=manaus)
    appointment(local(sp_day, 10, MANAUS), pid=manaus)  # Manaus' day after tomorrow: not due
    assert run(at)["reminders"] == 2
    rows = {r["appointment_id"]: r for r in queued("msgReminder24h")}
    assert set(rows) == {sp_due, manaus_due}
    assert rows[manaus_due]["params"]["date_time"].endswith("às 10:00")  # the professional's local time


def test_cancelled_gets_none_and_one_booked_after_the_run_gets_none(sqs, professional):
    at = soon()
    appointment(local(tomorrow(at), 9), status="cancelled")
    appointment(local(tomorrow(at), 11), status="pending")
    assert run(at)["reminders"] == 1
    late = at - dt.timedelta(minutes=5)  # a run that happened before this booking: it already got its confirmation
    db.run("DELETE FROM messages")
    appointment(local(tomorrow(late), 15))
    assert run(late)["reminders"] == 0


def test_a_rescheduled_appointment_is_reminded_again_for_its_new_time_and_the_old_one_is_skipped(sqs, wa,
                                                                                              professional):
    deliver_all(sqs)
    at = soon()
    aid = appointment(local(tomorrow(at), 9))
    assert run(at)["reminders"] == 1
    db.run("UPDATE appointments SET starts_at = :s, ends_at = :e WHERE id = :id", id=aid,
           s=local(tomorrow(at), 16), e=local(tomorrow(at), 16) + dt.timedelta(minutes=50))
    assert run(at)["reminders"] == 1
    deliver_all(sqs)
    old, new = queued("msgReminder24h")
    assert old["status"] == "skipped" and old["skip_reason"] == "appointment_changed"
    assert new["status"] == "sent" and new["params"]["date_time"].endswith("às 16:00")


def test_one_client_with_two_appointments_gets_them_spaced(sqs, professional):
    at = soon()
    client = add_client("+5511955554444", "Carla Dias")
    appointment(local(tomorrow(at), 9), client_id=client)
    appointment(local(tomorrow(at), 15), client_id=client)
    assert run(at)["reminders"] == 2
    first, second = sorted(queued("msgReminder24h"), key=lambda r: r["enqueued_at"])
    assert second["enqueued_at"] - first["enqueued_at"] >= dt.timedelta(seconds=60)


def test_daily_agenda_payment_pending_and_trial_ending(sqs, professional, manaus):
    at = soon()
    today = at.astimezone(SP).date()
    appointment(local(today, 18))
    appointment(local(today, 20))
    db.run("UPDATE professionals SET pix_key_type = 'email', pix_key = 'ana@example.com' WHERE slug = 'ana-psi'")
    yesterday = local(today - dt.timedelta(days=1), 10)
    owed = appointment(yesterday, status="completed", price=15000)
    appointment(yesterday + dt.timedelta(hours=2), status="completed", price=15000, payment="paid")
    appointment(yesterday + dt.timedelta(hours=4), status="completed", price=0)
    db.run("UPDATE professionals SET plan = 'free', trial_ends_at = :t WHERE slug = 'leo-manaus'",
           t=local(at.astimezone(MANAUS).date() + dt.timedelta(days=3), 12, MANAUS))
    summary = run(at)
    assert (summary["dailyAgendas"], summary["paymentsPending"], summary["trialsEnding"]) == (1, 1, 1)
    [agenda] = queued("msgDailyAgenda")
    assert agenda["params"]["count"] == "2" and "18:00 com Bia Lima" in agenda["params"]["agenda"]
    assert f"/dashboard/agenda?date={today.isoformat()}" in agenda["params"]["agenda"]
    [payment] = queued("msgPaymentPending")
    assert payment["appointment_id"] == owed and payment["params"]["amount"] == "R$ 150,00"
    assert payment["params"]["pix_code"].startswith("000201")
    assert db.scalar("SELECT pix_txid FROM appointments WHERE id = :id", id=owed) is not None
    [trial] = queued("msgTrialEndingSoon")
    assert trial["to_phone"] == "+5592987654321"
    again = run(at)
    assert (again["dailyAgendas"], again["paymentsPending"], again["trialsEnding"]) == (0, 0, 0)


def test_a_delayed_run_does_the_scheduled_days_work_and_an_event_without_time_uses_now(sqs, professional):
    at = soon()
    appointment(local(tomorrow(at), 13))
    assert run(at)["reminders"] == 1
    assert lambdas.invoke("cron_reminders", {})["reminders"] == 0  # same day: already queued
