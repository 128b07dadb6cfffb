"""/api/follows: a client user follows professionals by slug (once), lists and unfollows them; the professional
sees only a count on the public profile."""

from __future__ import annotations

import pytest
from client_side_helpers import add_client, assert_problem, client_token, onboard

from odys import db


@pytest.fixture
def pros(api, token_for):
    return onboard(api, token_for, "ana-psi", city="Recife"), onboard(api, token_for, "bruno-nutri")


def test_following_twice_is_one_row_and_the_profile_counts_followers(api, token_for, pros):
    bia, caio = client_token(token_for), client_token(token_for, phone=None)
    first = api.post("/api/follows", token=bia, json_body={"slug": "ana-psi"})
    assert first.status == 201, first.body
    assert first.json["slug"] == "ana-psi" and first.json["city"] == "Recife" and first.json["followedAt"]
    again = api.post("/api/follows", token=bia, json_body={"slug": "Ana-Psi"})
    assert again.status == 200 and again.json == first.json
    assert db.scalar("SELECT count(*) FROM follows") == 1
    assert api.post("/api/follows", token=caio, json_body={"slug": "ana-psi"}).status == 201
    assert api.post("/api/follows", token=bia, json_body={"slug": "bruno-nutri"}).status == 201

    assert api.get("/api/professionals/ana-psi").json["followers"] == 2
    assert api.get("/api/professionals/bruno-nutri").json["followers"] == 1
    listed = api.get("/api/follows", token=bia).json["follows"]
    assert [f["slug"] for f in listed] == ["bruno-nutri", "ana-psi"]  # newest follow first
    assert set(listed[0]) == {"slug", "name", "profession", "avatarUrl", "city", "timezone", "followedAt"}
    assert api.get("/api/follows", token=caio).json["follows"][0]["slug"] == "ana-psi"


def test_unfollowing_is_idempotent(api, token_for, pros):
    bia = client_token(token_for)
    api.post("/api/follows", token=bia, json_body={"slug": "ana-psi"})
    for _ in range(2):
        result = api.delete("/api/follows", token=bia, json_body={"slug": "ana-psi"})
        assert result.status == 204, result.body
    assert api.get("/api/follows", token=bia).json == {"follows": []}
    assert api.get("/api/professionals/ana-psi").json["followers"] == 0


def test_following_reveals_nothing_to_the_professional_and_links_nothing(api, token_for, pros):
    (_, ana_id), _ = pros
    add_client(ana_id)  # Bia is a client too, but following is not the route that links her
    bia = client_token(token_for)
    assert api.post("/api/follows", token=bia, json_body={"slug": "ana-psi"}).status == 201
    assert db.scalar("SELECT count(*) FROM notifications WHERE professional_id = :p", p=ana_id) == 0
    assert db.scalar("SELECT count(*) FROM clients WHERE user_id IS NOT NULL") == 0


def test_unknown_slugs_are_404_and_bad_input_422(api, token_for, pros):
    bia = client_token(token_for)
    for method in (api.post, api.delete):
        assert_problem(method("/api/follows", token=bia, json_body={"slug": "nobody-here"}), 404, "not_found")
        assert_problem(method("/api/follows", token=bia, json_body={"slug": "a"}), 422, "validation_error")
        assert_problem(method("/api/follows", token=bia, json_body={"slug": "ana-psi", "userId": "x"}), 422)
        assert_problem(method("/api/follows", token=bia, json_body={}), 422)
        assert_problem(method("/api/follows", token=bia, body="{", headers={"content-type": "application/json"}),
                       400, "malformed_json")
    assert db.scalar("SELECT count(*) FROM follows") == 0


def test_follows_need_a_token(api, pros):
    assert_problem(api.get("/api/follows"), 401, "missing_token")
    assert_problem(api.post("/api/follows", json_body={"slug": "ana-psi"}), 401, "missing_token")
    assert_problem(api.delete("/api/follows", json_body={"slug": "ana-psi"}), 401, "missing_token")
    assert_problem(api.get("/api/follows", token="not.a.token"), 401, "invalid_token")


def test_an_unfollow_racing_a_follow_never_makes_it_fail(api, token_for, pros, monkeypatch):
    """The follow is written and answered in one statement: an unfollow landing right after it (another request of
    the same user) leaves a consistent answer, never a 500."""
    from odys.store import follows as store

    add = store.add

    def add_then_unfollowed_elsewhere(user_id, professional_id):
        created = add(user_id, professional_id)
        db.run("DELETE FROM follows WHERE user_id = :u", u=user_id)  # the other request's DELETE commits now
        return created

    monkeypatch.setattr(store, "add", add_then_unfollowed_elsewhere)
    result = api.post("/api/follows", token=client_token(token_for), json_body={"slug": "ana-psi"})
    assert result.status == 201, result.body
    assert result.json["slug"] == "ana-psi" and result.json["followedAt"]
