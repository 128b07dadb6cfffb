"""POST /api/booking and GET/PATCH /api/booking/{token} through real API Gateway v2 events."""

from __future__ import annotations

import datetime as dt
import functools

import pytest
from booking_helpers import (SAO_PAULO, UTC, add_appointment, add_client, book, booking_body, local_today,
                             professional_id, slots_on)
from devtools.concurrency import concurrently
from test_account import PROBLEM, assert_problem

from odys import booking, booking_tokens, db, pix
from odys.errors import Conflict

PAGE_IP = "198.51.100.7"


def appointment_rows() -> list[dict]:
    return db.all("SELECT a.id, a.starts_at, a.ends_at, a.status, a.price, a.pix_txid, a.notes, a.client_notes, c.name, c.phone "
                  "FROM appointments a JOIN clients c ON c.id = a.client_id ORDER BY a.starts_at")


def test_book_a_slot_then_the_same_slot_again_is_409(api, open_mornings):
    _, found = open_mornings
    slot = found[0]
    result = book(api, slot["startsAt"], phone="(11) 98888-7777", notes="Primeira consulta")
    assert result.status == 201, result.body
    body = result.json
    appointment = body["appointment"]
    assert appointment["startsAt"] == slot["startsAt"] and appointment["endsAt"] == slot["endsAt"]
    assert appointment["localStart"] == slot["localStart"] and appointment["timezone"] == "America/Sao_Paulo"
    assert appointment["status"] == "confirmed" and appointment["price"] == 15000
    assert appointment["professional"] == {"slug": "ana-psi", "name": "Ana Souza", "profession": "Psicóloga"}
    assert appointment["client"] == {"name": "Bia Lima"} and appointment["canChange"] is True
    assert "pix" not in body and result.headers["Location"] == f"/api/booking/{body['manageToken']}"
    assert booking_tokens.verify(body["manageToken"]) == appointment["id"]

    rows = appointment_rows()
    assert len(rows) == 1 and str(rows[0]["id"]) == appointment["id"]
    assert rows[0]["starts_at"] == dt.datetime.fromisoformat(slot["startsAt"]) and rows[0]["status"] == "confirmed"
    assert rows[0]["price"] == 15000 and rows[0]["client_notes"] == "Primeira consulta" and rows[0]["notes"] is None
    assert rows[0]["phone"] == "+5511988887777" and rows[0]["pix_txid"] is None
    assert db.scalar("SELECT kind FROM notifications WHERE recipient_id = :p", p=professional_id()) == "booking_created"
    assert slot["startsAt"] not in [s["startsAt"] for s in slots_on(api, local_today() + dt.timedelta(days=3))]

    again = book(api, slot["startsAt"], phone="+5511977776666", name="Outra", ip="192.0.2.2")
    assert_problem(again, 409, "slot_taken")
    assert len(appointment_rows()) == 1
    assert db.scalar("SELECT count(*) FROM clients") == 1  # the second client was rolled back with its booking


def test_existing_client_is_found_by_phone_and_keeps_their_data(api, open_mornings):
    _, found = open_mornings
    client_id = add_client("+5511988887777", "Beatriz Lima (ficha)")
    assert book(api, found[0]["startsAt"], phone="11 98888-7777", name="Outro Nome").status == 201
    assert db.scalar("SELECT count(*) FROM clients") == 1
    assert db.one("SELECT name FROM clients WHERE id = :id", id=client_id)["name"] == "Beatriz Lima (ficha)"
    assert str(db.scalar("SELECT client_id FROM appointments")) == client_id


def test_pending_without_auto_confirm_and_pix_when_the_professional_has_a_key(api, open_mornings):
    token, found = open_mornings
    assert api.patch("/api/account", token=token, json_body={
        "autoConfirm": False, "pixKeyType": "cpf", "pixKey": "529.982.247-25", "city": "São Paulo"}).status == 200
    result = book(api, found[1]["startsAt"])
    assert result.status == 201, result.body
    body = result.json
    assert body["appointment"]["status"] == "pending"
    payment = body["pix"]
    parsed = pix.parse_pix_payload(payment["payload"])
    assert parsed.key == "52998224725" and parsed.amount_cents == 15000 and parsed.city == "Sao Paulo"
    assert parsed.txid == payment["txid"] and payment["amountCents"] == 15000
    assert payment["qrSvg"].startswith("<svg")
    row = appointment_rows()[0]
    assert row["status"] == "pending" and row["pix_txid"] == payment["txid"]
    shown = api.get(f"/api/booking/{body['manageToken']}").json
    assert shown["pix"]["txid"] == payment["txid"] and shown["pix"]["payload"] == payment["payload"]


def test_pix_is_built_even_when_name_and_city_have_no_ascii_letters(api, open_mornings):
    token, found = open_mornings
    assert api.patch("/api/account", token=token, json_body={
        "name": "李伟", "city": "東京", "pixKeyType": "cpf", "pixKey": "529.982.247-25"}).status == 200
    result = book(api, found[0]["startsAt"])
    assert result.status == 201, result.body
    parsed = pix.parse_pix_payload(result.json["pix"]["payload"])
    assert parsed.name == "ana-psi" and parsed.city == "Brasil" and parsed.amount_cents == 15000


def test_twenty_concurrent_bookings_of_one_slot_give_one_201(api, open_mornings):
    _, found = open_mornings
    calls = [functools.partial(book, api, found[2]["startsAt"], phone=f"+55119777700{i:02d}", ip=f"192.0.2.{100 + i}")
             for i in range(20)]
    results = concurrently(calls)
    assert not [r for r in results if isinstance(r, Exception)], results
    statuses = sorted(r.status for r in results)
    assert statuses == [201] + [409] * 19, [r.body for r in results if r.status not in (201, 409)]
    assert all(r.json["code"] == "slot_taken" for r in results if r.status == 409)
    assert len(appointment_rows()) == 1
    assert db.scalar("SELECT count(*) FROM clients") == 1


def test_same_idempotency_key_returns_the_first_result_and_books_once(api, open_mornings):
    _, found = open_mornings
    first = book(api, found[0]["startsAt"], key="7b0e3c1e-key-1")
    assert first.status == 201, first.body
    retry = book(api, found[0]["startsAt"], key="7b0e3c1e-key-1", phone="(11) 98888-7777", ip="192.0.2.9")
    assert retry.status == 201 and retry.json == first.json
    assert retry.headers.get("Idempotent-Replayed") == "true"
    assert len(appointment_rows()) == 1
    other = book(api, found[1]["startsAt"], key="7b0e3c1e-key-1", ip="192.0.2.10")
    assert_problem(other, 422, "idempotency_key_reused")
    assert len(appointment_rows()) == 1
    assert str(db.scalar("SELECT appointment_id FROM idempotency_keys WHERE key = '7b0e3c1e-key-1'")) == \
        first.json["appointment"]["id"]
    bad = book(api, found[1]["startsAt"], key="has spaces", ip="192.0.2.11")
    assert_problem(bad, 400, "invalid_idempotency_key")


def test_concurrent_retries_with_one_idempotency_key_book_once(api, open_mornings):
    _, found = open_mornings
    calls = [functools.partial(book, api, found[3]["startsAt"], key="same-key", ip=f"192.0.2.{50 + i}")
             for i in range(8)]
    results = concurrently(calls)
    assert [r.status for r in results] == [201] * 8, [r.body for r in results]
    assert all(r.json == results[0].json for r in results)
    assert len(appointment_rows()) == 1


def test_failed_booking_leaves_no_idempotency_record(api, open_mornings):
    _, found = open_mornings
    add_appointment(dt.datetime.fromisoformat(found[0]["startsAt"]))
    assert_problem(book(api, found[0]["startsAt"], key="k-failed"), 409, "slot_taken")
    assert db.scalar("SELECT count(*) FROM idempotency_keys") == 0


def test_sixth_booking_from_one_ip_in_ten_minutes_is_429(api, open_mornings):
    _, found = open_mornings
    for i, slot in enumerate(found[:5]):
        assert book(api, slot["startsAt"], phone=f"+551197777{i:04d}", ip="192.0.2.77").status == 201
    refused = book(api, found[5]["startsAt"], phone="+5511977779999", ip="192.0.2.77")
    assert_problem(refused, 429, "rate_limited")
    assert int(refused.headers["Retry-After"]) >= 1 and refused.headers["RateLimit-Remaining"] == "0"
    assert len(appointment_rows()) == 5
    assert book(api, found[5]["startsAt"], phone="+5511977779999", ip="192.0.2.78").status == 201


def test_times_that_are_not_offered_are_422_slot_unavailable(api, open_mornings):
    _, found = open_mornings
    start = dt.datetime.fromisoformat(found[0]["startsAt"])
    beyond = local_today() + dt.timedelta(days=70)
    for starts_at in (start + dt.timedelta(minutes=30),                                     # off the grid
                      dt.datetime.combine(local_today() - dt.timedelta(days=1), dt.time(9), SAO_PAULO),  # past
                      dt.datetime.combine(beyond, dt.time(12), UTC),                        # beyond 60-day window
                      start.replace(hour=20)):                                              # 17:00 local: no window
        body = assert_problem(book(api, starts_at.isoformat(), ip=f"192.0.2.{starts_at.hour}"), 422,
                              "slot_unavailable")
        assert body["errors"][0]["field"] == "startsAt"
    assert appointment_rows() == []
    assert db.scalar("SELECT count(*) FROM clients") == 0


def test_offset_is_accepted_in_any_zone_and_z(api, open_mornings):
    _, found = open_mornings
    local = found[0]["localStart"]                                 # ...T09:00:00-03:00 names the same instant
    assert book(api, local, ip="192.0.2.31").status == 201
    z = found[1]["startsAt"].replace("+00:00", "Z")
    assert book(api, z, phone="+5511966665555", ip="192.0.2.32").status == 201


def test_bad_input_is_400_or_422_problem_and_unknown_slug_404(api, open_mornings):
    _, found = open_mornings
    starts = found[0]["startsAt"]
    malformed = api.post("/api/booking", body='{"slug": ', headers={"content-type": "application/json"},
                         source_ip="192.0.2.40")
    assert_problem(malformed, 400, "malformed_json")
    cases = [({**booking_body(starts), "client": {"name": "X", "phone": "123"}}, {"client.phone"}),
             ({**booking_body(starts), "startsAt": starts[:19]}, {"startsAt"}),                       # no offset
             ({**booking_body(starts), "startsAt": "tomorrow"}, {"startsAt"}),
             ({"slug": "ana-psi", "startsAt": starts}, {"client"}),
             ({**booking_body(starts), "price": 1}, {"price"}),
             ({**booking_body(starts), "client": {"name": "", "phone": "+5511988887777", "email": "x"}},
              {"client.name", "client.email"})]
    for i, (body, fields) in enumerate(cases):
        problem = assert_problem(api.post("/api/booking", json_body=body, source_ip=f"192.0.2.{41 + i}"), 422,
                                 "validation_error")
        assert {e["field"] for e in problem["errors"]} == fields
    unknown = api.post("/api/booking", json_body={**booking_body(starts), "slug": "nobody-here"}, source_ip="192.0.2.60")
    assert_problem(unknown, 404, "not_found")
    assert appointment_rows() == []


# --- plan limits --------------------------------------------------------------------------------------------

def _free_plan() -> None:
    db.run("UPDATE professionals SET plan = 'free', trial_ends_at = now() - interval '1 day'")


def test_free_plan_monthly_appointment_limit_is_402_naming_basic(api, open_mornings):
    _, found = open_mornings
    _free_plan()
    target = dt.datetime.fromisoformat(found[0]["startsAt"])
    client_id = add_client()
    for _ in range(20):  # completed sessions count toward the month but do not block the slot
        add_appointment(target, status="completed", client_id=client_id)
    refused = book(api, found[0]["startsAt"])
    problem = assert_problem(refused, 402, "plan_limit_reached")
    assert problem["requiredPlan"] == "basic" and problem["currentPlan"] == "free"
    assert db.scalar("SELECT count(*) FROM appointments WHERE status = 'confirmed'") == 0
    assert db.scalar("SELECT count(*) FROM clients") == 1  # the new client was rolled back
    notices = db.all("SELECT kind FROM notifications WHERE recipient_id = :p", p=professional_id())
    assert notices == [{"kind": "plan_limit_reached"}]  # kept, although the booking rolled back
    assert_problem(book(api, found[0]["startsAt"], ip="192.0.2.3"), 402, "plan_limit_reached")
    assert db.scalar("SELECT count(*) FROM notifications") == 1  # once a month


def test_free_plan_client_limit_blocks_new_clients_only(api, open_mornings):
    _, found = open_mornings
    _free_plan()
    for i in range(10):
        add_client(f"+55119555500{i:02d}")
    problem = assert_problem(book(api, found[0]["startsAt"]), 402, "plan_limit_reached")
    assert problem["requiredPlan"] == "basic" and problem["limit"] == "clients"
    assert db.scalar("SELECT count(*) FROM clients") == 10 and appointment_rows() == []
    known = book(api, found[0]["startsAt"], phone="+5511955550003", ip="192.0.2.4")
    assert known.status == 201, known.body


# --- the signed link ----------------------------------------------------------------------------------------

def _booked(api, slot: dict, ip: str = "192.0.2.1") -> dict:
    result = book(api, slot["startsAt"], ip=ip)
    assert result.status == 201, result.body
    return result.json


def test_link_shows_the_booking(api, open_mornings):
    _, found = open_mornings
    created = _booked(api, found[0])
    shown = api.get(f"/api/booking/{created['manageToken']}")
    assert shown.status == 200, shown.body
    expected = {k: v for k, v in created["appointment"].items() if k != "client"}  # the link shows no client record
    assert shown.json == {"appointment": expected}


def test_cancel_through_the_link_frees_the_slot(api, open_mornings):
    _, found = open_mornings
    created = _booked(api, found[0])
    link = f"/api/booking/{created['manageToken']}"
    result = api.patch(link, json_body={"action": "cancel"}, source_ip="192.0.2.20")
    assert result.status == 200, result.body
    assert result.json["appointment"]["status"] == "cancelled" and result.json["appointment"]["canChange"] is False
    assert appointment_rows()[0]["status"] == "cancelled"
    assert found[0]["startsAt"] in [s["startsAt"] for s in slots_on(api, local_today() + dt.timedelta(days=3))]
    assert db.scalar("SELECT count(*) FROM notifications WHERE kind = 'booking_cancelled'") == 1
    assert_problem(api.patch(link, json_body={"action": "cancel"}, source_ip="192.0.2.21"), 409, "already_cancelled")
    db.run("UPDATE appointments SET status = 'completed'")
    assert_problem(api.patch(link, json_body={"action": "cancel"}, source_ip="192.0.2.22"), 409, "booking_closed")


def test_cancel_outside_the_notice_window_is_refused(api, open_mornings):
    token, found = open_mornings
    created = _booked(api, found[0])
    assert api.patch("/api/account", token=token, json_body={"cancellationNoticeHours": 720}).status == 200
    refused = api.patch(f"/api/booking/{created['manageToken']}", json_body={"action": "cancel"},
                        source_ip="192.0.2.20")
    problem = assert_problem(refused, 409, "cancellation_window_passed")
    assert "720 hours" in problem["detail"] and problem["cancellationNoticeHours"] == 720
    assert appointment_rows()[0]["status"] == "confirmed"
    shown = api.get(f"/api/booking/{created['manageToken']}").json["appointment"]
    assert shown["canChange"] is False and shown["cancellationNoticeHours"] == 720


def test_cancellation_deadline_is_inclusive(api, open_mornings):
    _, found = open_mornings
    created = _booked(api, found[0])
    deadline = dt.datetime.fromisoformat(found[0]["startsAt"]) - dt.timedelta(hours=24)
    token = created["manageToken"]
    with pytest.raises(Conflict) as late:
        booking.change(token, booking.BookingChange(action="cancel"), now=deadline + dt.timedelta(seconds=1))
    assert late.value.code == "cancellation_window_passed"
    assert booking.change(token, booking.BookingChange(action="cancel"), now=deadline)["appointment"]["status"] \
        == "cancelled"


def test_forged_malformed_expired_and_unknown_links_are_404(api, open_mornings):
    _, found = open_mornings
    created = _booked(api, found[0])
    good = created["manageToken"]
    body, mac = good.split(".")
    forged = f"{body}.{'A' * 22}"
    other_id = booking_tokens.issue("00000000-0000-4000-8000-000000000000",
                                    dt.datetime.now(UTC) + dt.timedelta(days=1))
    expired = booking_tokens.issue(created["appointment"]["id"], dt.datetime.now(UTC) - dt.timedelta(seconds=1))
    for i, token in enumerate((forged, "not-a-token", good[:-1], expired, other_id, good + "x")):
        assert_problem(api.get(f"/api/booking/{token}"), 404, "booking_not_found")
        assert_problem(api.patch(f"/api/booking/{token}", json_body={"action": "cancel"},
                                 source_ip=f"192.0.2.{120 + i}"), 404, "booking_not_found")
    assert appointment_rows()[0]["status"] == "confirmed"


def test_reschedule_moves_the_booking_atomically(api, open_mornings):
    _, found = open_mornings
    created = _booked(api, found[0])
    link = f"/api/booking/{created['manageToken']}"
    add_appointment(dt.datetime.fromisoformat(found[1]["startsAt"]))             # someone else holds 10:00
    taken = api.patch(link, json_body={"action": "reschedule", "startsAt": found[1]["startsAt"]},
                      source_ip="192.0.2.20")
    assert_problem(taken, 409, "slot_taken")
    off_grid = (dt.datetime.fromisoformat(found[2]["startsAt"]) + dt.timedelta(minutes=5)).isoformat()
    assert_problem(api.patch(link, json_body={"action": "reschedule", "startsAt": off_grid}, source_ip="192.0.2.21"),
                   422, "slot_unavailable")
    mine = [r for r in appointment_rows() if str(r["id"]) == created["appointment"]["id"]][0]
    assert mine["starts_at"] == dt.datetime.fromisoformat(found[0]["startsAt"])  # the old slot stays

    moved = api.patch(link, json_body={"action": "reschedule", "startsAt": found[3]["startsAt"]},
                      source_ip="192.0.2.22")
    assert moved.status == 200, moved.body
    assert moved.json["appointment"]["startsAt"] == found[3]["startsAt"]
    assert moved.json["appointment"]["endsAt"] == found[3]["endsAt"]
    mine = db.one("SELECT starts_at, ends_at, status FROM appointments WHERE id = :id", id=created["appointment"]["id"])
    assert mine["starts_at"] == dt.datetime.fromisoformat(found[3]["startsAt"]) and mine["status"] == "confirmed"
    assert found[0]["startsAt"] in [s["startsAt"] for s in slots_on(api, local_today() + dt.timedelta(days=3))]
    new_link = f"/api/booking/{moved.json['manageToken']}"
    assert api.get(new_link).json["appointment"]["startsAt"] == found[3]["startsAt"]
    assert api.get(link).status == 200  # the first link keeps working until it expires
    same = api.patch(new_link, json_body={"action": "reschedule", "startsAt": found[3]["startsAt"]},
                     source_ip="192.0.2.23")
    assert same.status == 200, same.body  # its own time does not count as taken
    assert db.scalar("SELECT count(*) FROM appointments WHERE status = 'confirmed'") == 2


def test_patch_body_is_validated(api, open_mornings):
    _, found = open_mornings
    link = f"/api/booking/{_booked(api, found[0])['manageToken']}"
    for i, body in enumerate(({"action": "reschedule"}, {"action": "delete"},
                              {"action": "cancel", "startsAt": found[1]["startsAt"]})):
        result = api.patch(link, json_body=body, source_ip=f"192.0.2.{90 + i}")
        assert result.status == 422 and result.content_type == PROBLEM, result.body
    assert appointment_rows()[0]["status"] == "confirmed"
