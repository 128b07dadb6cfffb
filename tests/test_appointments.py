"""/api/appointments and /api/appointments/{id} through real API Gateway v2 events."""

from __future__ import annotations

import datetime as dt
import uuid

from test_account import assert_problem
from test_clients import end_trial, insert_appointment, new_client, second_professional

from odys import db

UTC = dt.timezone.utc


def day_at(days: int, hour: int = 13, minute: int = 0) -> dt.datetime:
    """A UTC instant ``days`` from today at ``hour:minute``."""
    today = dt.datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today + dt.timedelta(days=days, hours=hour, minutes=minute)


def iso(instant: dt.datetime) -> str:
    return instant.isoformat().replace("+00:00", "Z")


def book(api, token, client_id, starts_at, **extra):
    return api.post("/api/appointments", token=token, json_body={"clientId": client_id, "startsAt": iso(starts_at),
                                                                 **extra})


def booked(api, token, client_id, starts_at, **extra):
    result = book(api, token, client_id, starts_at, **extra)
    assert result.status == 201, result.body
    return result.json


# --- create ---------------------------------------------------------------------------------------------------------

def test_create_uses_professional_defaults_and_returns_utc_times(api, professional):
    token, pro = professional
    client = new_client(api, token)
    starts = day_at(5, 13)
    result = api.post("/api/appointments", token=token, json_body={
        "clientId": client["id"], "startsAt": (starts.astimezone(dt.timezone(dt.timedelta(hours=-3)))).isoformat(),
        "notes": "primeira sessão"})
    assert result.status == 201, result.body
    body = result.json
    assert result.headers["Location"] == f"/api/appointments/{body['id']}"
    assert body["startsAt"] == starts.isoformat() and body["endsAt"] == (starts + dt.timedelta(minutes=50)).isoformat()
    assert body["durationMinutes"] == 50 and body["price"] == 15000 and body["status"] == "confirmed"
    assert body["paymentStatus"] == "unpaid" and body["notes"] == "primeira sessão"
    assert body["client"] == {"id": client["id"], "name": "João da Silva", "phone": "+5511988887777"}
    row = db.one("SELECT professional_id, starts_at, ends_at, status, price FROM appointments WHERE id = :id",
                 id=body["id"])
    assert str(row["professional_id"]) == pro["id"] and row["starts_at"] == starts and row["status"] == "confirmed"
    assert api.get(f"/api/appointments/{body['id']}", token=token).json == body


def test_create_with_explicit_end_price_and_pending_status(api, professional):
    token, _ = professional
    client = new_client(api, token)
    starts = day_at(6, 14)
    body = booked(api, token, client["id"], starts, endsAt=iso(starts + dt.timedelta(minutes=90)), price=20000,
                  status="pending")
    assert body["durationMinutes"] == 90 and body["price"] == 20000 and body["status"] == "pending"
    other = booked(api, token, client["id"], day_at(7), durationMinutes=30)
    assert other["durationMinutes"] == 30


def test_create_validation_errors(api, professional):
    token, _ = professional
    client = new_client(api, token)
    starts = day_at(5)
    cases = [
        {"clientId": client["id"], "startsAt": "2026-12-01T10:00:00"},                       # no offset
        {"clientId": client["id"], "startsAt": iso(starts), "status": "completed"},
        {"clientId": client["id"], "startsAt": iso(starts), "durationMinutes": 3},
        {"clientId": client["id"], "startsAt": iso(starts), "price": -1},
        {"clientId": client["id"], "startsAt": iso(starts), "price": "100"},
        {"clientId": "nope", "startsAt": iso(starts)},
        {"clientId": client["id"], "startsAt": iso(starts), "endsAt": iso(starts), "durationMinutes": 30},
        {"startsAt": iso(starts)},
    ]
    for body in cases:
        assert_problem(api.post("/api/appointments", token=token, json_body=body), 422, "validation_error")
    backwards = book(api, token, client["id"], starts, endsAt=iso(starts - dt.timedelta(minutes=5)))
    assert assert_problem(backwards, 422, "validation_error")["errors"][0]["field"] == "endsAt"
    too_long = book(api, token, client["id"], starts, endsAt=iso(starts + dt.timedelta(hours=9)))
    assert_problem(too_long, 422, "validation_error")
    assert_problem(book(api, token, str(uuid.uuid4()), starts), 404, "not_found")
    assert db.scalar("SELECT count(*) FROM appointments") == 0


def test_overlap_is_refused_by_the_database_as_409(api, professional):
    token, _ = professional
    client = new_client(api, token)
    first = booked(api, token, client["id"], day_at(5, 13))
    assert_problem(book(api, token, client["id"], day_at(5, 13, 30)), 409, "slot_taken")
    assert_problem(book(api, token, client["id"], day_at(5, 12, 30), durationMinutes=31), 409, "slot_taken")
    touching = booked(api, token, client["id"], day_at(5, 13, 50))   # [13:00, 13:50) and [13:50, ...) touch
    assert db.scalar("SELECT count(*) FROM appointments") == 2
    # a cancelled appointment frees its slot
    assert api.patch(f"/api/appointments/{first['id']}", token=token, json_body={"status": "cancelled"}).status == 200
    cancel = {"status": "cancelled"}
    assert api.patch(f"/api/appointments/{touching['id']}", token=token, json_body=cancel).status == 200
    booked(api, token, client["id"], day_at(5, 13, 30))


def test_appointment_limit_of_free_plan_is_402_per_month(api, professional):
    token, pro = professional
    client = new_client(api, token)
    end_trial(pro["id"])
    month_start = dt.datetime(2027, 3, 1, 12, tzinfo=UTC)
    for i in range(20):
        insert_appointment(pro["id"], client["id"], month_start + dt.timedelta(days=i))
    body = assert_problem(book(api, token, client["id"], dt.datetime(2027, 3, 25, 12, tzinfo=UTC)), 402,
                          "plan_limit_reached")
    assert body["requiredPlan"] == "basic" and body["currentPlan"] == "free"
    assert db.scalar("SELECT count(*) FROM notifications WHERE kind = 'plan_limit_reached'") == 1
    booked(api, token, client["id"], dt.datetime(2027, 4, 2, 12, tzinfo=UTC))  # another month has room
    # moving an appointment into the full month, or re-activating one there, is refused the same way
    april = db.scalar("SELECT id FROM appointments WHERE starts_at = '2027-04-02 12:00+00'")
    assert_problem(api.patch(f"/api/appointments/{april}", token=token,
                             json_body={"startsAt": "2027-03-28T12:00:00Z"}), 402, "plan_limit_reached")
    march = db.scalar("SELECT id FROM appointments WHERE starts_at = '2027-03-01 12:00+00'")
    assert api.patch(f"/api/appointments/{march}", token=token, json_body={"status": "cancelled"}).status == 200
    booked(api, token, client["id"], dt.datetime(2027, 3, 26, 12, tzinfo=UTC))
    assert_problem(api.patch(f"/api/appointments/{march}", token=token, json_body={"status": "confirmed"}), 402,
                   "plan_limit_reached")
    assert db.scalar("SELECT status FROM appointments WHERE id = :id", id=march) == "cancelled"


# --- list -----------------------------------------------------------------------------------------------------------

def test_list_filters_by_range_status_and_client(api, professional):
    token, _ = professional
    joao = new_client(api, token)
    maria = new_client(api, token, "Maria", "+5521977770001")
    a = booked(api, token, joao["id"], day_at(3, 13))
    b = booked(api, token, maria["id"], day_at(4, 13), status="pending")
    c = booked(api, token, joao["id"], day_at(10, 13))
    api.patch(f"/api/appointments/{c['id']}", token=token, json_body={"status": "cancelled"})

    def ids(**query):
        result = api.get("/api/appointments", token=token, query=query)
        assert result.status == 200, result.body
        return [x["id"] for x in result.json["appointments"]]

    assert ids() == [a["id"], b["id"], c["id"]]
    assert ids(status="pending,confirmed") == [a["id"], b["id"]]
    assert ids(status=["cancelled", "pending"]) == [b["id"], c["id"]]
    assert ids(clientId=joao["id"]) == [a["id"], c["id"]]
    assert ids(clientId=str(uuid.uuid4())) == []
    local_day = (day_at(4, 13) - dt.timedelta(hours=3)).date().isoformat()    # America/Sao_Paulo
    assert ids(**{"from": local_day, "to": local_day}) == [b["id"]]
    assert ids(**{"from": iso(day_at(3, 13)), "to": iso(day_at(4, 13))}) == [a["id"]]   # to is exclusive
    assert ids(**{"from": iso(day_at(4, 0))}) == [b["id"], c["id"]]
    assert ids(**{"from": day_at(4, 0).isoformat().replace("+", " ")}) == [b["id"], c["id"]]   # unencoded "+"
    for bad in ({"from": "yesterday"}, {"to": "2026-12-01T10:00:00"}, {"status": "done"}, {"limit": "500"},
                {"clientId": "x"}, {"from": "2026-12-02", "to": "2026-12-01"}, {"unknown": "1"}):
        assert_problem(api.get("/api/appointments", token=token, query=bad), 422, "validation_error")


def test_list_paginates_with_keyset_cursor(api, professional):
    token, pro = professional
    client = new_client(api, token)
    same = day_at(8, 13)
    created = [insert_appointment(pro["id"], client["id"], same, status="cancelled") for _ in range(3)]
    created += [insert_appointment(pro["id"], client["id"], day_at(9 + i, 13)) for i in range(2)]
    expected = sorted(created[:3]) + created[3:]
    seen, cursor = [], None
    while True:
        page = api.get("/api/appointments", token=token,
                       query={"limit": "2", **({"cursor": cursor} if cursor else {})}).json
        seen += [x["id"] for x in page["appointments"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert seen == expected
    assert_problem(api.get("/api/appointments", token=token, query={"cursor": "eyJrIjoiY2xpZW50cyIsIm8iOjJ9"}),
                   400, "invalid_cursor")   # a clients cursor


# --- status, payment, reschedule --------------------------------------------------------------------------------------

def test_status_transitions_follow_the_table(api, professional):
    token, _ = professional
    client = new_client(api, token)
    appt = booked(api, token, client["id"], day_at(5), status="pending")
    path = f"/api/appointments/{appt['id']}"

    def to(status):
        return api.patch(path, token=token, json_body={"status": status})

    assert to("confirmed").json["status"] == "confirmed"
    assert to("confirmed").status == 200   # same status: no-op
    body = assert_problem(to("pending"), 409, "invalid_status_transition")
    assert body["allowedStatuses"] == ["completed", "cancelled", "no_show"] and body["currentStatus"] == "confirmed"
    assert to("completed").json["status"] == "completed"
    body = assert_problem(to("cancelled"), 409, "invalid_status_transition")
    assert body["allowedStatuses"] == ["no_show"]
    assert to("no_show").json["status"] == "no_show"
    assert to("completed").json["status"] == "completed"
    assert db.scalar("SELECT status FROM appointments WHERE id = :id", id=appt["id"]) == "completed"

    other = booked(api, token, client["id"], day_at(6))
    assert api.patch(f"/api/appointments/{other['id']}", token=token, json_body={"status": "cancelled"}).status == 200
    body = assert_problem(api.patch(f"/api/appointments/{other['id']}", token=token, json_body={"status": "no_show"}),
                          409, "invalid_status_transition")
    assert body["allowedStatuses"] == ["pending", "confirmed"]
    assert_problem(api.patch(path, token=token, json_body={"status": "done"}), 422, "validation_error")
    assert_problem(api.patch(path, token=token, json_body={"status": None}), 422, "validation_error")


def test_reactivating_a_cancelled_appointment_needs_a_free_slot(api, professional):
    token, _ = professional
    client = new_client(api, token)
    first = booked(api, token, client["id"], day_at(5, 13))
    api.patch(f"/api/appointments/{first['id']}", token=token, json_body={"status": "cancelled"})
    booked(api, token, client["id"], day_at(5, 13, 20))
    assert_problem(api.patch(f"/api/appointments/{first['id']}", token=token, json_body={"status": "confirmed"}),
                   409, "slot_taken")
    assert db.scalar("SELECT status FROM appointments WHERE id = :id", id=first["id"]) == "cancelled"
    moved = api.patch(f"/api/appointments/{first['id']}", token=token,
                      json_body={"status": "confirmed", "startsAt": iso(day_at(5, 15))})
    assert moved.status == 200, moved.body
    assert moved.json["status"] == "confirmed" and moved.json["startsAt"] == day_at(5, 15).isoformat()


def test_payment_status_price_and_notes(api, professional):
    token, _ = professional
    client = new_client(api, token)
    appt = booked(api, token, client["id"], day_at(5), notes="x")
    path = f"/api/appointments/{appt['id']}"
    body = assert_problem(api.patch(path, token=token, json_body={"paymentStatus": "refunded"}), 409,
                          "invalid_payment_transition")
    assert body["currentPaymentStatus"] == "unpaid"
    paid = api.patch(path, token=token, json_body={"paymentStatus": "paid", "price": 12000, "notes": None})
    assert paid.status == 200, paid.body
    assert paid.json["paymentStatus"] == "paid" and paid.json["price"] == 12000 and paid.json["notes"] is None
    assert api.patch(path, token=token, json_body={"paymentStatus": "refunded"}).json["paymentStatus"] == "refunded"
    assert api.patch(path, token=token, json_body={"paymentStatus": "waived"}).status == 200
    row = db.one("SELECT payment_status, price, notes FROM appointments WHERE id = :id", id=appt["id"])
    assert row == {"payment_status": "waived", "price": 12000, "notes": None}
    assert_problem(api.patch(path, token=token, json_body={"paymentStatus": "free"}), 422, "validation_error")


def test_reschedule_keeps_duration_and_is_refused_on_overlap(api, professional):
    token, _ = professional
    client = new_client(api, token)
    appt = booked(api, token, client["id"], day_at(5, 13), durationMinutes=60)
    blocker = booked(api, token, client["id"], day_at(6, 13))
    db.run("UPDATE appointments SET reminder_sent_at = now() WHERE id = :id", id=appt["id"])
    path = f"/api/appointments/{appt['id']}"
    moved = api.patch(path, token=token, json_body={"startsAt": iso(day_at(7, 9))})
    assert moved.status == 200, moved.body
    assert moved.json["startsAt"] == day_at(7, 9).isoformat() and moved.json["durationMinutes"] == 60
    assert moved.json["reminderSentAt"] is None
    longer = api.patch(path, token=token, json_body={"durationMinutes": 90})
    assert longer.json["endsAt"] == day_at(7, 10, 30).isoformat()
    assert_problem(api.patch(path, token=token, json_body={"startsAt": iso(day_at(6, 12, 30))}), 409, "slot_taken")
    assert db.scalar("SELECT starts_at FROM appointments WHERE id = :id", id=appt["id"]) == day_at(7, 9)
    assert_problem(api.patch(path, token=token, json_body={"endsAt": iso(day_at(7, 8))}), 422, "validation_error")
    api.patch(f"/api/appointments/{blocker['id']}", token=token, json_body={"status": "completed"})
    body = assert_problem(api.patch(f"/api/appointments/{blocker['id']}", token=token,
                                    json_body={"startsAt": iso(day_at(8))}), 409, "not_reschedulable")
    assert "completed" in body["detail"]


def test_delete_appointment(api, professional):
    token, _ = professional
    client = new_client(api, token)
    appt = booked(api, token, client["id"], day_at(5))
    assert api.delete(f"/api/appointments/{appt['id']}", token=token).status == 204
    assert db.scalar("SELECT count(*) FROM appointments") == 0
    assert_problem(api.get(f"/api/appointments/{appt['id']}", token=token), 404, "not_found")
    assert_problem(api.delete(f"/api/appointments/{appt['id']}", token=token), 404, "not_found")


# --- isolation and auth ---------------------------------------------------------------------------------------------

def test_another_professionals_appointments_are_404_everywhere(api, professional, token_for):
    token, _ = professional
    client = new_client(api, token)
    appt = booked(api, token, client["id"], day_at(5))
    other, _ = second_professional(api, token_for)
    path = f"/api/appointments/{appt['id']}"
    assert_problem(api.get(path, token=other), 404, "not_found")
    assert_problem(api.patch(path, token=other, json_body={"status": "cancelled"}), 404, "not_found")
    assert_problem(api.delete(path, token=other), 404, "not_found")
    assert_problem(book(api, other, client["id"], day_at(9)), 404, "not_found")   # someone else's client
    assert api.get("/api/appointments", token=other).json["appointments"] == []
    assert api.get("/api/appointments", token=other, query={"clientId": client["id"]}).json["appointments"] == []
    assert db.scalar("SELECT status FROM appointments WHERE id = :id", id=appt["id"]) == "confirmed"
    assert db.scalar("SELECT count(*) FROM appointments") == 1
    assert_problem(api.get("/api/appointments/42", token=token), 404, "not_found")
    assert_problem(api.patch("/api/appointments/not-a-uuid", token=token, json_body={"status": "cancelled"}), 404,
                   "not_found")
    assert_problem(api.get(f"/api/appointments/{uuid.uuid4()}", token=token), 404, "not_found")


def test_appointment_routes_need_a_token(api):
    some = str(uuid.uuid4())
    for method, path in [("GET", "/api/appointments"), ("POST", "/api/appointments"),
                         ("GET", f"/api/appointments/{some}"), ("PATCH", f"/api/appointments/{some}"),
                         ("DELETE", f"/api/appointments/{some}")]:
        assert_problem(api.request(method, path, json_body={"x": 1} if method in ("POST", "PATCH") else None),
                       401, "missing_token")


def test_bad_bodies_are_400(api, professional):
    token, _ = professional
    assert_problem(api.post("/api/appointments", token=token), 400, "body_required")
    assert_problem(api.post("/api/appointments", token=token, body="[1]", headers={"content-type": "application/json"}),
                   400, "malformed_json")
    assert_problem(api.patch(f"/api/appointments/{uuid.uuid4()}", token=token, body="{",
                             headers={"content-type": "application/json"}), 400, "malformed_json")
