"""/api/notifications through real API Gateway v2 events: listing (newest first, unread filter, keyset cursor,
unread count) and marking read (ids or all), scoped to the professional."""

from __future__ import annotations

import datetime as dt
import uuid

from test_account import assert_problem
from test_clients import second_professional

from odys import db
from odys.notifications import notify_professional

UTC = dt.timezone.utc


def pro_id(token_body):
    return token_body[1]["id"]


def notices(pid, count):
    """``count`` notices, one second apart (oldest first); their ids, newest first."""
    base = dt.datetime(2026, 11, 1, 12, tzinfo=UTC)
    ids = []
    for i in range(count):
        assert notify_professional(pid, "booking_created", f"Novo agendamento {i}", f"corpo {i}")
        ids.append(str(db.scalar("UPDATE notifications SET created_at = :at WHERE id = "
                                 "(SELECT id FROM notifications WHERE title = :t AND professional_id = :pid) "
                                 "RETURNING id", at=base + dt.timedelta(seconds=i), t=f"Novo agendamento {i}",
                                 pid=pid)))
    return ids[::-1]


def test_lists_newest_first_with_the_unread_count_and_pages(api, professional):
    token, body = professional
    ids = notices(body["id"], 5)
    first = api.get("/api/notifications", token=token, query={"limit": "2"})
    assert first.status == 200, first.body
    page = first.json
    assert [n["id"] for n in page["notifications"]] == ids[:2]
    assert page["unreadCount"] == 5 and page["nextCursor"]
    assert page["notifications"][0] == {"id": ids[0], "kind": "booking_created", "title": "Novo agendamento 4",
                                        "body": "corpo 4", "clientId": None, "read": False, "readAt": None,
                                        "createdAt": "2026-11-01T12:00:04+00:00"}
    seen = [n["id"] for n in page["notifications"]]
    cursor = page["nextCursor"]
    while cursor:
        page = api.get("/api/notifications", token=token, query={"limit": "2", "cursor": cursor}).json
        seen += [n["id"] for n in page["notifications"]]
        cursor = page["nextCursor"]
    assert seen == ids


def test_equal_timestamps_page_without_losing_or_repeating_rows(api, professional):
    token, body = professional
    for i in range(3):
        notify_professional(body["id"], "k", f"t{i}")
    db.run("UPDATE notifications SET created_at = '2026-11-01T12:00:00Z'")
    seen, cursor = [], None
    while True:
        page = api.get("/api/notifications", token=token,
                       query={"limit": "1", **({"cursor": cursor} if cursor else {})}).json
        seen += [n["id"] for n in page["notifications"]]
        cursor = page["nextCursor"]
        if not cursor:
            break
    assert len(seen) == 3 == len(set(seen))


def test_mark_some_read_then_unread_filter_then_all(api, professional):
    token, body = professional
    ids = notices(body["id"], 3)
    result = api.patch("/api/notifications", token=token, json_body={"ids": [ids[0], ids[2]]})
    assert result.status == 200, result.body
    assert result.json == {"unreadCount": 1}
    first_read_at = db.scalar("SELECT read_at FROM notifications WHERE id = :id", id=ids[0])
    unread = api.get("/api/notifications", token=token, query={"unread": "true"}).json
    assert [n["id"] for n in unread["notifications"]] == [ids[1]] and unread["unreadCount"] == 1
    everything = api.get("/api/notifications", token=token, query={"unread": "false"}).json
    assert {n["id"]: n["read"] for n in everything["notifications"]} == {ids[0]: True, ids[1]: False, ids[2]: True}
    assert api.patch("/api/notifications", token=token, json_body={"all": True}).json == {"unreadCount": 0}
    assert db.scalar("SELECT read_at FROM notifications WHERE id = :id", id=ids[0]) == first_read_at  # kept
    assert api.get("/api/notifications", token=token, query={"unread": "true"}).json["notifications"] == []


def test_someone_elses_notifications_are_invisible_and_404_when_marked(api, professional, token_for):
    token, body = professional
    other_token, other = second_professional(api, token_for)
    mine = notices(body["id"], 1)
    theirs = notices(other["id"], 1)
    listed = api.get("/api/notifications", token=other_token).json
    assert [n["id"] for n in listed["notifications"]] == theirs and listed["unreadCount"] == 1
    for ids in ([mine[0]], [theirs[0], mine[0]], [str(uuid.uuid4())]):
        assert_problem(api.patch("/api/notifications", token=other_token, json_body={"ids": ids}), 404, "not_found")
    assert db.scalar("SELECT count(*) FROM notifications WHERE read_at IS NOT NULL") == 0  # nothing marked
    assert api.patch("/api/notifications", token=other_token, json_body={"all": True}).json == {"unreadCount": 0}
    assert api.get("/api/notifications", token=token).json["unreadCount"] == 1  # all = only their own


def test_bad_input_is_a_problem(api, professional):
    token, _ = professional
    for bad in ({}, {"ids": []}, {"ids": ["nope"]}, {"all": False}, {"ids": [str(uuid.uuid4())], "all": True},
                {"ids": [str(uuid.uuid4())] * 201}, {"all": True, "extra": 1}):
        assert_problem(api.patch("/api/notifications", token=token, json_body=bad), 422, "validation_error")
    for query in ({"unread": "maybe"}, {"limit": "0"}, {"limit": "201"}, {"sort": "asc"}):
        assert_problem(api.get("/api/notifications", token=token, query=query), 422, "validation_error")
    assert_problem(api.get("/api/notifications", token=token, query={"cursor": "garbage"}), 400, "invalid_cursor")


def test_notifications_need_a_token_and_onboarding(api, token_for):
    assert_problem(api.get("/api/notifications"), 401, "missing_token")
    assert_problem(api.patch("/api/notifications", json_body={"all": True}), 401, "missing_token")
    assert_problem(api.get("/api/notifications", token=token_for()), 404, "onboarding_required")
