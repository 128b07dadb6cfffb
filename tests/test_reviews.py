"""/api/reviews and /api/reviews/{id}: a client user reviews their own completed appointment once, within 90
days, when the professional's plan has reviews; anyone reads the visible ones; the professional hides, never edits."""

from __future__ import annotations

import datetime as dt

import pytest
from client_side_helpers import (add_appointment, add_client, assert_problem, client_token,
                                 completed_appointment, drop_to_free_plan, onboard)

from odys import db


@pytest.fixture
def ana(api, token_for):
    token, pid = onboard(api, token_for, "ana-psi")
    return token, pid, add_client(pid)


def review(api, token, appointment_id, rating=5, **extra):
    return api.post("/api/reviews", token=token, json_body={"appointmentId": appointment_id, "rating": rating,
                                                            **extra})


def summary(api, slug="ana-psi"):
    return api.get(f"/api/professionals/{slug}").json["reviews"]


def test_a_review_of_ones_own_completed_appointment_is_201_and_moves_the_average(api, token_for, ana):
    _, pid, client_id = ana
    bia = client_token(token_for)
    first, second = completed_appointment(pid, client_id), completed_appointment(pid, client_id, days_ago=9)
    assert summary(api) == {"count": 0, "average": None}

    created = review(api, bia, first, 5, comment="Muito atenciosa.\nRecomendo.")
    assert created.status == 201, created.body
    assert created.json["review"]["rating"] == 5 and created.json["review"]["appointmentId"] == first
    assert created.json["review"]["comment"] == "Muito atenciosa.\nRecomendo."
    assert created.json["summary"] == {"count": 1, "average": 5.0} == summary(api)
    assert review(api, bia, second, 2).status == 201
    assert summary(api) == {"count": 2, "average": 3.5}
    listed = api.get("/api/reviews", query={"slug": "ana-psi"}).json
    assert (listed["count"], listed["average"]) == (2, 3.5)
    assert [r["rating"] for r in listed["reviews"]] == [2, 5]  # newest first
    assert set(listed["reviews"][0]) == {"id", "rating", "comment", "createdAt"}  # no author, no client
    notices = db.all("SELECT kind, client_id FROM notifications WHERE professional_id = :p AND kind = "
                     "'review_received'", p=pid)
    assert len(notices) == 2 and str(notices[0]["client_id"]) == client_id


def test_a_second_review_of_the_same_appointment_is_409(api, token_for, ana):
    _, pid, client_id = ana
    bia = client_token(token_for)
    appointment_id = completed_appointment(pid, client_id)
    assert review(api, bia, appointment_id, 4).status == 201
    problem = assert_problem(review(api, bia, appointment_id, 1), 409, "already_reviewed")
    assert problem["reviewId"]
    assert summary(api) == {"count": 1, "average": 4.0}


def test_someone_elses_or_an_unknown_appointment_is_404(api, token_for, ana):
    _, pid, _ = ana
    other_client = add_client(pid, phone="+5521977776666", name="Caio")
    theirs = completed_appointment(pid, other_client)
    bia = client_token(token_for)
    assert_problem(review(api, bia, theirs), 404, "not_found")
    assert_problem(review(api, bia, "00000000-0000-0000-0000-000000000000"), 404, "not_found")
    # a token whose phone is not verified holds no record, so not even Bia's own appointment is theirs
    own = completed_appointment(pid, ana[2])
    assert_problem(review(api, client_token(token_for, phone_verified=False), own), 404, "not_found")
    assert db.scalar("SELECT count(*) FROM reviews") == 0


def test_an_appointment_not_completed_is_409(api, token_for, ana):
    _, pid, client_id = ana
    bia = client_token(token_for)
    for status in ("confirmed", "pending", "cancelled", "no_show"):
        appointment_id = add_appointment(pid, client_id, status=status,
                                         starts_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=3,
                                                                                                    hours=len(status)))
        problem = assert_problem(review(api, bia, appointment_id), 409, "appointment_not_completed")
        assert problem["status"] == 409 and problem["appointmentStatus"] == status


def test_past_ninety_days_the_review_window_is_closed(api, token_for, ana):
    _, pid, client_id = ana
    bia = client_token(token_for)
    old = completed_appointment(pid, client_id, days_ago=91)
    problem = assert_problem(review(api, bia, old), 409, "review_window_closed")
    assert "closedAt" in problem
    assert review(api, bia, completed_appointment(pid, client_id, days_ago=88)).status == 201


def test_a_professional_without_the_reviews_feature_gets_none(api, token_for, ana):
    _, pid, client_id = ana
    bia = client_token(token_for)
    reviewed = completed_appointment(pid, client_id)
    assert review(api, bia, reviewed, 5).status == 201  # during the pro trial
    drop_to_free_plan(pid)
    assert_problem(review(api, bia, completed_appointment(pid, client_id)), 403, "reviews_disabled")
    listed = api.get("/api/reviews", query={"slug": "ana-psi"}).json
    assert listed["reviews"] == [] and (listed["count"], listed["average"]) == (0, None)
    assert summary(api) == {"count": 0, "average": None}
    db.run("UPDATE professionals SET plan = 'pro' WHERE id = :id", id=pid)  # back on pro: it shows again
    assert api.get("/api/reviews", query={"slug": "ana-psi"}).json["count"] == 1


def test_the_list_pages_newest_first_with_a_cursor(api, token_for, ana):
    _, pid, client_id = ana
    bia = client_token(token_for)
    ids = []
    for n in range(5):
        appointment_id = completed_appointment(pid, client_id, days_ago=10 - n)
        ids.append(review(api, bia, appointment_id, rating=1 + n).json["review"]["id"])
    seen, cursor = [], None
    while True:
        query = {"slug": "ana-psi", "limit": "2", **({"cursor": cursor} if cursor else {})}
        page = api.get("/api/reviews", query=query).json
        seen += [r["id"] for r in page["reviews"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert seen == ids[::-1]


def test_the_professional_hides_a_review_from_list_and_summary_and_shows_it_again(api, token_for, ana):
    token, pid, client_id = ana
    bia = client_token(token_for)
    good = review(api, bia, completed_appointment(pid, client_id), 5).json["review"]["id"]
    bad = review(api, bia, completed_appointment(pid, client_id, days_ago=3), 1).json["review"]["id"]
    assert summary(api) == {"count": 2, "average": 3.0}

    hidden = api.patch(f"/api/reviews/{bad}", token=token, json_body={"hidden": True})
    assert hidden.status == 200, hidden.body
    assert hidden.json["hidden"] is True and hidden.json["hiddenAt"]
    row = db.one("SELECT hidden_at, hidden_by, rating FROM reviews WHERE id = :id", id=bad)
    assert row["hidden_at"] is not None and row["hidden_by"] and row["rating"] == 1
    assert summary(api) == {"count": 1, "average": 5.0}
    assert [r["id"] for r in api.get("/api/reviews", query={"slug": "ana-psi"}).json["reviews"]] == [good]
    again = api.patch(f"/api/reviews/{bad}", token=token, json_body={"hidden": True})
    assert again.json["hiddenAt"] == hidden.json["hiddenAt"]  # the first hiding is what is recorded

    assert api.patch(f"/api/reviews/{bad}", token=token, json_body={"hidden": False}).json["hidden"] is False
    assert summary(api) == {"count": 2, "average": 3.0}


def test_a_review_cannot_be_edited_nor_hidden_by_anyone_else(api, token_for, ana):
    token, pid, client_id = ana
    bia = client_token(token_for)
    review_id = review(api, bia, completed_appointment(pid, client_id), 2).json["review"]["id"]
    assert_problem(api.patch(f"/api/reviews/{review_id}", token=token, json_body={"rating": 5}), 422)
    assert_problem(api.patch(f"/api/reviews/{review_id}", token=token, json_body={"hidden": True, "comment": "x"}),
                   422)
    other_token, _ = onboard(api, token_for, "bruno-nutri")
    assert_problem(api.patch(f"/api/reviews/{review_id}", token=other_token, json_body={"hidden": True}), 404)
    assert_problem(api.patch(f"/api/reviews/{review_id}", token=bia, json_body={"hidden": True}), 404,
                   "onboarding_required")  # the client user is no professional
    assert_problem(api.patch(f"/api/reviews/{review_id}", json_body={"hidden": True}), 401, "missing_token")
    assert_problem(api.patch("/api/reviews/nope", token=token, json_body={"hidden": True}), 404)
    assert db.one("SELECT rating, hidden_at FROM reviews WHERE id = :id", id=review_id) == {"rating": 2,
                                                                                        "hidden_at": None}


@pytest.mark.parametrize("body", [
    {"rating": 0}, {"rating": 6}, {"rating": "5"}, {"rating": 4.5}, {"comment": "x" * 1001},
    {"comment": "bell\u0007"}, {"authorName": "Someone"}, {"appointmentId": "not-a-uuid"},
])
def test_bad_review_input_is_422_and_writes_nothing(api, token_for, ana, body):
    _, pid, client_id = ana
    payload = {"appointmentId": completed_appointment(pid, client_id), "rating": 5, **body}
    assert_problem(api.post("/api/reviews", token=client_token(token_for), json_body=payload), 422)
    assert db.scalar("SELECT count(*) FROM reviews") == 0


def test_a_comment_is_kept_as_plain_text(api, token_for, ana):
    _, pid, client_id = ana
    text = "<script>alert(1)</script> & <b>ótima</b>"
    bia = client_token(token_for)
    created = review(api, bia, completed_appointment(pid, client_id), 5, comment=f"  {text} ")
    assert created.json["review"]["comment"] == text
    assert api.get("/api/reviews", query={"slug": "ana-psi"}).json["reviews"][0]["comment"] == text
    blank = review(api, bia, completed_appointment(pid, client_id, days_ago=4), 4, comment="  ")
    assert blank.status == 201 and blank.json["review"]["comment"] is None


def test_reading_needs_a_known_slug_and_writing_a_token(api, ana):
    assert_problem(api.get("/api/reviews", query={"slug": "nobody-here"}), 404)
    assert_problem(api.get("/api/reviews"), 422)
    assert_problem(api.get("/api/reviews", query={"slug": "ana-psi", "cursor": "bogus"}), 400, "invalid_cursor")
    assert_problem(api.post("/api/reviews", json_body={"appointmentId": "00000000-0000-0000-0000-000000000000",
                                                       "rating": 5}), 401, "missing_token")
    assert db.scalar("SELECT count(*) FROM clients WHERE user_id IS NOT NULL") == 0  # reading links nobody
