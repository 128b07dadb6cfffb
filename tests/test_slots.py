"""GET /api/professionals/{slug}/slots through real API Gateway v2 events, and the slot rules (odys.slots)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from booking_helpers import SAO_PAULO, UTC, add_appointment, configure, local_today, professional_id, slots_on
from test_account import assert_problem

from odys import db, slots
from odys.store import professionals

NEW_YORK = ZoneInfo("America/New_York")


def local_starts(found: list[dict]) -> list[str]:
    return [s["localStart"] for s in found]


def test_slots_follow_weekly_availability_in_local_time(api, professional):
    token, _ = professional
    day = local_today() + dt.timedelta(days=3)
    configure(api, token, windows={"windows": [
        {"dayOfWeek": slots.day_of_week(day), "startTime": "09:00", "endTime": "12:00"},
        {"dayOfWeek": slots.day_of_week(day), "startTime": "14:00", "endTime": "15:40"}]})
    result = api.get("/api/professionals/ana-psi/slots",
                     query={"from": day.isoformat(), "to": (day + dt.timedelta(days=5)).isoformat()})
    assert result.status == 200, result.body
    assert result.content_type == "application/json"
    body = result.json
    assert body["timezone"] == "America/Sao_Paulo"
    # 50-minute sessions + 10-minute buffer: a slot every hour from the window start; 14:00-15:40 fits only 14:00
    assert local_starts(body["slots"]) == [f"{day.isoformat()}T{h}:00:00-03:00" for h in ("09", "10", "11", "14")]
    first = body["slots"][0]
    starts, ends = dt.datetime.fromisoformat(first["startsAt"]), dt.datetime.fromisoformat(first["endsAt"])
    assert starts.utcoffset() == dt.timedelta(0) and ends - starts == dt.timedelta(minutes=50)
    assert starts == dt.datetime.combine(day, dt.time(12), UTC)  # 09:00 -03:00
    assert db.scalar("SELECT count(*) FROM appointments") == 0


def test_active_appointments_and_their_buffer_block_slots(api, professional):
    token, _ = professional
    configure(api, token)
    day = local_today() + dt.timedelta(days=4)
    at = lambda h, m=0: dt.datetime.combine(day, dt.time(h, m), SAO_PAULO)  # noqa: E731
    add_appointment(at(10, 30), minutes=25)                  # 10:30-10:55 blocks 10:00 (buffer) and 11:00 (buffer)
    add_appointment(at(9), status="cancelled")               # cancelled: frees its time
    assert [s["localStart"][11:16] for s in slots_on(api, day)] == ["09:00"]
    db.run("UPDATE appointments SET status = 'completed'")
    assert [s["localStart"][11:16] for s in slots_on(api, day)] == ["09:00", "10:00", "11:00"]
    add_appointment(at(8, 0), minutes=50)                    # ends 08:50: exactly the buffer before 09:00, fine
    assert [s["localStart"][11:16] for s in slots_on(api, day)] == ["09:00", "10:00", "11:00"]
    add_appointment(at(11, 55), minutes=30, status="pending")  # starts 5 min after 11:50: inside the buffer
    assert [s["localStart"][11:16] for s in slots_on(api, day)] == ["09:00", "10:00"]


def test_no_slot_inside_minimum_notice_or_beyond_booking_window(api, professional):
    token, _ = professional
    configure(api, token, minNoticeMinutes=2 * 24 * 60, bookingWindowDays=6)
    now = dt.datetime.now(UTC)
    found = slots_on(api, local_today(), local_today() + dt.timedelta(days=10))
    starts = [dt.datetime.fromisoformat(s["startsAt"]) for s in found]
    assert starts, "some slots between 2 and 6 days ahead"
    assert all(now + dt.timedelta(days=2) <= s <= now + dt.timedelta(days=6, minutes=1) for s in starts)
    assert min(starts) < now + dt.timedelta(days=3) and max(starts) > now + dt.timedelta(days=5)


def test_range_is_limited_and_dates_are_validated(api, professional):
    day = local_today()
    ok = api.get("/api/professionals/ana-psi/slots",
                 query={"from": day.isoformat(), "to": (day + dt.timedelta(days=61)).isoformat()})
    assert ok.status == 200, ok.body
    too_long = api.get("/api/professionals/ana-psi/slots",
                       query={"from": day.isoformat(), "to": (day + dt.timedelta(days=62)).isoformat()})
    assert assert_problem(too_long, 422, "range_too_long")["errors"][0]["field"] == "to"
    assert_problem(api.get("/api/professionals/ana-psi/slots", query={"from": "2026-12-10", "to": "2026-12-09"}),
                   422, "invalid_range")
    for query in ({"from": "2026-12-01"}, {"from": "2026-13-01", "to": "2026-12-02"},
                  {"from": "2026/12/01", "to": "2026-12-02"}, {"from": "2026-12-01T00:00", "to": "2026-12-02"},
                  {"from": "2026-12-01", "to": "2026-12-02", "limit": "5"}, {}):
        assert_problem(api.get("/api/professionals/ana-psi/slots", query=query), 422, "validation_error")


def test_unknown_professional_is_404_problem(api):
    day = local_today().isoformat()
    assert_problem(api.get("/api/professionals/nobody-here/slots", query={"from": day, "to": day}), 404, "not_found")


def _next_transition(tz: ZoneInfo, after: dt.datetime) -> dt.date:
    """The next local date on which the zone's UTC offset changes."""
    day = after.astimezone(tz).date() + dt.timedelta(days=1)
    while True:
        midnight = dt.datetime.combine(day, dt.time(0), tz).utcoffset()
        if dt.datetime.combine(day, dt.time(23, 59), tz).utcoffset() != midnight:
            return day
        day += dt.timedelta(days=1)


def test_slots_through_the_handler_on_the_next_new_york_dst_change(api, professional):
    token, _ = professional
    day = _next_transition(NEW_YORK, dt.datetime.now(UTC))
    configure(api, token, timezone="America/New_York", bookingWindowDays=365, minNoticeMinutes=0,
              windows={"windows": [{"dayOfWeek": slots.day_of_week(day), "startTime": "00:00", "endTime": "05:00"}]})
    found = slots_on(api, day)
    walls = [s["localStart"][11:16] for s in found]
    spring = dt.datetime.combine(day, dt.time(23), NEW_YORK).utcoffset() > dt.datetime.combine(
        day, dt.time(0), NEW_YORK).utcoffset()
    # spring forward: 02:00 does not exist and is skipped; fall back: 01:00 happens twice and is offered once
    assert walls == (["00:00", "01:00", "03:00", "04:00"] if spring else ["00:00", "01:00", "02:00", "03:00", "04:00"])
    starts = [dt.datetime.fromisoformat(s["startsAt"]) for s in found]
    for slot, start in zip(found, starts):
        local = start.astimezone(NEW_YORK)
        assert slot["localStart"] == local.isoformat() and local.date() == day
        assert dt.datetime.fromisoformat(slot["endsAt"]) - start == dt.timedelta(minutes=50)
    assert all(b - a >= dt.timedelta(hours=1) for a, b in zip(starts, starts[1:]))


# --- the rules, with an injected "now" (odys.slots.compute) ----------------------------------------------------

def _setup(api, token, timezone: str, day: dt.date, start: str, end: str, **settings) -> dict:
    configure(api, token, **{"timezone": timezone, "minNoticeMinutes": 0, "bookingWindowDays": 365, **settings},
              windows={"windows": [{"dayOfWeek": slots.day_of_week(day), "startTime": start, "endTime": end}]})
    return professionals.by_slug("ana-psi")


def _views(row: dict, first: dt.date, last: dt.date | None = None, now: dt.datetime | None = None) -> list[dict]:
    now = now or dt.datetime.combine(first, dt.time(0), UTC) - dt.timedelta(days=7)
    return [s.view() for s in slots.compute(row, first, last or first, now)]


def test_spring_forward_skips_the_missing_hour(api, professional):
    row = _setup(api, professional[0], "America/New_York", dt.date(2026, 3, 8), "00:00", "05:00")
    found = _views(row, dt.date(2026, 3, 8))
    assert [s["localStart"] for s in found] == ["2026-03-08T00:00:00-05:00", "2026-03-08T01:00:00-05:00",
                                                "2026-03-08T03:00:00-04:00", "2026-03-08T04:00:00-04:00"]
    assert [s["startsAt"] for s in found] == ["2026-03-08T05:00:00+00:00", "2026-03-08T06:00:00+00:00",
                                              "2026-03-08T07:00:00+00:00", "2026-03-08T08:00:00+00:00"]


def test_spring_forward_never_offers_overlapping_slots(api, professional):
    row = _setup(api, professional[0], "America/New_York", dt.date(2026, 3, 8), "00:00", "06:00",
                 sessionDurationMinutes=80)
    # wall grid 00:00, 01:30, 03:00, 04:30: 01:30 EST ends 03:50 EDT, so 03:00 EDT would overlap it
    assert [s["localStart"][11:16] for s in _views(row, dt.date(2026, 3, 8))] == ["00:00", "01:30", "04:30"]


def test_fall_back_offers_the_repeated_hour_once(api, professional):
    row = _setup(api, professional[0], "America/New_York", dt.date(2026, 11, 1), "00:00", "04:00")
    found = _views(row, dt.date(2026, 11, 1))
    assert [s["localStart"] for s in found] == ["2026-11-01T00:00:00-04:00", "2026-11-01T01:00:00-04:00",
                                                "2026-11-01T02:00:00-05:00", "2026-11-01T03:00:00-05:00"]
    assert [s["startsAt"][11:16] for s in found] == ["04:00", "05:00", "07:00", "08:00"]


def test_sao_paulo_evening_slots_cross_utc_midnight_and_month_end(api, professional):
    row = _setup(api, professional[0], "America/Sao_Paulo", dt.date(2026, 12, 31), "21:00", "23:59")
    found = _views(row, dt.date(2026, 12, 31))
    assert [s["localStart"] for s in found] == ["2026-12-31T21:00:00-03:00", "2026-12-31T22:00:00-03:00",
                                                "2026-12-31T23:00:00-03:00"]
    assert [s["startsAt"] for s in found] == ["2027-01-01T00:00:00+00:00", "2027-01-01T01:00:00+00:00",
                                              "2027-01-01T02:00:00+00:00"]
    # dates are local: 1 January asks for the local 1 January (a Friday, no window), not the UTC one
    assert _views(row, dt.date(2027, 1, 1), now=dt.datetime(2026, 12, 1, tzinfo=UTC)) == []
    assert len(_views(row, dt.date(2026, 12, 25), dt.date(2027, 1, 10))) == 6  # Thursdays 31/12 and 7/1


@pytest.mark.parametrize("minutes_later, expected", [(0, 3), (1, 2), (60, 2), (61, 1), (121, 0)])
def test_minimum_notice_is_measured_from_now(api, professional, minutes_later, expected):
    row = _setup(api, professional[0], "America/Sao_Paulo", dt.date(2026, 12, 3), "09:00", "12:00",
                 minNoticeMinutes=120)
    nine = dt.datetime(2026, 12, 3, 12, tzinfo=UTC)  # 09:00 -03:00
    now = nine - dt.timedelta(minutes=120) + dt.timedelta(minutes=minutes_later)  # 0: 09:00 is exactly on notice
    assert len(_views(row, dt.date(2026, 12, 3), now=now)) == expected


def test_booking_window_cuts_at_now_plus_days(api, professional):
    row = _setup(api, professional[0], "America/Sao_Paulo", dt.date(2026, 12, 3), "09:00", "12:00")
    db.run("UPDATE professionals SET booking_window_days = 10 WHERE id = :id", id=professional_id())
    row = professionals.by_slug("ana-psi")
    ten_am = dt.datetime(2026, 12, 3, 13, tzinfo=UTC)
    assert [s["localStart"][11:16] for s in _views(row, dt.date(2026, 12, 3), now=ten_am - dt.timedelta(days=10))] \
        == ["09:00", "10:00"]
