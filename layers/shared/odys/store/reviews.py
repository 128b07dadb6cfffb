"""SQL of :mod:`odys.reviews`: the public page of a professional's reviews, writing one, hiding one.

    visible_page(pid, limit=21, after=None)          # newest first, hidden ones left out
    appointment_for_review(appointment_id, user_id)  # the user's own appointment, with its review id (or None)
    hold_author(client_id, user_id)                  # False once an erasure let the row go (locks it otherwise)
    insert(pid, client_id, appointment_id, 5, "Ótima")   # None when the appointment already has one
    set_hidden(pid, review_id, hidden=True, by=user_id, now=now)
    by_user(user_id); delete_by_user(user_id)        # the reviews a client user wrote (export, erasure)
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from odys import db

COLUMNS = "id, professional_id, client_id, appointment_id, rating, comment, created_at, hidden_at, hidden_by"
# Reviews written through the client rows a user holds.
_BY_USER = "client_id IN (SELECT id FROM clients WHERE user_id = :uid)"


def visible_page(professional_id: str, *, limit: int, after: tuple[dt.datetime, str] | None) -> list[dict[str, Any]]:
    """Up to ``limit`` visible reviews, newest first (created_at DESC, id DESC), after the keyset ``after``."""
    keyset, params = "", {}
    if after is not None:
        keyset = "AND (created_at, id) < (CAST(:after_at AS timestamptz), CAST(:after_id AS uuid)) "
        params = {"after_at": after[0], "after_id": after[1]}
    return db.all(f"SELECT {COLUMNS} FROM reviews WHERE professional_id = :pid AND hidden_at IS NULL {keyset}"
                  f"ORDER BY created_at DESC, id DESC LIMIT :limit", pid=professional_id, limit=limit, **params)


def appointment_for_review(appointment_id: str, user_id: str) -> dict[str, Any] | None:
    """The appointment when it belongs to a client row ``user_id`` holds (and is not the user's own practice),
    with what deciding on a review needs: status, end, the professional's plan, an existing review's id."""
    return db.one(
        "SELECT a.id, a.professional_id, a.client_id, a.status, a.starts_at, a.ends_at, c.name AS client_name, "
        "p.slug, p.plan, p.trial_ends_at, p.timezone, r.id AS review_id "
        "FROM appointments a JOIN clients c ON c.id = a.client_id AND c.professional_id = a.professional_id "
        "JOIN professionals p ON p.id = a.professional_id LEFT JOIN reviews r ON r.appointment_id = a.id "
        "WHERE a.id = :id AND c.user_id = :uid AND p.user_id <> :uid", id=appointment_id, uid=user_id)


def hold_author(client_id: str, user_id: str) -> bool:
    """Whether ``user_id`` still holds the client row, locking it (shared) until the end of the transaction: an
    erasure running at the same time (which locks the user's rows) either waits for the review, then withdraws it,
    or has let the row go and the review is not written."""
    return db.one("SELECT 1 AS held FROM clients WHERE id = :cid AND user_id = :uid FOR SHARE",
                  cid=client_id, uid=user_id) is not None


def insert(professional_id: str, client_id: str, appointment_id: str, rating: int,
           comment: str | None) -> dict[str, Any] | None:
    return db.one(f"INSERT INTO reviews (professional_id, client_id, appointment_id, rating, comment) "
                  f"VALUES (:pid, :cid, :aid, :rating, :comment) ON CONFLICT (appointment_id) DO NOTHING "
                  f"RETURNING {COLUMNS}", pid=professional_id, cid=client_id, aid=appointment_id, rating=rating,
                  comment=comment)


def set_hidden(professional_id: str, review_id: str, *, hidden: bool, by: str,
               now: dt.datetime) -> dict[str, Any] | None:
    """Hide (keeping the first ``hidden_at``/``hidden_by``) or show again one of the professional's reviews."""
    assignment = ("hidden_at = COALESCE(hidden_at, :now), hidden_by = COALESCE(hidden_by, :by)" if hidden
                  else "hidden_at = NULL, hidden_by = NULL")
    params = {"now": now, "by": by} if hidden else {}
    return db.one(f"UPDATE reviews SET {assignment} WHERE professional_id = :pid AND id = :id RETURNING {COLUMNS}",
                  pid=professional_id, id=review_id, **params)


def by_user(user_id: str) -> list[dict[str, Any]]:
    return db.all(f"SELECT r.id, r.appointment_id, r.rating, r.comment, r.created_at, r.hidden_at, p.slug "
                  f"FROM reviews r JOIN professionals p ON p.id = r.professional_id "
                  f"WHERE r.{_BY_USER} ORDER BY r.created_at, r.id", uid=user_id)


def delete_by_user(user_id: str) -> list[str]:
    """Delete the reviews the user wrote; the professional id of each."""
    return [str(r[0]) for r in db.run(f"DELETE FROM reviews WHERE {_BY_USER} RETURNING professional_id",
                                      uid=user_id)]
