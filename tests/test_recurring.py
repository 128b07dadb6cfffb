"""/api/recurring-schedules and /api/recurring-schedules/{id} through real API Gateway v2 events, plus
``recurring.extend_horizons`` (the cron's entry point). The clock is frozen around the 2026-11-01 DST change."""

from __future__ import annotations

import datetime as dt
import uuid
from zoneinfo import ZoneInfo

import pytest
from conftest import onboarding_body
from test_account import assert_problem
from test_clients import insert_appointment, new_client, second_professional

from devtools import lambdas
from odys import clock, db, recurring
from odys.log import logger

UTC = dt.timezone.utc
NEW_YORK = ZoneInfo("America/New_York")


@pytest.fixture
def frozen(monkeypatch):
    """A settable clock, starting Tuesday 2026-10-20 12:00 UTC (08:00 in New York, still on daylight time)."""
    state = {"now": dt.datetime(2026, 10, 20, 12, tzinfo=UTC)}
    monkeypatch.setattr(clock, "now", lambda: state["now"])
    return state


@pytest.fixture
def ny(api, token_for):
    """A professional in America/New_York with a client: (token, professional, client)."""
    token = token_for()
    result = api.post("/api/account", token=token, json_body=onboarding_body(timezone="America/New_York"))
    assert result.status == 201, result.body
    return token, result.json, new_client(api, token)


def series(api, token, client_id, **overrides):
    body = {"clientId": client_id, "dayOfWeek": 1, "startTime": "10:00", "startsOn": "2026-10-19", **overrides}
    return api.post("/api/recurring-schedules", token=token, json_body=body)


def created_series(api, token, client_id, **overrides):
    result = series(api, token, client_id, **overrides)
    assert result.status == 201, result.body
    return result.json


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def occurrences(schedule_id: str) -> list[dict]:
    return db.all("SELECT id, occurrence_date, starts_at, ends_at, status, payment_status, price FROM appointments "
                  "WHERE recurring_schedule_id = :sid ORDER BY occurrence_date", sid=schedule_id)


def end_trial(professional_id: str, plan: str = "free") -> None:
    db.run("UPDATE professionals SET plan = :plan, trial_ends_at = '2026-01-01T00:00:00Z' WHERE id = :id",
           plan=plan, id=professional_id)


MONDAYS = ["2026-10-26", "2026-11-02", "2026-11-09", "2026-11-16", "2026-11-23", "2026-11-30", "2026-12-07",
           "2026-12-14"]


def test_creation_materialises_eight_weeks_at_local_time_across_dst(api, ny, frozen):
    token, pro, client = ny
    result = series(api, token, client["id"])
    assert result.status == 201, result.body
    body = result.json
    assert result.headers["Location"] == f"/api/recurring-schedules/{body['id']}"
    assert body["dayOfWeek"] == 1 and body["startTime"] == "10:00" and body["intervalWeeks"] == 1
    assert body["durationMinutes"] == 50 and body["price"] == 15000 and body["active"] is True
    assert body["startsOn"] == "2026-10-19" and body["endsOn"] is None and body["skipped"] == []
    assert body["materializedUntil"] == "2026-12-15"   # local today + 56 days
    assert body["client"] == {"id": client["id"], "name": "João da Silva"}

    starts = [utc(a["startsAt"]) for a in body["appointments"]]
    assert [s.astimezone(NEW_YORK).date().isoformat() for s in starts] == MONDAYS
    assert {s.astimezone(NEW_YORK).strftime("%H:%M") for s in starts} == {"10:00"}
    assert starts[0] == dt.datetime(2026, 10, 26, 14, tzinfo=UTC)   # EDT, UTC-4
    assert starts[1] == dt.datetime(2026, 11, 2, 15, tzinfo=UTC)    # EST, UTC-5 after 2026-11-01
    assert {a["status"] for a in body["appointments"]} == {"confirmed"}
    assert {a["recurringScheduleId"] for a in body["appointments"]} == {body["id"]}
    assert {a["durationMinutes"] for a in body["appointments"]} == {50}

    rows = occurrences(body["id"])
    assert [r["starts_at"] for r in rows] == starts and {r["price"] for r in rows} == {15000}
    stored = db.one("SELECT professional_id, materialized_until, active FROM recurring_schedules WHERE id = :id",
                    id=body["id"])
    assert str(stored["professional_id"]) == pro["id"] and stored["materialized_until"] == dt.date(2026, 12, 15)
    listed = api.get("/api/appointments", token=token, query={"from": "2026-11-02", "to": "2026-11-02"}).json
    assert [a["startsAt"] for a in listed["appointments"]] == ["2026-11-02T15:00:00+00:00"]


def test_interval_end_date_and_explicit_values(api, ny, frozen):
    token, _, client = ny
    body = created_series(api, token, client["id"], dayOfWeek=4, startTime="18:30", intervalWeeks=2,
                          startsOn="2026-10-22", endsOn="2026-11-30", durationMinutes=60, price=9000)
    local = [utc(a["startsAt"]).astimezone(NEW_YORK) for a in body["appointments"]]
    assert [d.date().isoformat() for d in local] == ["2026-10-22", "2026-11-05", "2026-11-19"]
    assert {d.strftime("%H:%M") for d in local} == {"18:30"}
    assert {a["price"] for a in body["appointments"]} == {9000}
    assert {a["durationMinutes"] for a in body["appointments"]} == {60}


def test_a_colliding_date_is_skipped_and_reported(api, ny, frozen):
    token, _, client = ny
    other = new_client(api, token, "Maria", "+5521977770001")
    blocker = api.post("/api/appointments", token=token, json_body={
        "clientId": other["id"], "startsAt": "2026-11-09T15:20:00Z", "durationMinutes": 30})
    assert blocker.status == 201, blocker.body
    body = created_series(api, token, client["id"])
    assert body["skipped"] == [{"startsAt": "2026-11-09T15:00:00+00:00", "reason": "slot_taken"}]
    assert len(body["appointments"]) == 7
    assert dt.datetime(2026, 11, 9, 15, tzinfo=UTC) not in [r["starts_at"] for r in occurrences(body["id"])]
    assert db.scalar("SELECT status FROM appointments WHERE id = :id", id=blocker.json["id"]) == "confirmed"
    assert db.scalar("SELECT count(*) FROM appointments") == 8


def by_local_date(appointments: list[dict]) -> dict[str, str]:
    """Occurrence ids of an answer's ``appointments`` by their local (New York) date."""
    return {utc(a["startsAt"]).astimezone(NEW_YORK).date().isoformat(): a["id"] for a in appointments}


def local_hhmm(instant: dt.datetime) -> str:
    return instant.astimezone(NEW_YORK).strftime("%H:%M")


def test_patch_changes_future_occurrences_in_place(api, ny, frozen):
    token, _, client = ny
    body = created_series(api, token, client["id"])
    by_date = by_local_date(body["appointments"])
    paid, cancelled = by_date["2026-11-16"], by_date["2026-11-23"]
    api.patch(f"/api/appointments/{paid}", token=token, json_body={"paymentStatus": "paid"})
    api.patch(f"/api/appointments/{cancelled}", token=token, json_body={"status": "cancelled"})
    frozen["now"] = dt.datetime(2026, 11, 5, 12, tzinfo=UTC)   # Oct 26 and Nov 2 are past now
    path = f"/api/recurring-schedules/{body['id']}"

    repriced = api.patch(path, token=token, json_body={"price": 18000})
    assert repriced.status == 200, repriced.body
    rows = {r["occurrence_date"].isoformat(): r for r in occurrences(body["id"])}
    assert {day: str(rows[day]["id"]) for day in by_date} == by_date               # every occurrence kept its id
    assert rows["2026-10-26"]["price"] == 15000                                   # past: untouched
    assert rows["2026-11-16"]["price"] == 15000                                   # paid: its price stays
    assert rows["2026-11-23"]["status"] == "cancelled"                            # not re-created
    assert rows["2026-11-09"]["price"] == 18000 and rows["2026-12-14"]["price"] == 18000
    assert rows["2026-12-28"]["price"] == 18000                                   # horizon moved to Dec 31
    assert {r["starts_at"] for r in rows.values()} == {
        utc(a["startsAt"]) for a in body["appointments"]} | {rows["2026-12-21"]["starts_at"],
                                                              rows["2026-12-28"]["starts_at"]}   # no time moved
    assert repriced.json["materializedUntil"] == "2026-12-31" and repriced.json["price"] == 18000
    ids = {day: str(r["id"]) for day, r in rows.items()}

    moved = api.patch(path, token=token, json_body={"startTime": "11:00", "durationMinutes": 45})
    assert moved.status == 200, moved.body
    rows = occurrences(body["id"])
    assert [r["occurrence_date"].isoformat() for r in rows] == [*MONDAYS, "2026-12-21", "2026-12-28"]  # one each
    assert {r["occurrence_date"].isoformat(): str(r["id"]) for r in rows} == ids
    by_day = {r["occurrence_date"].isoformat(): r for r in rows}
    assert {local_hhmm(by_day[d]["starts_at"]) for d in ("2026-10-26", "2026-11-02")} == {"10:00"}   # past
    assert local_hhmm(by_day["2026-11-23"]["starts_at"]) == "10:00"               # cancelled: kept, no second one
    assert by_day["2026-11-23"]["status"] == "cancelled"
    assert (local_hhmm(by_day["2026-11-16"]["starts_at"]), by_day["2026-11-16"]["payment_status"],
            by_day["2026-11-16"]["price"]) == ("11:00", "paid", 15000)           # paid: follows the time
    future = [r for r in rows if r["starts_at"] > frozen["now"] and r["status"] == "confirmed"]
    assert len(future) == 7   # Nov 9 to Dec 28 but the cancelled Nov 23
    assert {local_hhmm(r["starts_at"]) for r in future} == {"11:00"}
    assert {r["ends_at"] - r["starts_at"] for r in future} == {dt.timedelta(minutes=45)}
    assert moved.json["startTime"] == "11:00" and moved.json["skipped"] == []
    assert {a["id"] for a in moved.json["appointments"]} == {str(r["id"]) for r in rows
                                                            if r["starts_at"] > frozen["now"]}


def test_ids_notes_and_pix_txid_survive_a_patch_of_price_and_of_start_time(api, ny, frozen):
    token, _, client = ny
    assert api.patch("/api/account", token=token, json_body={"pixKeyType": "cpf", "pixKey": "529.982.247-25"}
                     ).status == 200
    body = created_series(api, token, client["id"])
    target = by_local_date(body["appointments"])["2026-11-09"]
    assert api.patch(f"/api/appointments/{target}", token=token, json_body={"notes": "Trazer exames"}).status == 200
    pix = api.get(f"/api/appointments/{target}/pix", token=token)
    assert pix.status == 200, pix.body
    txid = pix.json["txid"]
    path = f"/api/recurring-schedules/{body['id']}"

    for change, hhmm, price in (({"price": 18000}, "10:00", 18000), ({"startTime": "09:30"}, "09:30", 18000)):
        assert api.patch(path, token=token, json_body=change).status == 200
        row = db.one("SELECT starts_at, price, notes, pix_txid, occurrence_date FROM appointments WHERE id = :id",
                     id=target)
        assert row is not None, change
        assert (row["notes"], row["pix_txid"], row["price"]) == ("Trazer exames", txid, price)
        assert (local_hhmm(row["starts_at"]), row["occurrence_date"]) == (hhmm, dt.date(2026, 11, 9))
    again = api.get(f"/api/appointments/{target}/pix", token=token).json
    assert again["txid"] == txid and again["amountCents"] == 18000
    assert db.scalar("SELECT count(*) FROM appointments WHERE recurring_schedule_id = :sid", sid=body["id"]) == 8


def test_an_individually_rescheduled_occurrence_keeps_its_time_and_takes_the_price(api, ny, frozen):
    token, _, client = ny
    body = created_series(api, token, client["id"])
    moved_by_hand = by_local_date(body["appointments"])["2026-11-16"]
    assert api.patch(f"/api/appointments/{moved_by_hand}", token=token,   # 14:00 New York (EST)
                     json_body={"startsAt": "2026-11-16T19:00:00Z"}).status == 200

    changed = api.patch(f"/api/recurring-schedules/{body['id']}", token=token,
                        json_body={"startTime": "11:00", "durationMinutes": 60, "price": 17000})
    assert changed.status == 200, changed.body
    assert changed.json["skipped"] == []
    rows = {r["occurrence_date"].isoformat(): r for r in occurrences(body["id"])}
    assert list(rows) == MONDAYS
    kept = rows["2026-11-16"]
    assert (str(kept["id"]), kept["starts_at"], kept["ends_at"] - kept["starts_at"], kept["price"]) == (
        moved_by_hand, dt.datetime(2026, 11, 16, 19, tzinfo=UTC), dt.timedelta(minutes=50), 17000)
    others = [r for day, r in rows.items() if day != "2026-11-16"]
    assert {(local_hhmm(r["starts_at"]), r["ends_at"] - r["starts_at"], r["price"]) for r in others} == {
        ("11:00", dt.timedelta(minutes=60), 17000)}


def test_an_occurrence_the_new_time_would_put_in_the_past_keeps_its_time(api, ny, frozen):
    token, _, client = ny
    body = created_series(api, token, client["id"])
    frozen["now"] = dt.datetime(2026, 11, 9, 14, 30, tzinfo=UTC)   # Monday 09:30 in New York, before 10:00
    result = api.patch(f"/api/recurring-schedules/{body['id']}", token=token, json_body={"startTime": "09:00"})
    assert result.status == 200, result.body
    rows = {r["occurrence_date"].isoformat(): r for r in occurrences(body["id"])}
    assert local_hhmm(rows["2026-11-09"]["starts_at"]) == "10:00"
    assert {local_hhmm(rows[d]["starts_at"]) for d in MONDAYS[3:]} == {"09:00"}
    assert db.scalar("SELECT count(*) FROM appointments WHERE occurrence_date = '2026-11-09'") == 1


def test_a_new_weekday_removes_unpaid_dates_keeps_paid_ones_and_fills_the_new_dates(api, ny, frozen):
    token, _, client = ny
    body = created_series(api, token, client["id"])
    paid = by_local_date(body["appointments"])["2026-11-30"]
    api.patch(f"/api/appointments/{paid}", token=token, json_body={"paymentStatus": "paid"})
    result = api.patch(f"/api/recurring-schedules/{body['id']}", token=token,
                       json_body={"dayOfWeek": 3, "intervalWeeks": 2})
    assert result.status == 200, result.body
    rows = occurrences(body["id"])
    # every other Wednesday up to the horizon (Dec 15), and the paid Monday
    assert [(r["occurrence_date"].isoformat(), str(r["id"]) == paid) for r in rows] == [
        ("2026-10-21", False), ("2026-11-04", False), ("2026-11-18", False), ("2026-11-30", True),
        ("2026-12-02", False)]
    assert rows[3]["payment_status"] == "paid" and local_hhmm(rows[3]["starts_at"]) == "10:00"
    assert {r["starts_at"].astimezone(NEW_YORK).weekday() for r in rows if str(r["id"]) != paid} == {2}


def test_a_move_onto_another_appointment_is_skipped_and_keeps_the_old_time(api, ny, frozen):
    token, _, client = ny
    body = created_series(api, token, client["id"])
    blocked = by_local_date(body["appointments"])["2026-11-16"]
    other = new_client(api, token, "Maria", "+5521977770001")
    blocker = api.post("/api/appointments", token=token, json_body={
        "clientId": other["id"], "startsAt": "2026-11-16T16:20:00Z", "durationMinutes": 30})   # 11:20 New York
    assert blocker.status == 201, blocker.body

    result = api.patch(f"/api/recurring-schedules/{body['id']}", token=token,
                       json_body={"startTime": "11:00", "price": 16000})
    assert result.status == 200, result.body
    assert result.json["skipped"] == [{"startsAt": "2026-11-16T16:00:00+00:00", "reason": "slot_taken",
                                       "appointmentId": blocked}]
    rows = {r["occurrence_date"].isoformat(): r for r in occurrences(body["id"])}
    assert list(rows) == MONDAYS
    assert (str(rows["2026-11-16"]["id"]), rows["2026-11-16"]["starts_at"], rows["2026-11-16"]["price"]) == (
        blocked, dt.datetime(2026, 11, 16, 15, tzinfo=UTC), 16000)
    assert {local_hhmm(r["starts_at"]) for day, r in rows.items() if day != "2026-11-16"} == {"11:00"}
    assert db.one("SELECT starts_at, status FROM appointments WHERE id = :id", id=blocker.json["id"]) == {
        "starts_at": dt.datetime(2026, 11, 16, 16, 20, tzinfo=UTC), "status": "confirmed"}


def test_series_writes_answer_at_info_level_and_log_counts(api, ny, frozen, caplog):
    token, _, client = ny
    level = logger.log_level
    logger.setLevel("INFO")   # the production level: a reserved LogRecord key in `extra` used to make these 500
    try:
        body = created_series(api, token, client["id"])
        changed = api.patch(f"/api/recurring-schedules/{body['id']}", token=token, json_body={"startTime": "11:00"})
        assert changed.status == 200, changed.body
        assert recurring.extend_horizons(dt.datetime(2026, 10, 27, 12, tzinfo=UTC))["created"] == 1
        assert api.delete(f"/api/recurring-schedules/{body['id']}", token=token).status == 204
    finally:
        logger.setLevel(level)
    logged = {r.getMessage(): vars(r) for r in caplog.records if r.name == logger.name}
    assert logged["recurring schedule created"]["created_count"] == 8
    assert logged["recurring schedule changed"]["moved_count"] == 8
    assert logged["recurring horizons extended"]["created_count"] == 1
    assert logged["recurring schedule stopped"]["removed_count"] == 9


def test_extending_the_horizon_twice_creates_no_duplicates(api, ny, frozen):
    token, _, client = ny
    body = created_series(api, token, client["id"])
    later = dt.datetime(2026, 10, 27, 12, tzinfo=UTC)
    first = recurring.extend_horizons(later)
    assert first["schedules"] == 1 and first["created"] == 1 and first["skipped"] == [] and first["failed"] == 0
    again = recurring.extend_horizons(later)
    assert again == {"schedules": 0, "created": 0, "skipped": [], "failed": 0}
    assert db.scalar("SELECT materialized_until FROM recurring_schedules") == dt.date(2026, 12, 22)
    assert occurrences(body["id"])[-1]["starts_at"] == dt.datetime(2026, 12, 21, 15, tzinfo=UTC)

    frozen["now"] = dt.datetime(2026, 11, 3, 12, tzinfo=UTC)   # the GET routes read only
    listed = api.get("/api/recurring-schedules", token=token)
    assert listed.status == 200, listed.body
    assert listed.json["recurringSchedules"][0]["materializedUntil"] == "2026-12-22"
    assert api.get("/api/appointments", token=token).status == 200
    assert len(occurrences(body["id"])) == 9
    done = lambdas.invoke("cron_housekeeping", {"scheduledTime": "2026-11-03T10:30:00Z"})   # the daily job
    assert done["recurring"] == {"schedules": 1, "created": 1, "skipped": 0, "failed": 0}
    assert lambdas.invoke("cron_housekeeping", {"scheduledTime": "2026-11-03T10:30:00Z"})["recurring"]["created"] == 0
    assert api.get("/api/recurring-schedules", token=token).json["recurringSchedules"][0]["materializedUntil"] == (
        "2026-12-29")
    rows = occurrences(body["id"])
    assert len(rows) == 10 and len({r["starts_at"] for r in rows}) == 10
    assert rows[-1]["starts_at"] == dt.datetime(2026, 12, 28, 15, tzinfo=UTC)


def test_plan_limit_skips_occurrences_when_extending_after_a_downgrade(api, ny, frozen):
    token, pro, client = ny
    body = created_series(api, token, client["id"])
    end_trial(pro["id"])
    for day in range(1, 19):   # with Dec 7 and Dec 14, December reaches the free plan's 20
        insert_appointment(pro["id"], client["id"], dt.datetime(2026, 12, day, 22, tzinfo=UTC))
    summary = recurring.extend_horizons(dt.datetime(2026, 10, 27, 12, tzinfo=UTC))
    assert summary["created"] == 0 and summary["skipped"] == [{
        "recurringScheduleId": body["id"], "startsAt": dt.datetime(2026, 12, 21, 15, tzinfo=UTC),
        "reason": "plan_limit"}]
    assert db.scalar("SELECT materialized_until FROM recurring_schedules") == dt.date(2026, 12, 22)
    assert db.scalar("SELECT count(*) FROM notifications WHERE kind = 'plan_limit_reached'") == 1
    assert len(occurrences(body["id"])) == 8


def test_recurring_schedules_need_the_pro_plan(api, ny, frozen):
    token, pro, client = ny
    body = created_series(api, token, client["id"])
    end_trial(pro["id"], plan="basic")
    refused = assert_problem(series(api, token, client["id"], dayOfWeek=3), 402, "plan_limit_reached")
    assert refused["requiredPlan"] == "pro" and refused["currentPlan"] == "basic"
    assert_problem(api.patch(f"/api/recurring-schedules/{body['id']}", token=token, json_body={"price": 1}), 402,
                   "plan_limit_reached")
    assert db.scalar("SELECT count(*) FROM recurring_schedules") == 1
    assert api.get("/api/recurring-schedules", token=token).status == 200
    assert api.delete(f"/api/recurring-schedules/{body['id']}", token=token).status == 204   # stopping is free


def test_delete_stops_the_series_and_keeps_history(api, ny, frozen):
    token, _, client = ny
    body = created_series(api, token, client["id"])
    by_date = {utc(a["startsAt"]).astimezone(NEW_YORK).date().isoformat(): a["id"] for a in body["appointments"]}
    api.patch(f"/api/appointments/{by_date['2026-11-30']}", token=token, json_body={"paymentStatus": "paid"})
    frozen["now"] = dt.datetime(2026, 11, 5, 12, tzinfo=UTC)
    path = f"/api/recurring-schedules/{body['id']}"
    assert api.delete(path, token=token).status == 204
    remaining = {str(r["id"]) for r in occurrences(body["id"])}
    assert remaining == {by_date["2026-10-26"], by_date["2026-11-02"], by_date["2026-11-30"]}
    stored = db.one("SELECT active, ends_on FROM recurring_schedules WHERE id = :id", id=body["id"])
    assert stored == {"active": False, "ends_on": dt.date(2026, 11, 5)}
    assert recurring.extend_horizons(dt.datetime(2026, 11, 20, tzinfo=UTC))["created"] == 0
    assert api.delete(path, token=token).status == 204   # already stopped: no-op
    assert_problem(api.patch(path, token=token, json_body={"price": 1}), 409, "schedule_stopped")
    listed = api.get("/api/recurring-schedules", token=token).json["recurringSchedules"]
    assert [(s["id"], s["active"], s["endsOn"]) for s in listed] == [(body["id"], False, "2026-11-05")]
    assert api.get("/api/recurring-schedules", token=token, query={"active": "true"}).json == {
        "recurringSchedules": []}


def test_list_filters_by_client(api, ny, frozen):
    token, _, client = ny
    other = new_client(api, token, "Maria", "+5521977770001")
    mine = created_series(api, token, client["id"])
    theirs = created_series(api, token, other["id"], dayOfWeek=2)
    assert [s["id"] for s in api.get("/api/recurring-schedules", token=token).json["recurringSchedules"]] == [
        mine["id"], theirs["id"]]
    only = api.get("/api/recurring-schedules", token=token, query={"clientId": other["id"]}).json
    assert [s["id"] for s in only["recurringSchedules"]] == [theirs["id"]]


def test_invalid_series_are_422(api, ny, frozen):
    token, _, client = ny
    for bad in ({"intervalWeeks": 3}, {"startTime": "25:00"}, {"dayOfWeek": 7}, {"endsOn": "2026-10-01"},
                {"durationMinutes": 1000}, {"startsOn": "soon"}, {"color": "red"}):
        assert_problem(series(api, token, client["id"], **bad), 422, "validation_error")
    body = created_series(api, token, client["id"])
    path = f"/api/recurring-schedules/{body['id']}"
    assert_problem(api.patch(path, token=token, json_body={"endsOn": "2026-10-01"}), 422, "validation_error")
    assert_problem(api.patch(path, token=token, json_body={"startTime": None}), 422, "validation_error")
    assert_problem(api.patch(path, token=token, json_body={"startsOn": "2026-11-01"}), 422, "validation_error")
    assert_problem(series(api, token, str(uuid.uuid4())), 404, "not_found")
    assert db.scalar("SELECT count(*) FROM recurring_schedules") == 1


def test_another_professionals_series_are_404(api, ny, frozen, token_for):
    token, _, client = ny
    body = created_series(api, token, client["id"])
    other, _ = second_professional(api, token_for)
    path = f"/api/recurring-schedules/{body['id']}"
    assert_problem(api.patch(path, token=other, json_body={"price": 1}), 404, "not_found")
    assert_problem(api.delete(path, token=other), 404, "not_found")
    assert_problem(series(api, other, client["id"]), 404, "not_found")   # someone else's client
    assert api.get("/api/recurring-schedules", token=other).json == {"recurringSchedules": []}
    assert db.one("SELECT active, price FROM recurring_schedules") == {"active": True, "price": 15000}
    assert len(occurrences(body["id"])) == 8
    assert_problem(api.patch("/api/recurring-schedules/nope", token=token, json_body={"price": 1}), 404, "not_found")
    assert_problem(api.delete(f"/api/recurring-schedules/{uuid.uuid4()}", token=token), 404, "not_found")


def test_recurring_routes_need_a_token(api):
    some = str(uuid.uuid4())
    for method, path in [("GET", "/api/recurring-schedules"), ("POST", "/api/recurring-schedules"),
                         ("PATCH", f"/api/recurring-schedules/{some}"), ("DELETE", f"/api/recurring-schedules/{some}")]:
        assert_problem(api.request(method, path, json_body={"x": 1} if method in ("POST", "PATCH") else None),
                       401, "missing_token")


def test_occurrence_calendar_is_pure_and_dst_safe():
    dates = list(recurring.occurrence_dates(dt.date(2026, 3, 1), 0, 1, None, dt.date(2026, 3, 1),
                                            dt.date(2026, 3, 15)))
    assert dates == [dt.date(2026, 3, 1), dt.date(2026, 3, 8), dt.date(2026, 3, 15)]   # Sundays
    # spring forward in New York on 2026-03-08: 10:00 local moves from 15:00 to 14:00 UTC
    assert recurring.local_instant(dates[0], dt.time(10), "America/New_York").hour == 15
    assert recurring.local_instant(dates[1], dt.time(10), "America/New_York").hour == 14
    # a wall-clock time inside the gap lands after it (02:30 -> 03:30 EDT)
    gap = recurring.local_instant(dates[1], dt.time(2, 30), "America/New_York")
    assert gap.astimezone(NEW_YORK).strftime("%H:%M") == "03:30"


def test_a_change_brings_back_neither_a_deleted_occurrence_nor_a_skipped_date(api, ny, frozen):
    token, _, client = ny
    other = new_client(api, token, "Maria", "+5521977770001")
    blocker = api.post("/api/appointments", token=token, json_body={
        "clientId": other["id"], "startsAt": "2026-11-09T15:20:00Z", "durationMinutes": 30})
    assert blocker.status == 201
    body = created_series(api, token, client["id"])  # 2026-11-09 skipped: taken
    assert api.delete(f"/api/appointments/{body['appointments'][2]['id']}", token=token).status == 204
    assert api.patch(f"/api/appointments/{blocker.json['id']}", token=token,
                     json_body={"status": "cancelled"}).status == 200  # the skipped date is free now
    before = [r["occurrence_date"] for r in occurrences(body["id"])]
    assert len(before) == 6
    changed = api.patch(f"/api/recurring-schedules/{body['id']}", token=token, json_body={"price": 9000})
    assert changed.status == 200, changed.body
    assert [r["occurrence_date"] for r in occurrences(body["id"])] == before  # nothing came back
