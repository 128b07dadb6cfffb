"""SQL for appointments (always scoped to their professional).

An overlap refused by the database's exclusion constraint surfaces as :class:`odys.errors.SlotTaken`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from odys import db
from odys.errors import SlotTaken
from odys.store import domain_errors, set_clause
from odys.store import professionals as professionals_store

ACTIVE: frozenset[str] = frozenset({"pending", "confirmed"})  # the statuses that hold a time (and count in a month)

COLUMNS = """id, professional_id, client_id, recurring_schedule_id, occurrence_date, starts_at, ends_at, status,
    payment_status, price, stripe_payment_intent_id, pix_txid, notes, client_notes, reminder_sent_at, created_at,
    updated_at"""


def insert(professional_id: str, client_id: str, starts_at: dt.datetime, ends_at: dt.datetime, *, status: str,
           price: int, notes: str | None = None, client_notes: str | None = None,
           recurring_schedule_id: str | None = None, occurrence_date: dt.date | None = None,
           pix_txid: str | None = None) -> dict[str, Any]:
    """Insert an appointment; raises :class:`SlotTaken` when it overlaps an active one (decided by the database).

    ``notes`` are the professional's private notes, ``client_notes`` what the client wrote when booking. Run it
    inside a transaction: on SlotTaken the transaction is aborted and must be rolled back.
    """
    with domain_errors():
        row = db.one(
            f"INSERT INTO appointments (professional_id, client_id, starts_at, ends_at, status, price, notes, "
            f"client_notes, recurring_schedule_id, occurrence_date, pix_txid) VALUES (:pid, :cid, :starts, :ends, "
            f":status, :price, :notes, :client_notes, :rid, :odate, :txid) RETURNING {COLUMNS}",
            pid=professional_id, cid=client_id, starts=starts_at, ends=ends_at, status=status, price=price,
            notes=notes, client_notes=client_notes, rid=recurring_schedule_id, odate=occurrence_date, txid=pix_txid)
    assert row is not None
    return row


def insert_at_commit(appointment_id: str, professional_id: str, client_id: str, starts_at: dt.datetime,
                     ends_at: dt.datetime, *, status: str, price: int, client_notes: str | None = None,
                     pix_txid: str | None = None) -> dict[str, Any]:
    """:func:`insert` sent with the transaction's COMMIT (:func:`odys.db.defer`), its id chosen here; the row as
    it will be stored (what a caller reads of it: no timestamps). An overlap raises :class:`SlotTaken` when the
    transaction ends (the caller wraps it in :func:`odys.store.domain_errors`)."""
    db.defer("INSERT INTO appointments (id, professional_id, client_id, starts_at, ends_at, status, price, "
             "client_notes, pix_txid) VALUES (:id, :pid, :cid, :starts, :ends, :status, :price, :client_notes, :txid)",
             id=appointment_id, pid=professional_id, cid=client_id, starts=starts_at, ends=ends_at, status=status,
             price=price, client_notes=client_notes, txid=pix_txid)
    return {"id": appointment_id, "professional_id": professional_id, "client_id": client_id, "starts_at": starts_at,
            "ends_at": ends_at, "status": status, "payment_status": "unpaid", "price": price, "notes": None,
            "client_notes": client_notes, "pix_txid": pix_txid, "recurring_schedule_id": None,
            "occurrence_date": None, "reminder_sent_at": None}


def count_in_month(professional_id: str, timezone: str, month_of: dt.datetime) -> int:
    """Appointments (not cancelled) starting in the calendar month of ``month_of``, in the professional's zone."""
    return db.scalar(  # the zone is a canonical IANA name that PostgreSQL knows (odys.fields.TimeZone)
        "SELECT count(*) FROM appointments WHERE professional_id = :pid AND status <> 'cancelled' "
        "AND starts_at >= (date_trunc('month', CAST(:at AS timestamptz) AT TIME ZONE :tz) AT TIME ZONE :tz) "
        "AND starts_at < ((date_trunc('month', CAST(:at AS timestamptz) AT TIME ZONE :tz) + interval '1 month') "
        "AT TIME ZONE :tz)",
        pid=professional_id, tz=timezone, at=month_of)


# --- issue 3 (B): the professional's agenda, edits, series occurrences and client history ------------------

DETAIL_COLUMNS = """a.id, a.client_id, c.name AS client_name, c.phone AS client_phone, a.recurring_schedule_id,
    a.occurrence_date, a.starts_at, a.ends_at, a.status, a.payment_status, a.price, a.notes, a.client_notes,
    a.reminder_sent_at, a.created_at, a.updated_at"""
_DETAIL_FROM = "appointments a JOIN clients c ON c.id = a.client_id AND c.professional_id = a.professional_id"
UPDATABLE = frozenset({"status", "payment_status", "starts_at", "ends_at", "price", "notes", "reminder_sent_at"})
_SAVEPOINT = "appointment_write"


def details(professional_id: str, appointment_ids: list[str]) -> list[dict[str, Any]]:
    """Appointments with their client's name and phone (``DETAIL_COLUMNS``), in start order."""
    if not appointment_ids:
        return []
    return db.all(f"SELECT {DETAIL_COLUMNS} FROM {_DETAIL_FROM} WHERE a.professional_id = :pid "
                  f"AND a.id = ANY(CAST(:ids AS uuid[])) ORDER BY a.starts_at, a.id",
                  pid=professional_id, ids=[str(i) for i in appointment_ids])


def detail(professional_id: str, appointment_id: str) -> dict[str, Any] | None:
    rows = details(professional_id, [appointment_id])
    return rows[0] if rows else None


def page_for_professional(professional_id: str, *, limit: int, starts_from: dt.datetime | None = None,
                          starts_before: dt.datetime | None = None, statuses: list[str] | None = None,
                          client_id: str | None = None,
                          after: tuple[dt.datetime, str] | None = None) -> list[dict[str, Any]]:
    """Up to ``limit`` appointments in (starts_at, id) order, after the keyset ``after`` when given."""
    where = ["a.professional_id = :pid"]
    params: dict[str, Any] = {"pid": professional_id, "limit": limit}
    if starts_from is not None:
        where.append("a.starts_at >= :starts_from")
        params["starts_from"] = starts_from
    if starts_before is not None:
        where.append("a.starts_at < :starts_before")
        params["starts_before"] = starts_before
    if statuses:
        where.append("a.status = ANY(CAST(:statuses AS text[]))")
        params["statuses"] = list(statuses)
    if client_id is not None:
        where.append("a.client_id = CAST(:client_id AS uuid)")
        params["client_id"] = client_id
    if after is not None:
        where.append("(a.starts_at, a.id) > (CAST(:after_starts AS timestamptz), CAST(:after_id AS uuid))")
        params.update(after_starts=after[0], after_id=after[1])
    return db.all(f"SELECT {DETAIL_COLUMNS} FROM {_DETAIL_FROM} WHERE {' AND '.join(where)} "
                  f"ORDER BY a.starts_at, a.id LIMIT :limit", **params)


def for_update(professional_id: str, appointment_id: str) -> dict[str, Any] | None:
    """The appointment row, locked until the end of the transaction."""
    return db.one(f"SELECT {COLUMNS} FROM appointments WHERE professional_id = :pid AND id = :id FOR UPDATE",
                  pid=professional_id, id=appointment_id)


_PREFIX = "a__"  # the appointment's columns in lock_with_professional, apart from the professional's
_LOCKED_COLUMNS = ", ".join(f"a.{c.strip()} AS {_PREFIX}{c.strip()}" for c in COLUMNS.split(","))


def lock_with_professional(user_id: str, appointment_id: str) -> tuple[dict[str, Any], dict[str, Any] | None] | None:
    """In one statement, the user's professional row and then one of their appointments, both locked until the end of
    the transaction (in that order, as every writer of the professional takes them): ``(professional, row)``, None
    when the user has no professional, ``row`` None when the professional has no such appointment.

    ``row`` holds :data:`COLUMNS` plus ``client_name``/``client_phone`` (what ``DETAIL_COLUMNS`` adds) and
    ``open_pix_charge`` (whether a PSP charge is active or being created for it, see :mod:`odys.pix_charges`).
    """
    rows = db.all(
        f"WITH p AS MATERIALIZED (SELECT {professionals_store.COLUMNS} FROM professionals WHERE user_id = :user_id "
        f"FOR UPDATE) "
        f"SELECT p.*, a.* FROM p LEFT JOIN LATERAL (SELECT {_LOCKED_COLUMNS}, c.name AS {_PREFIX}client_name, "
        f"c.phone AS {_PREFIX}client_phone, EXISTS (SELECT 1 FROM pix_charges x WHERE x.appointment_id = a.id "
        f"AND x.status IN ('active', 'creating')) AS {_PREFIX}open_pix_charge FROM {_DETAIL_FROM} "
        f"WHERE a.professional_id = p.id AND a.id = CAST(:id AS uuid) FOR UPDATE OF a) a ON true",
        user_id=user_id, id=appointment_id)
    if not rows:
        return None
    professional = {k: v for k, v in rows[0].items() if not k.startswith(_PREFIX)}
    row = {k[len(_PREFIX):]: v for k, v in rows[0].items() if k.startswith(_PREFIX)}
    return professional, row if row["id"] is not None else None


def update_fields(professional_id: str, appointment_id: str, changes: dict[str, Any]) -> dict[str, Any] | None:
    """Apply ``changes`` (keys in ``UPDATABLE``); None when absent; :class:`SlotTaken` on overlap (the database)."""
    assignments, values = set_clause(changes, UPDATABLE)
    with domain_errors():
        return db.one(f"UPDATE appointments SET {assignments} WHERE professional_id = :pid AND id = :id "
                      f"RETURNING {COLUMNS}", pid=professional_id, id=appointment_id, **values)


def delete_one(professional_id: str, appointment_id: str) -> bool:
    return bool(db.run("DELETE FROM appointments WHERE professional_id = :pid AND id = :id RETURNING id",
                       pid=professional_id, id=appointment_id))


def insert_in_savepoint(professional_id: str, client_id: str, starts_at: dt.datetime, ends_at: dt.datetime,
                        **fields: Any) -> dict[str, Any] | None:
    """:func:`insert` inside a SAVEPOINT: None when the slot is taken, and the transaction stays usable.

    Lets one transaction insert many rows (a series' occurrences) and skip the ones that collide.
    """
    return _in_savepoint(lambda: insert(professional_id, client_id, starts_at, ends_at, **fields))


def update_in_savepoint(professional_id: str, appointment_id: str, changes: dict[str, Any]) -> dict[str, Any] | None:
    """:func:`update_fields` inside a SAVEPOINT: None when the new time is taken (the row is left as it was)."""
    return _in_savepoint(lambda: update_fields(professional_id, appointment_id, changes))


def _in_savepoint(write: Any) -> dict[str, Any] | None:
    db.run(f"SAVEPOINT {_SAVEPOINT}")
    try:
        row = write()
    except SlotTaken:
        db.run(f"ROLLBACK TO SAVEPOINT {_SAVEPOINT}")
        return None
    db.run(f"RELEASE SAVEPOINT {_SAVEPOINT}")
    return row


def series_dates(professional_id: str, schedule_id: str, first_day: dt.date, last_day: dt.date) -> set[dt.date]:
    """Rule dates (``occurrence_date``) in [first_day, last_day] for which a series already has an occurrence,
    whatever its status or time: a series has at most one occurrence per date."""
    rows = db.run("SELECT occurrence_date FROM appointments WHERE professional_id = :pid "
                  "AND recurring_schedule_id = :sid AND occurrence_date BETWEEN :first_day AND :last_day",
                  pid=professional_id, sid=schedule_id, first_day=first_day, last_day=last_day)
    return {row[0] for row in rows}


def series_future_active_for_update(professional_id: str, schedule_id: str,
                                    after: dt.datetime) -> list[dict[str, Any]]:
    """A series' active (pending/confirmed) occurrences starting after ``after``, locked, in start order."""
    return db.all(f"SELECT {COLUMNS} FROM appointments WHERE professional_id = :pid AND recurring_schedule_id = :sid "
                  f"AND starts_at > :after AND status IN ('pending', 'confirmed') ORDER BY starts_at, id FOR UPDATE",
                  pid=professional_id, sid=schedule_id, after=after)


def delete_future_replaceable(professional_id: str, schedule_id: str, after: dt.datetime) -> int:
    """Delete a series' occurrences starting after ``after`` that are still active and have no payment recorded.

    Completed, cancelled and no-show occurrences, and any with a payment status other than ``unpaid``, stay.
    """
    return len(db.run("DELETE FROM appointments WHERE professional_id = :pid AND recurring_schedule_id = :sid "
                      "AND starts_at > :after AND status IN ('pending', 'confirmed') AND payment_status = 'unpaid' "
                      "RETURNING id", pid=professional_id, sid=schedule_id, after=after))


def client_past(professional_id: str, client_id: str, before: dt.datetime, limit: int) -> list[dict[str, Any]]:
    """The client's latest appointments that started before ``before`` (any status), newest first."""
    return db.all(f"SELECT {DETAIL_COLUMNS} FROM {_DETAIL_FROM} WHERE a.professional_id = :pid "
                  f"AND a.client_id = :cid AND a.starts_at < :before ORDER BY a.starts_at DESC, a.id DESC "
                  f"LIMIT :limit", pid=professional_id, cid=client_id, before=before, limit=limit)


def client_upcoming(professional_id: str, client_id: str, since: dt.datetime, limit: int) -> list[dict[str, Any]]:
    """The client's next active (pending/confirmed) appointments from ``since`` on, soonest first."""
    return db.all(f"SELECT {DETAIL_COLUMNS} FROM {_DETAIL_FROM} WHERE a.professional_id = :pid "
                  f"AND a.client_id = :cid AND a.starts_at >= :since AND a.status IN ('pending', 'confirmed') "
                  f"ORDER BY a.starts_at, a.id LIMIT :limit", pid=professional_id, cid=client_id, since=since,
                  limit=limit)


def client_totals(professional_id: str, client_id: str) -> dict[str, int]:
    """Counts by status, cents paid, and cents due (completed or no-show, payment unpaid or pending)."""
    row = db.one(
        "SELECT count(*) FILTER (WHERE status = 'pending') AS pending, "
        "count(*) FILTER (WHERE status = 'confirmed') AS confirmed, "
        "count(*) FILTER (WHERE status = 'completed') AS completed, "
        "count(*) FILTER (WHERE status = 'cancelled') AS cancelled, "
        "count(*) FILTER (WHERE status = 'no_show') AS no_show, "
        "coalesce(sum(price) FILTER (WHERE payment_status = 'paid'), 0) AS paid, "
        "coalesce(sum(price) FILTER (WHERE status IN ('completed', 'no_show') "
        "AND payment_status IN ('unpaid', 'pending')), 0) AS due "
        "FROM appointments WHERE professional_id = :pid AND client_id = :cid", pid=professional_id, cid=client_id)
    assert row is not None
    return {key: int(value) for key, value in row.items()}


def series_upcoming(professional_id: str, schedule_id: str, after: dt.datetime) -> list[dict[str, Any]]:
    """A series' occurrences starting after ``after`` (any status), with client details, in start order."""
    return db.all(f"SELECT {DETAIL_COLUMNS} FROM {_DETAIL_FROM} WHERE a.professional_id = :pid "
                  f"AND a.recurring_schedule_id = :sid AND a.starts_at > :after ORDER BY a.starts_at, a.id",
                  pid=professional_id, sid=schedule_id, after=after)
