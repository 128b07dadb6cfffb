"""The events that send (issue 8, item 3): each committed event queues its template to the right recipient with
the right parameters, in the event's own transaction; a rolled-back event queues nothing."""

from __future__ import annotations

import datetime as dt

from booking_helpers import SAO_PAULO, add_appointment, book
from conftest import onboarding_body
from test_account import assert_problem
from test_outbox import drain

from odys import booking_tokens, db
from odys.message_templates import format_datetime, format_money


def _queued(template: str | None = None) -> list[dict]:
    rows = db.all("SELECT template, recipient, to_phone, client_id, params, status, appointment_id, "
                  "appointment_starts_at, automatic, dedupe_key FROM messages WHERE direction = 'outbound' "
                  "ORDER BY created_at, template")
    return [r for r in rows if template is None or r["template"] == template]


def _when(instant: str | dt.datetime) -> str:
    moment = dt.datetime.fromisoformat(instant) if isinstance(instant, str) else instant
    return format_datetime(moment, "America/Sao_Paulo", "pt-BR")


def test_onboarding_welcomes_the_professional(api, professional):
    [welcome] = _queued("msgWelcomeProfessional")
    assert welcome["recipient"] == "professional" and welcome["to_phone"] == "+5511987654321"
    assert welcome["params"]["professional_name"] == "Ana Souza"
    assert welcome["params"]["page_link"].endswith("/ana-psi")


def test_a_booking_queues_the_confirmation_and_the_professionals_notice_once(api, open_mornings):
    _, found = open_mornings
    created = book(api, found[0]["startsAt"], name="Bia Lima", phone="+5511988887777", key="k-wa-1")
    assert created.status == 201, created.body
    confirmation = _queued("msgBookingConfirmed")
    notice = _queued("msgNewBookingForProfessional")
    assert len(confirmation) == len(notice) == 1
    assert confirmation[0]["recipient"] == "client" and confirmation[0]["to_phone"] == "+5511988887777"
    assert confirmation[0]["params"] == {
        "client_name": "Bia Lima", "professional_name": "Ana Souza", "date_time": _when(found[0]["startsAt"]),
        "manage_link": confirmation[0]["params"]["manage_link"]}
    assert confirmation[0]["params"]["manage_link"].endswith("/b/" + created.json["manageToken"])
    assert confirmation[0]["appointment_id"] is not None and confirmation[0]["status"] == "queued"
    assert notice[0]["recipient"] == "professional" and notice[0]["to_phone"] == "+5511987654321"
    assert notice[0]["params"]["client_phone"] == "+5511988887777"
    assert "às" in notice[0]["params"]["date_time"]  # "terça-feira, 3 de dezembro às 14:30"
    assert not _queued("msgPixPaymentRequest")  # no PIX key
    # the idempotent replay queues nothing more
    again = book(api, found[0]["startsAt"], name="Bia Lima", phone="+5511988887777", key="k-wa-1")
    assert again.status == 201 and again.headers.get("Idempotent-Replayed") == "true"
    assert len(_queued()) == 3  # welcome + the two


def test_a_booking_with_a_pix_key_also_asks_for_the_payment(api, open_mornings):
    token, found = open_mornings
    assert api.patch("/api/account", token=token,
                     json_body={"pixKeyType": "email", "pixKey": "ana@example.com"}).status == 200
    created = book(api, found[0]["startsAt"])
    assert created.status == 201, created.body
    [request] = _queued("msgPixPaymentRequest")
    assert request["params"]["pix_code"] == created.json["pix"]["payload"]
    assert request["params"]["amount"] == format_money(15000) == "R$ 150,00"


def test_a_rolled_back_booking_queues_nothing(api, open_mornings):
    _, found = open_mornings
    add_appointment(dt.datetime.fromisoformat(found[0]["startsAt"]))
    before = len(_queued())
    assert_problem(book(api, found[0]["startsAt"]), 409, "slot_taken")
    assert len(_queued()) == before


def test_the_clients_cancel_and_reschedule_tell_the_right_person(api, open_mornings):
    _, found = open_mornings
    first = book(api, found[0]["startsAt"]).json
    moved = api.patch(f"/api/booking/{first['manageToken']}",
                      json_body={"action": "reschedule", "startsAt": found[2]["startsAt"]})
    assert moved.status == 200, moved.body
    [rescheduled] = _queued("msgBookingRescheduled")
    assert rescheduled["recipient"] == "client"
    assert rescheduled["params"]["old_date_time"] == _when(found[0]["startsAt"])
    assert rescheduled["params"]["date_time"] == _when(found[2]["startsAt"])
    assert rescheduled["appointment_starts_at"] == dt.datetime.fromisoformat(found[2]["startsAt"])
    cancelled = api.patch(f"/api/booking/{moved.json['manageToken']}", json_body={"action": "cancel"})
    assert cancelled.status == 200
    [notice] = _queued("msgBookingCancelledByClient")
    assert notice["recipient"] == "professional" and notice["params"]["date_time"] == _when(found[2]["startsAt"])


def test_the_professionals_changes_tell_the_client(api, open_mornings):
    token, found = open_mornings
    ids = [book(api, found[i]["startsAt"], phone=f"+55119888800{i:02d}", ip=f"192.0.2.{60 + i}")
           .json["appointment"]["id"] for i in range(4)]
    assert api.patch(f"/api/appointments/{ids[0]}", token=token, json_body={"status": "cancelled"}).status == 200
    assert api.patch(f"/api/appointments/{ids[1]}", token=token, json_body={"paymentStatus": "paid"}).status == 200
    assert api.patch(f"/api/appointments/{ids[2]}", token=token, json_body={"status": "no_show"}).status == 200
    assert api.patch(f"/api/appointments/{ids[3]}", token=token, json_body={"status": "completed"}).status == 200
    cancelled = _queued("msgBookingCancelledByProfessional")[0]
    assert str(cancelled["appointment_id"]) == ids[0]  # bound: the sender checks it is still cancelled
    assert cancelled["params"]["booking_link"].endswith("/ana-psi")
    assert len(_queued("msgPaymentConfirmed")) == 1
    assert _queued("msgPaymentConfirmed")[0]["params"]["amount"] == "R$ 150,00"
    assert len(_queued("msgNoShowNotice")) == 1
    [review] = _queued("msgReviewRequest")  # the trial is Pro: reviews are on
    assert review["params"]["review_link"].endswith("/review")
    # marking paid again, or the same status again, sends nothing more
    api.patch(f"/api/appointments/{ids[1]}", token=token, json_body={"paymentStatus": "paid"})
    assert len(_queued("msgPaymentConfirmed")) == 1


def test_a_move_by_the_professional_tells_the_client_the_new_time(api, open_mornings):
    token, found = open_mornings
    created = book(api, found[0]["startsAt"]).json
    moved = api.patch(f"/api/appointments/{created['appointment']['id']}", token=token,
                      json_body={"startsAt": found[3]["startsAt"]})
    assert moved.status == 200, moved.body
    [message] = _queued("msgBookingRescheduled")
    assert message["params"]["date_time"] == _when(found[3]["startsAt"])
    row = db.one("SELECT id, ends_at FROM appointments")
    assert message["params"]["manage_link"].endswith(booking_tokens.for_appointment(row))


def test_a_recurring_schedule_tells_the_client_its_rule_and_first_session(api, open_mornings):
    token, _ = open_mornings
    client = api.post("/api/clients", token=token, json_body={"name": "Rita", "phone": "+5511977770000"}).json
    starts_on = (dt.datetime.now(SAO_PAULO).date() + dt.timedelta(days=7)).isoformat()
    created = api.post("/api/recurring-schedules", token=token, json_body={
        "clientId": client["id"], "dayOfWeek": 2, "startTime": "14:30", "startsOn": starts_on})
    assert created.status == 201, created.body
    [message] = _queued("msgRecurringScheduleCreated")
    assert message["params"]["weekly"] == "toda terça-feira às 14:30"
    assert message["params"]["first_date_time"] == _when(created.json["appointments"][0]["startsAt"])
    assert message["to_phone"] == "+5511977770000"


def test_a_plan_limit_tells_the_professional_once_a_month(api, open_mornings):
    _, found = open_mornings
    db.run("UPDATE professionals SET plan = 'free', trial_ends_at = now() - interval '1 day'")
    for i in range(10):
        db.run("INSERT INTO clients (professional_id, name, phone) SELECT id, 'C', :p FROM professionals",
               p=f"+55119555500{i:02d}")
    assert_problem(book(api, found[0]["startsAt"]), 402, "plan_limit_reached")
    assert_problem(book(api, found[1]["startsAt"], ip="192.0.2.77"), 402, "plan_limit_reached")
    [message] = _queued("msgPlanLimitReached")
    assert message["recipient"] == "professional" and message["params"]["plan"] == "Free"


def test_other_professionals_never_get_each_others_messages(api, open_mornings, token_for):
    other = token_for()
    assert api.post("/api/account", token=other, json_body=onboarding_body(
        "bruno-nutri", name="Bruno", phone="+5521999998888", email="b@example.com")).status == 201
    _, found = open_mornings
    assert book(api, found[0]["startsAt"]).status == 201
    bruno = db.scalar("SELECT id FROM professionals WHERE slug = 'bruno-nutri'")
    assert [r["template"] for r in db.all("SELECT template FROM messages WHERE professional_id = :p", p=bruno)] == \
        ["msgWelcomeProfessional"]



def test_each_change_is_told_even_back_to_an_earlier_time_or_a_second_cancellation(api, open_mornings):
    token, found = open_mornings
    aid = book(api, found[1]["startsAt"]).json["appointment"]["id"]
    for target in (found[0], found[1]):  # there and back again
        assert api.patch(f"/api/appointments/{aid}", token=token, json_body={"startsAt": target["startsAt"]}).status == 200
    assert [r["params"]["date_time"] for r in _queued("msgBookingRescheduled")] == \
        [_when(found[0]["startsAt"]), _when(found[1]["startsAt"])]
    for status in ("cancelled", "confirmed", "cancelled"):  # cancelled by mistake, reinstated, cancelled for real
        assert api.patch(f"/api/appointments/{aid}", token=token, json_body={"status": status}).status == 200
    assert len(_queued("msgBookingCancelledByProfessional")) == 2


def test_a_booking_rolled_back_after_its_messages_were_queued_sends_nothing(api, open_mornings, monkeypatch, sqs):
    from odys import ratelimit

    _, found = open_mornings

    def fail(*_args, **_kwargs):  # the last step inside the booking's transaction, after the messages were queued
        raise RuntimeError("the database went away before COMMIT")

    monkeypatch.setattr(ratelimit, "record", fail)
    before = len(_queued())
    assert book(api, found[0]["startsAt"]).status == 500
    assert len(_queued()) == before and db.scalar("SELECT count(*) FROM appointments") == 0
    assert drain(sqs) == []
