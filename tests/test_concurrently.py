"""``booking_helpers.concurrently``: each call runs in its own execution environment, as Lambda runs one event per
environment, so concurrent requests with different bodies never see each other's event."""

from __future__ import annotations

import functools
import os

from devtools.concurrency import concurrently
from conftest import onboarding_body

from odys import db


def test_concurrent_patches_of_four_professionals_each_answer_and_store_their_own_bio(api, token_for):
    tokens = {}
    for n in range(4):
        token = token_for()
        assert api.post("/api/account", token=token, json_body=onboarding_body(f"pro-{n}")).status == 201
        tokens[f"pro-{n}"] = token
    sent = [(slug, f"bio {slug} #{i}") for i in range(6) for slug in tokens]
    calls = [functools.partial(api.patch, "/api/account", token=tokens[slug], json_body={"bio": bio})
             for slug, bio in sent]
    results = concurrently(calls)
    assert not [r for r in results if isinstance(r, Exception)], results
    assert [r.status for r in results] == [200] * len(sent)
    assert [(r.json["slug"], r.json["bio"]) for r in results] == sent  # every answer is about its own request
    stored = {r["slug"]: r["bio"] for r in db.all("SELECT slug, bio FROM professionals")}
    assert all(stored[slug].startswith(f"bio {slug} #") for slug in tokens), stored


def test_each_call_runs_in_its_own_process_and_the_callers_connection_survives():
    db.scalar("SELECT 1")
    backend = db.scalar("SELECT pg_backend_pid()")
    results = concurrently([lambda: (os.getpid(), db.scalar("SELECT pg_backend_pid()"))] * 3
                           + [lambda: 1 / 0])
    pids = {pid for pid, _ in results[:3]}
    assert len(pids) == 3 and os.getpid() not in pids
    assert len({pg for _, pg in results[:3]} | {backend}) == 4  # each its own connection, not the caller's
    assert isinstance(results[3], ZeroDivisionError)
    assert db.scalar("SELECT pg_backend_pid()") == backend  # the caller's connection is untouched
