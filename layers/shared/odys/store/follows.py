"""SQL of :mod:`odys.follows`: which professionals a user follows (one row per pair), and how many follow one.

    add(user_id, pid)        # -> {"followed_at", "created": True} (following twice keeps one row: created False)
    remove(user_id, pid)     # -> True when there was one
    of_user(user_id)         # the followed professionals' public columns, newest follow first
    count(pid)               # -> 12
"""

from __future__ import annotations

from typing import Any

from odys import db


def add(user_id: str, professional_id: str) -> dict[str, Any]:
    """The follow, written or found in one statement: ``{"followed_at", "created"}`` (created: the row is new)."""
    row = db.one("INSERT INTO follows (user_id, professional_id) VALUES (:uid, :pid) "
                 "ON CONFLICT ON CONSTRAINT follows_once DO UPDATE SET created_at = follows.created_at "
                 "RETURNING created_at AS followed_at, xmax = 0 AS created", uid=user_id, pid=professional_id)
    assert row is not None  # DO UPDATE always returns the row
    return row


def remove(user_id: str, professional_id: str) -> bool:
    return bool(db.run("DELETE FROM follows WHERE user_id = :uid AND professional_id = :pid RETURNING 1",
                       uid=user_id, pid=professional_id))


def of_user(user_id: str) -> list[dict[str, Any]]:
    return db.all("SELECT p.slug, p.name, p.profession, p.avatar_url, p.city, p.timezone, f.created_at AS followed_at "
                  "FROM follows f JOIN professionals p ON p.id = f.professional_id WHERE f.user_id = :uid "
                  "ORDER BY f.created_at DESC, f.id DESC", uid=user_id)


def count(professional_id: str) -> int:
    return db.scalar("SELECT count(*) FROM follows WHERE professional_id = :pid", pid=professional_id)


def delete_by_user(user_id: str) -> list[str]:
    """Remove every follow of the user; the professional id of each."""
    return [str(r[0]) for r in db.run("DELETE FROM follows WHERE user_id = :uid RETURNING professional_id",
                                      uid=user_id)]
