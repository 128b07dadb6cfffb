"""SQL for a professional's in-app notifications (always scoped to the professional).

    insert(pid, "booking_created", "Novo agendamento", "…", client_id=cid, dedupe_key=None)  # -> True
    page(pid, unread_only=True, limit=51, after=None)     # newest first, keyset (created_at, id)
    unread_count(pid)                                     # -> 3
    owned_count(pid, [id1, id2])                          # how many of these ids are the professional's
    mark_read(pid, [id1, id2], now); mark_all_read(pid, now)
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from odys import db

COLUMNS = "id, kind, title, body, client_id, read_at, created_at"
_MINE = "recipient_type = 'professional' AND recipient_id = :pid AND professional_id = :pid"


def insert_sql(*, client: str = "CAST(:cid AS uuid)", body: str = ":body", source: str = "") -> str:
    """The INSERT of a notice to the professional ``:rid`` (params ``rid``, ``kind``, ``title``, ``dedupe``, and
    ``cid``/``body`` unless ``client``/``body`` are other SQL expressions over ``source``, a ``FROM … WHERE …``).
    Other stores put it in a statement of theirs (a data-modifying CTE) to write the notice with it."""
    return ("INSERT INTO notifications (recipient_type, recipient_id, professional_id, client_id, kind, title, body, "
            f"dedupe_key) SELECT 'professional', :rid, :rid, {client}, :kind, :title, {body}, :dedupe {source} "
            "ON CONFLICT (dedupe_key) DO NOTHING")


INSERT = insert_sql()


def insert(professional_id: str, kind: str, title: str, body: str, *, client_id: str | None,
           dedupe_key: str | None) -> bool:
    """Record a notice; False when ``dedupe_key`` was already used (nothing written)."""
    rows = db.run(f"{INSERT} RETURNING id", rid=professional_id, cid=client_id, kind=kind, title=title, body=body,
                  dedupe=dedupe_key)
    return bool(rows)


def insert_at_commit(professional_id: str, kind: str, title: str, body: str, *, client_id: str | None) -> None:
    """:func:`insert` without a dedupe key, sent with the transaction's COMMIT (:func:`odys.db.defer`)."""
    db.defer(INSERT, rid=professional_id, cid=client_id, kind=kind, title=title, body=body, dedupe=None)


def page(professional_id: str, *, unread_only: bool, limit: int,
         after: tuple[dt.datetime, str] | None = None) -> list[dict[str, Any]]:
    """Up to ``limit`` notices, newest first (created_at DESC, id DESC), after the keyset ``after`` when given."""
    where = [_MINE]
    params: dict[str, Any] = {"pid": professional_id, "limit": limit}
    if unread_only:
        where.append("read_at IS NULL")
    if after is not None:
        where.append("(created_at, id) < (CAST(:after_at AS timestamptz), CAST(:after_id AS uuid))")
        params.update(after_at=after[0], after_id=after[1])
    return db.all(f"SELECT {COLUMNS} FROM notifications WHERE {' AND '.join(where)} "
                  f"ORDER BY created_at DESC, id DESC LIMIT :limit", **params)


def unread_count(professional_id: str) -> int:
    return db.scalar(f"SELECT count(*) FROM notifications WHERE {_MINE} AND read_at IS NULL", pid=professional_id)


def owned_count(professional_id: str, ids: list[str]) -> int:
    """How many of ``ids`` (distinct UUIDs) are notices of this professional."""
    return db.scalar(f"SELECT count(*) FROM notifications WHERE {_MINE} AND id = ANY(CAST(:ids AS uuid[]))",
                     pid=professional_id, ids=ids)


def mark_read(professional_id: str, ids: list[str], now: dt.datetime) -> int:
    """Mark these unread notices read; returns how many changed (already read ones keep their ``read_at``)."""
    return len(db.run(f"UPDATE notifications SET read_at = :now WHERE {_MINE} AND read_at IS NULL "
                      f"AND id = ANY(CAST(:ids AS uuid[])) RETURNING 1", pid=professional_id, ids=ids, now=now))


def mark_all_read(professional_id: str, now: dt.datetime) -> int:
    return len(db.run(f"UPDATE notifications SET read_at = :now WHERE {_MINE} AND read_at IS NULL RETURNING 1",
                      pid=professional_id, now=now))
