"""One write path per professional (issue 7, items 8 and 9): every path that makes an appointment count in a month
applies the plan's monthly limit, a move keeps the status, and availability is replaced whole under concurrency."""

from __future__ import annotations

import datetime as dt

import pytest
from booking_helpers import (SAO_PAULO, add_appointment, add_client, book, local_today, professional_id,
                             slots_on)
from devtools.concurrency import concurrently
from test_account import assert_problem

from odys import agenda, db
from odys.errors import OverlappingWindows

PAGE_IP = "198.51.100.8"


def _free_plan() -> None:
    db.run("UPDATE professionals SET plan = 'free', trial_ends_at = now() - interval '1 day'")


def _next_month_day() -> dt.date:
    """A day early next month (local), within the booking window and past the minimum notice."""
    today = local_today()
    first = (today.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    return first + dt.timedelta(days=2)


def _fill_month(day: dt.date, count: int = 20) -> None:
    """``count`` confirmed appointments at 19:00+ on consecutive days from ``day`` (outside the offered mornings)."""
    for i in range(count):
        start = dt.datetime.combine(day.replace(day=1) + dt.timedelta(days=i), dt.time(19), SAO_PAULO)
        add_appointment(start.astimezone(dt.timezone.utc), minutes=30)


# --- 8. the monthly limit on every path; a move keeps the status ------------------------------------------------

def test_rescheduling_through_the_link_into_a_full_month_is_402_and_keeps_the_booking(api, open_mornings):
    token, _ = open_mornings
    soon = slots_on(api, local_today() + dt.timedelta(days=3), ip=PAGE_IP)[0]
    created = book(api, soon["startsAt"])
    assert created.status == 201, created.body
    _free_plan()
    target_day = _next_month_day()
    _fill_month(target_day)  # next month is at the free plan's 20
    target = slots_on(api, target_day, ip=PAGE_IP)[0]
    moved = api.patch(f"/api/booking/{created.json['manageToken']}",
                      json_body={"action": "reschedule", "startsAt": target["startsAt"]})
    problem = assert_problem(moved, 402, "plan_limit_reached")
    assert problem["limit"] == "appointments this month"
    row = db.one("SELECT starts_at, status FROM appointments WHERE id = :id", id=created.json["appointment"]["id"])
    assert row["starts_at"].isoformat() == dt.datetime.fromisoformat(soon["startsAt"]).isoformat()
    assert api.get(f"/api/booking/{created.json['manageToken']}").json["appointment"]["status"] == "confirmed"
    # the professional moving it there is refused the same way
    professional_move = api.patch(f"/api/appointments/{created.json['appointment']['id']}", token=token,
                                  json_body={"startsAt": target["startsAt"]})
    assert_problem(professional_move, 402, "plan_limit_reached")


def test_a_move_inside_a_full_month_is_allowed(api, open_mornings):
    day = local_today() + dt.timedelta(days=3)
    slots = slots_on(api, day, day + dt.timedelta(days=1), ip=PAGE_IP)
    created = book(api, slots[0]["startsAt"])
    assert created.status == 201
    _free_plan()
    month_day = dt.datetime.fromisoformat(slots[0]["startsAt"]).astimezone(SAO_PAULO).date()
    current = db.scalar("SELECT count(*) FROM appointments")
    for i in range(20 - current):  # the month of the booking is now exactly full
        start = dt.datetime.combine(month_day.replace(day=1 + i % 28), dt.time(19 + i // 28), SAO_PAULO)
        add_appointment(start.astimezone(dt.timezone.utc), minutes=30)
    same_month = [s for s in slots if dt.datetime.fromisoformat(s["startsAt"]).astimezone(SAO_PAULO).month
                  == month_day.month and s["startsAt"] != slots[0]["startsAt"]]
    moved = api.patch(f"/api/booking/{created.json['manageToken']}",
                      json_body={"action": "reschedule", "startsAt": same_month[-1]["startsAt"]})
    assert moved.status == 200, moved.body


@pytest.mark.parametrize("auto_confirm_at_booking, status", [(True, "confirmed"), (False, "pending")])
def test_a_move_through_the_link_keeps_the_status(api, open_mornings, auto_confirm_at_booking, status):
    token, _ = open_mornings
    api.patch("/api/account", token=token, json_body={"autoConfirm": auto_confirm_at_booking})
    day = local_today() + dt.timedelta(days=3)
    slots = slots_on(api, day, day + dt.timedelta(days=1), ip=PAGE_IP)
    created = book(api, slots[0]["startsAt"])
    assert created.status == 201 and created.json["appointment"]["status"] == status
    api.patch("/api/account", token=token, json_body={"autoConfirm": not auto_confirm_at_booking})
    moved = api.patch(f"/api/booking/{created.json['manageToken']}",
                      json_body={"action": "reschedule", "startsAt": slots[-1]["startsAt"]})
    assert moved.status == 200, moved.body
    assert moved.json["appointment"]["status"] == status
    assert db.scalar("SELECT status FROM appointments") == status


def test_reactivating_into_a_full_month_is_402(api, open_mornings):
    token, _ = open_mornings
    client_id = add_client("+5511944443333")
    _free_plan()
    day = _next_month_day()
    start = dt.datetime.combine(day, dt.time(15), SAO_PAULO)
    created = api.post("/api/appointments", token=token, json_body={"clientId": client_id,
                                                                     "startsAt": start.isoformat()})
    assert created.status == 201, created.body
    cancelled = api.patch(f"/api/appointments/{created.json['id']}", token=token, json_body={"status": "cancelled"})
    assert cancelled.status == 200
    _fill_month(day)
    again = api.patch(f"/api/appointments/{created.json['id']}", token=token, json_body={"status": "confirmed"})
    assert_problem(again, 402, "plan_limit_reached")
    assert db.scalar("SELECT status FROM appointments WHERE id = :id", id=created.json["id"]) == "cancelled"


# --- 9. availability: replace-all, serialised, constraint as a 4xx ----------------------------------------------

def _windows(day: int, start: str, end: str) -> dict:
    return {"windows": [{"dayOfWeek": day, "startTime": start, "endTime": end}]}


def test_concurrent_availability_puts_leave_one_of_them_whole(api, open_mornings):
    token, _ = open_mornings
    bodies = [
        {"windows": [{"dayOfWeek": d, "startTime": "08:00", "endTime": "10:00"} for d in (1, 2, 3)]},
        {"windows": [{"dayOfWeek": d, "startTime": "09:00", "endTime": "11:00"} for d in (1, 2, 3)]},
        {"windows": [{"dayOfWeek": d, "startTime": "14:00", "endTime": "18:00"} for d in (4, 5)]},
        {"windows": [{"dayOfWeek": 6, "startTime": "07:00", "endTime": "12:00"}]},
    ]
    for _ in range(3):
        results = concurrently([lambda b=b: api.put("/api/availability", token=token, json_body=b) for b in bodies])
        assert [r.status for r in results] == [200] * len(bodies), [r.body for r in results]
        stored = api.get("/api/availability", token=token).json["windows"]
        expected = [sorted(b["windows"], key=lambda w: (w["dayOfWeek"], w["startTime"])) for b in bodies]
        assert stored in expected, stored
        for result in results:  # each answer is a whole body's windows, never a mix
            assert result.json["windows"] in expected


def test_an_overlap_the_database_refuses_is_a_422_problem(api, open_mornings):
    with pytest.raises(OverlappingWindows) as refused:
        with agenda.for_professional(professional_id()) as work:
            work.replace_availability([(1, dt.time(9), dt.time(12)), (1, dt.time(11), dt.time(13))])
    assert refused.value.status == 422 and refused.value.code == "overlapping_windows"
    token, _ = open_mornings
    assert len(api.get("/api/availability", token=token).json["windows"]) == 7  # the rollback kept the old ones
    overlapping = api.put("/api/availability", token=token, json_body={"windows": [
        {"dayOfWeek": 1, "startTime": "09:00", "endTime": "12:00"},
        {"dayOfWeek": 1, "startTime": "11:00", "endTime": "13:00"}]})
    assert_problem(overlapping, 422, "overlapping_windows")
