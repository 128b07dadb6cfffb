"""/api/client-profile and /api/client-profile/export: a client user sees, rectifies, exports and erases what is
theirs across professionals — found through the token's verified phone or e-mail only, never through a request."""

from __future__ import annotations

import datetime as dt
import functools
import threading
import time

import pytest
from client_side_helpers import (BIA_PHONE, UTC, add_appointment, add_client, assert_problem, client_token,
                                 completed_appointment, onboard)

from devtools.concurrency import concurrently
from odys import db

BIA_PHONE_WITHOUT_NINTH_DIGIT = "+551188887777"  # how Bruno typed her number


@pytest.fixture
def practice(api, token_for):
    """Ana (São Paulo, PIX key) and Bruno (Manaus, no PIX key) both have Bia as a client, plus a client of their own
    each; one appointment of each client."""
    ana_token, ana = onboard(api, token_for, "ana-psi", city="Recife")
    assert api.patch("/api/account", token=ana_token,
                     json_body={"pixKeyType": "cpf", "pixKey": "529.982.247-25"}).status == 200
    bruno_token, bruno = onboard(api, token_for, "bruno-nutri", timezone="America/Manaus", profession="Nutricionista")
    bia_at_ana, bia_at_bruno = add_client(ana), add_client(bruno, phone=BIA_PHONE_WITHOUT_NINTH_DIGIT)
    caio_at_ana, dora_at_bruno = add_client(ana, "+5521977776666", "Caio"), add_client(bruno, "+5531966665555", "Dora")
    starts = dt.datetime(2030, 3, 4, 13, tzinfo=UTC)
    ids = {
        "bia_ana": add_appointment(ana, bia_at_ana, starts_at=starts, notes="private: anxiety"),
        "bia_bruno": add_appointment(bruno, bia_at_bruno, starts_at=starts, payment_status="paid"),
        "caio": add_appointment(ana, caio_at_ana), "dora": add_appointment(bruno, dora_at_bruno),
    }
    return {"ana": ana, "bruno": bruno, "ana_token": ana_token, "bruno_token": bruno_token,
            "bia_at_ana": bia_at_ana, "bia_at_bruno": bia_at_bruno, "appointments": ids}


def linked_rows() -> list[str]:
    return [str(r["id"]) for r in db.all("SELECT id FROM clients WHERE user_id IS NOT NULL ORDER BY id")]


def test_a_verified_phone_sees_both_professionals_appointments_and_nobody_elses(api, token_for, practice):
    bia = client_token(token_for)
    result = api.get("/api/client-profile", token=bia)
    assert result.status == 200, result.body
    assert result.headers.get("Cache-Control") == "private, no-store"
    body = result.json
    assert body["identity"]["phone"] == BIA_PHONE and body["identity"]["email"] is None
    assert sorted(p["slug"] for p in body["professionals"]) == ["ana-psi", "bruno-nutri"]
    assert all("phone" not in p and "pixKey" not in p and "email" not in p for p in body["professionals"])
    assert {p["slug"]: p["record"]["phone"] for p in body["professionals"]} == {
        "ana-psi": BIA_PHONE, "bruno-nutri": BIA_PHONE_WITHOUT_NINTH_DIGIT}
    upcoming = {a["id"]: a for a in body["appointments"]["upcoming"]}
    ids = practice["appointments"]
    assert set(upcoming) == {ids["bia_ana"], ids["bia_bruno"]} and body["appointments"]["past"] == []

    at_ana, at_bruno = upcoming[ids["bia_ana"]], upcoming[ids["bia_bruno"]]
    assert at_ana["professional"] == {"slug": "ana-psi", "name": "Ana Souza", "profession": "Psicóloga",
                                      "avatarUrl": None, "city": "Recife", "timezone": "America/Sao_Paulo"}
    assert at_ana["startsAt"] == "2030-03-04T13:00:00+00:00" and at_ana["localStart"] == "2030-03-04T10:00:00-03:00"
    assert at_bruno["localStart"] == "2030-03-04T09:00:00-04:00" and at_bruno["timezone"] == "America/Manaus"
    assert (at_ana["status"], at_ana["price"], at_ana["paymentStatus"]) == ("confirmed", 15000, "unpaid")
    assert "notes" not in at_ana and "private" not in result.body
    assert at_ana["pixUrl"] == f"/api/appointments/{ids['bia_ana']}/pix"
    assert at_bruno["pixUrl"] is None  # paid (and Bruno has no PIX key)

    pix = api.get(at_ana["pixUrl"], token=bia)  # the route the profile points at answers the client
    assert pix.status == 200 and pix.json["amountCents"] == 15000
    assert sorted(linked_rows()) == sorted([practice["bia_at_ana"], practice["bia_at_bruno"]])
    assert api.get("/api/client-profile", token=bia).json == body  # linking again changes nothing
    assert sorted(linked_rows()) == sorted([practice["bia_at_ana"], practice["bia_at_bruno"]])


@pytest.mark.parametrize("claims", [
    {"phone_verified": False}, {"phone_verified": None}, {"phone_verified": "true"},
    {"phone": None}, {"phone": ""}, {"phone": "not-a-phone"},
    {"phone": None, "email": "bia@example.com", "email_verified": False},
])
def test_a_phone_claim_absent_or_unverified_links_nothing(api, token_for, practice, claims):
    db.run("UPDATE clients SET email = 'bia@example.com' WHERE id = :id", id=practice["bia_at_ana"])
    token = client_token(token_for, **claims)
    body = api.get("/api/client-profile", token=token).json
    assert body["professionals"] == [] and body["appointments"] == {"upcoming": [], "past": []}
    assert linked_rows() == []
    assert api.get(f"/api/appointments/{practice['appointments']['bia_ana']}/pix", token=token).status == 404


def test_a_verified_email_links_the_records_with_that_email(api, token_for, practice):
    db.run("UPDATE clients SET email = 'Bia@Example.com' WHERE id = :id", id=practice["bia_at_bruno"])
    token = client_token(token_for, phone=None, email="bia@example.com", email_verified=True)
    body = api.get("/api/client-profile", token=token).json
    assert [p["slug"] for p in body["professionals"]] == ["bruno-nutri"]
    assert linked_rows() == [practice["bia_at_bruno"]]


def test_a_request_body_naming_another_phone_links_nothing(api, token_for, practice):
    stranger = client_token(token_for, phone="5511911112222")  # verified, but nobody's client
    for body in ({"phone": BIA_PHONE}, {"name": "Bia", "phone": BIA_PHONE}, {"userId": "x", "clientId": "y"}):
        assert_problem(api.patch("/api/client-profile", token=stranger, json_body=body), 422, "validation_error")
    assert api.get("/api/client-profile", token=stranger, query={"phone": BIA_PHONE}).json["professionals"] == []
    renamed = api.patch("/api/client-profile", token=stranger, json_body={"name": "Someone Else"})
    assert renamed.status == 200 and renamed.json["professionals"] == []
    assert linked_rows() == []
    assert db.scalar("SELECT count(*) FROM clients WHERE name = 'Someone Else'") == 0


def test_a_linked_record_stays_with_its_user_when_the_number_changes_hands(api, token_for, practice):
    bia = client_token(token_for, "bia-user")
    assert len(api.get("/api/client-profile", token=bia).json["professionals"]) == 2
    new_owner = client_token(token_for, "new-owner-of-the-number")  # the same number, verified by someone else
    assert api.get("/api/client-profile", token=new_owner).json["professionals"] == []
    bia_new_phone = client_token(token_for, "bia-user", phone="5511955554444")  # Bia changed numbers
    assert len(api.get("/api/client-profile", token=bia_new_phone).json["professionals"]) == 2
    assert {r["user_id"] for r in db.all("SELECT user_id FROM clients WHERE user_id IS NOT NULL")} == {"bia-user"}


def test_one_record_per_professional_is_linked(api, token_for, practice):
    """Two records of one professional matching (phone and e-mail): the phone's is linked, the other stays free."""
    other = add_client(practice["ana"], phone="+5541944443333", name="Bia (e-mail)", email="bia@example.com")
    token = client_token(token_for, email="bia@example.com", email_verified=True)
    assert len(api.get("/api/client-profile", token=token).json["professionals"]) == 2
    assert practice["bia_at_ana"] in linked_rows() and other not in linked_rows()


def test_past_appointments_latest_first_and_reviewable_when_completed(api, token_for, practice):
    ana, bia_at_ana = practice["ana"], practice["bia_at_ana"]
    older, newer = completed_appointment(ana, bia_at_ana, days_ago=20), completed_appointment(ana, bia_at_ana)
    bia = client_token(token_for)
    past = api.get("/api/client-profile", token=bia).json["appointments"]["past"]
    assert [a["id"] for a in past] == [newer, older] and all(a["reviewable"] for a in past)
    assert api.post("/api/reviews", token=bia, json_body={"appointmentId": newer, "rating": 4}).status == 201
    past = api.get("/api/client-profile", token=bia).json["appointments"]["past"]
    assert past[0]["review"]["rating"] == 4 and past[0]["reviewable"] is False


def test_patch_rectifies_every_linked_record_and_tells_each_professional(api, token_for, practice):
    bia = client_token(token_for)
    result = api.patch("/api/client-profile", token=bia, json_body={"name": "Beatriz Lima", "email": "BIA@ex.com"})
    assert result.status == 200, result.body
    assert {p["record"]["name"] for p in result.json["professionals"]} == {"Beatriz Lima"}
    rows = db.all("SELECT name, email FROM clients WHERE user_id IS NOT NULL")
    assert rows == [{"name": "Beatriz Lima", "email": "bia@ex.com"}] * 2
    assert db.scalar("SELECT count(*) FROM clients WHERE name = 'Beatriz Lima'") == 2  # Caio and Dora untouched
    for pro in ("ana_token", "bruno_token"):
        notices = api.get("/api/notifications", token=practice[pro]).json["notifications"]
        rectified = [n for n in notices if n["kind"] == "client_rectified"]
        assert len(rectified) == 1 and "Beatriz Lima" in rectified[0]["body"] and rectified[0]["clientId"]
    # the same values again change nothing and tell nobody
    api.patch("/api/client-profile", token=bia, json_body={"name": "Beatriz Lima"})
    assert db.scalar("SELECT count(*) FROM notifications WHERE kind = 'client_rectified'") == 2
    assert api.patch("/api/client-profile", token=bia, json_body={"email": None}).status == 200
    assert db.scalar("SELECT count(*) FROM clients WHERE user_id IS NOT NULL AND email IS NULL") == 2


@pytest.mark.parametrize("body", [{"name": None}, {"name": ""}, {"email": "nope"}, {"name": "x" * 121}, {"phone": "1"}])
def test_bad_rectification_is_422_and_changes_nothing(api, token_for, practice, body):
    assert_problem(api.patch("/api/client-profile", token=client_token(token_for), json_body=body), 422)
    assert db.scalar("SELECT count(*) FROM clients WHERE name = 'Bia Lima'") == 2


def test_erasure_unlinks_withdraws_reviews_removes_follows_and_audits_each_professional(api, token_for, practice):
    ana, bruno = practice["ana"], practice["bruno"]
    bia = client_token(token_for, "bia-user")
    reviewed = completed_appointment(ana, practice["bia_at_ana"])
    assert api.post("/api/reviews", token=bia, json_body={"appointmentId": reviewed, "rating": 1}).status == 201
    caio_review = completed_appointment(ana, db.scalar("SELECT id FROM clients WHERE name = 'Caio'"))
    caio = client_token(token_for, phone="5521977776666")
    assert api.post("/api/reviews", token=caio, json_body={"appointmentId": caio_review, "rating": 5}).status == 201
    assert api.get("/api/professionals/ana-psi").json["reviews"] == {"count": 2, "average": 3.0}
    third_token, third = onboard(api, token_for, "carla-fisio")
    for slug in ("ana-psi", "carla-fisio"):
        assert api.post("/api/follows", token=bia, json_body={"slug": slug}).status == 201

    result = api.delete("/api/client-profile", token=bia)
    assert result.status == 200, result.body
    assert result.json == {"erased": {"professionals": 3, "clientLinks": 2, "follows": 2, "reviews": 1}}

    assert db.scalar("SELECT count(*) FROM clients WHERE user_id = 'bia-user'") == 0
    assert db.scalar("SELECT count(*) FROM follows WHERE user_id = 'bia-user'") == 0
    assert api.get("/api/professionals/ana-psi").json["reviews"] == {"count": 1, "average": 5.0}
    # the records stay with the professionals: the client, the appointments, the private notes
    assert db.scalar("SELECT count(*) FROM clients WHERE name = 'Bia Lima'") == 2
    assert db.scalar("SELECT notes FROM appointments WHERE id = :id",
                     id=practice["appointments"]["bia_ana"]) == "private: anxiety"
    audit = {str(r["professional_id"]): r for r in db.all("SELECT * FROM deletion_audit")}
    assert set(audit) == {ana, bruno, third}
    assert {r["actor"] for r in audit.values()} == {"client_user"}
    assert {r["action"] for r in audit.values()} == {"client_erasure"}
    assert audit[ana]["counts"] == {"client_links": 1, "follows": 1, "reviews": 1}
    assert audit[bruno]["counts"] == {"client_links": 1, "follows": 0, "reviews": 0}
    assert audit[third]["counts"] == {"client_links": 0, "follows": 1, "reviews": 0}
    assert "Bia" not in str([r["counts"] for r in audit.values()])
    for token, told in ((practice["ana_token"], True), (practice["bruno_token"], True), (third_token, False)):
        kinds = [n["kind"] for n in api.get("/api/notifications", token=token).json["notifications"]]
        assert ("client_erasure" in kinds) is told  # a follower is no client: Carla learns nothing
    again = api.delete("/api/client-profile", token=client_token(token_for, "bia-user", phone=None))
    assert again.json["erased"] == {"professionals": 0, "clientLinks": 0, "follows": 0, "reviews": 0}


def test_export_holds_everything_about_the_user_but_the_professionals_notes(api, token_for, practice):
    bia = client_token(token_for)
    reviewed = completed_appointment(practice["ana"], practice["bia_at_ana"])
    assert api.post("/api/reviews", token=bia, json_body={"appointmentId": reviewed, "rating": 5,
                                                          "comment": "Ótima"}).status == 201
    assert api.post("/api/follows", token=bia, json_body={"slug": "bruno-nutri"}).status == 201
    db.run("INSERT INTO messages (professional_id, client_id, direction, body, status) "
           "VALUES (:p, :c, 'inbound', 'Oi, posso remarcar?', 'received')", p=practice["ana"], c=practice["bia_at_ana"])
    ana, bia_at_ana = practice["ana"], practice["bia_at_ana"]
    db.run("INSERT INTO messages (professional_id, client_id, direction, recipient, to_phone, template, body) "
           "VALUES (:p, :c, 'outbound', 'professional', '+5511911110000', 'msgNewBookingForProfessional', "
           "'Nova reserva: Bia Lima')", p=ana, c=bia_at_ana)
    db.run("INSERT INTO client_notes (professional_id, client_id, body) VALUES (:p, :c, 'private: panic attacks')",
           p=ana, c=bia_at_ana)
    db.run("INSERT INTO recurring_schedules (professional_id, client_id, day_of_week, start_time, duration_minutes, "
           "starts_on) VALUES (:p, :c, 2, '10:00', 50, '2030-01-01')", p=ana, c=bia_at_ana)
    db.run("UPDATE clients SET wa_id = '5511988887777', whatsapp_opted_out_at = now() WHERE id = :c", c=bia_at_ana)

    result = api.get("/api/client-profile/export", token=bia)
    assert result.status == 200, result.body
    assert "attachment" in result.headers["Content-Disposition"]
    doc = result.json
    assert doc["schemaVersion"] == 1 and doc["identity"]["phone"] == BIA_PHONE
    records = {r["professional"]["slug"]: r for r in doc["clientRecords"]}
    assert set(records) == {"ana-psi", "bruno-nutri"}
    assert {a["id"] for a in records["ana-psi"]["appointments"]} == {practice["appointments"]["bia_ana"], reviewed}
    assert [a["id"] for a in records["bruno-nutri"]["appointments"]] == [practice["appointments"]["bia_bruno"]]
    at_ana = records["ana-psi"]
    assert [(m["direction"], m["recipient"], m["body"]) for m in at_ana["messages"]] == [
        ("inbound", None, "Oi, posso remarcar?"), ("outbound", "professional", "Nova reserva: Bia Lima")]
    assert [n["kind"] for n in at_ana["noticesToTheProfessional"]] == ["review_received"]
    assert records["bruno-nutri"]["noticesToTheProfessional"] == [] == records["bruno-nutri"]["recurringSchedules"]
    assert [(s["dayOfWeek"], s["startTime"], s["intervalWeeks"]) for s in at_ana["recurringSchedules"]] == [
        (2, "10:00", 1)]
    assert at_ana["record"]["whatsappId"] == "5511988887777" and at_ana["record"]["whatsappOptedOutAt"]
    assert [f["slug"] for f in doc["follows"]] == ["bruno-nutri"]
    assert doc["reviews"][0]["comment"] == "Ótima" and doc["reviews"][0]["slug"] == "ana-psi"
    assert "private:" not in result.body and "Caio" not in result.body and "Dora" not in result.body
    assert "private notes" in doc["notIncluded"]


@pytest.mark.parametrize("method, path", [("GET", "/api/client-profile"), ("PATCH", "/api/client-profile"),
                                          ("DELETE", "/api/client-profile"), ("GET", "/api/client-profile/export")])
def test_client_profile_routes_need_a_token(api, token_for, method, path):
    kw = {"json_body": {"name": "Bia"}} if method == "PATCH" else {}
    assert_problem(api.request(method, path, **kw), 401, "missing_token")
    expired = token_for(expires_in=-3600)
    assert_problem(api.request(method, path, token=expired, **kw), 401, "token_expired")


def test_after_the_erasure_nothing_links_the_records_again(api, token_for, practice):
    """Neither the same token's next request nor a later owner of the number brings the erased links back."""
    bia = client_token(token_for, "bia-user")
    assert len(api.get("/api/client-profile", token=bia).json["professionals"]) == 2
    assert api.delete("/api/client-profile", token=bia).status == 200
    for token in (bia, client_token(token_for, "new-owner-of-the-number")):
        assert api.get("/api/client-profile", token=token).json["professionals"] == []
        assert api.get("/api/client-profile/export", token=token).json["clientRecords"] == []
    assert linked_rows() == []
    # the professional types the record's phone again (a new number): the record is linkable again, by its owner
    assert api.patch(f"/api/clients/{practice['bia_at_ana']}", token=practice["ana_token"],
                     json_body={"phone": "+5511955554444"}).status == 200
    bia_new_number = client_token(token_for, "bia-user", phone="5511955554444")
    assert [p["slug"] for p in api.get("/api/client-profile", token=bia_new_number).json["professionals"]] == [
        "ana-psi"]


def test_a_record_whose_phone_the_professional_changes_lets_its_user_go(api, token_for, practice):
    """Ana had typed someone else's number: he linked it; once she corrects it, he no longer sees her client."""
    bia_at_ana = practice["bia_at_ana"]
    wrong_person = client_token(token_for, "wrong-person")
    assert len(api.get("/api/client-profile", token=wrong_person).json["professionals"]) == 2
    assert api.patch(f"/api/clients/{bia_at_ana}", token=practice["ana_token"],
                     json_body={"phone": "+5511955554444"}).status == 200
    assert [p["slug"] for p in api.get("/api/client-profile", token=wrong_person).json["professionals"]] == [
        "bruno-nutri"]
    assert api.get(f"/api/appointments/{practice['appointments']['bia_ana']}/pix", token=wrong_person).status == 404
    # an e-mail correction by the professional lets go too (his verified phone still matches Bruno's record)
    assert api.patch(f"/api/clients/{practice['bia_at_bruno']}", token=practice["bruno_token"],
                     json_body={"email": "bia@example.com"}).status == 200
    assert db.scalar("SELECT user_id FROM clients WHERE id = :id", id=practice["bia_at_bruno"]) is None


def test_the_users_own_email_rectification_keeps_the_links(api, token_for, practice):
    by_email = client_token(token_for, "bia-user", phone=None, email="bia@example.com", email_verified=True)
    db.run("UPDATE clients SET email = 'bia@example.com' WHERE id IN (:a, :b)",
           a=practice["bia_at_ana"], b=practice["bia_at_bruno"])
    assert len(api.get("/api/client-profile", token=by_email).json["professionals"]) == 2
    changed = api.patch("/api/client-profile", token=by_email, json_body={"email": "beatriz@example.com"})
    assert changed.status == 200 and len(changed.json["professionals"]) == 2
    assert db.scalar("SELECT count(*) FROM clients WHERE user_id = 'bia-user'") == 2


def test_a_review_racing_the_erasure_does_not_survive_it(api, token_for, practice, monkeypatch):
    """The erasure commits between the review's checks and its insert: the review is not written."""
    from odys import client_profile
    from odys.store import reviews as reviews_store

    bia = client_token(token_for, "bia-user")
    appointment_id = completed_appointment(practice["ana"], practice["bia_at_ana"])
    assert api.get("/api/client-profile", token=bia).status == 200
    checked = reviews_store.appointment_for_review

    def checked_then_erased(appointment, user_id):
        row = checked(appointment, user_id)
        client_profile.erase(user_id)  # the user's DELETE, in another request, commits now
        return row

    monkeypatch.setattr(reviews_store, "appointment_for_review", checked_then_erased)
    assert_problem(api.post("/api/reviews", token=bia, json_body={"appointmentId": appointment_id, "rating": 5}),
                   404, "not_found")
    assert db.scalar("SELECT count(*) FROM reviews") == 0


def test_concurrent_requests_link_each_record_once(api, token_for, practice):
    """The same user's requests at once (a phone token and an e-mail one, matching different records of Ana: the
    unique (professional, user) index decides), and another user verifying the same number: never a 5xx, and each
    professional's record has one holder."""
    other_at_ana = add_client(practice["ana"], phone="+5541944443333", name="Bia (e-mail)", email="bia@example.com")
    by_phone = client_token(token_for, "bia-user")
    by_email = client_token(token_for, "bia-user", phone=None, email="bia@example.com", email_verified=True)
    rival = client_token(token_for, "rival")
    calls = [functools.partial(api.get, "/api/client-profile", token=t) for t in [by_phone, by_email, rival] * 4]
    results = concurrently(calls)
    assert [r.status for r in results] == [200] * len(calls), [getattr(r, "body", r) for r in results]
    holders = {str(r["id"]): r["user_id"] for r in db.all("SELECT id, user_id FROM clients")}
    assert holders[practice["bia_at_ana"]] in ("bia-user", "rival") and holders[practice["bia_at_bruno"]] in (
        "bia-user", "rival")  # the phone's records: each taken by one of the two
    assert holders[other_at_ana] in (None, "bia-user")  # the e-mail's: only by the e-mail's owner
    assert db.scalar("SELECT count(*) FROM (SELECT 1 FROM clients WHERE user_id IS NOT NULL "
                     "GROUP BY professional_id, user_id HAVING count(*) > 1) twice") == 0
    assert [r.status for r in concurrently(calls[:3])] == [200] * 3  # and once linked, nothing moves
    assert {str(r["id"]): r["user_id"] for r in db.all("SELECT id, user_id FROM clients")} == holders


def test_a_link_losing_the_race_to_the_same_users_other_request_retries(api, token_for, practice):
    """Deterministic form of the race above: the user's other request holds Ana's e-mail record, uncommitted, while
    this one links her phone record; the unique (professional, user) index fails this one once it commits, and the
    retry links only Bruno's."""
    by_email_row = add_client(practice["ana"], phone="+5541944443333", name="Bia (e-mail)", email="bia@example.com")
    held, done = threading.Event(), threading.Event()

    def linking_waits() -> bool:
        db.run("SELECT pg_stat_clear_snapshot()")  # pg_stat_activity is read once per transaction otherwise
        return bool(db.scalar("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                              "AND query LIKE 'WITH picked%'"))

    def other_request() -> None:
        with db.transaction():
            db.run("UPDATE clients SET user_id = 'bia-user' WHERE id = :id", id=by_email_row)
            held.set()
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not linking_waits():  # until this request waits for the row
                time.sleep(0.02)
        db.close()
        done.set()

    thread = threading.Thread(target=other_request)
    thread.start()
    assert held.wait(10)
    result = api.get("/api/client-profile", token=client_token(token_for, "bia-user"))
    thread.join(10)
    assert done.is_set() and result.status == 200, result.body
    assert {r["slug"]: r["record"]["name"] for r in result.json["professionals"]} == {
        "ana-psi": "Bia (e-mail)", "bruno-nutri": "Bia Lima"}
    assert db.scalar("SELECT user_id FROM clients WHERE id = :id", id=practice["bia_at_ana"]) is None
