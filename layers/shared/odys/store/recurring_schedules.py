"""SQL for recurring schedules (series of weekly sessions), always scoped to their professional.

Occurrences are ordinary appointments with ``recurring_schedule_id`` and ``occurrence_date`` (the rule's local
date, at most one occurrence per series and date) set (see ``store.appointments``); ``materialized_until`` is the
last local date up to which a series' occurrences have been created.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from odys import db
from odys.store import set_clause

COLUMNS = """id, professional_id, client_id, day_of_week, start_time, duration_minutes, interval_weeks, starts_on,
    ends_on, price, active, materialized_until, created_at, updated_at"""
_VIEW = ", ".join(f"rs.{name.strip()}" for name in COLUMNS.split(",")) + ", c.name AS client_name"
_VIEW_FROM = "recurring_schedules rs JOIN clients c ON c.id = rs.client_id AND c.professional_id = rs.professional_id"
UPDATABLE = frozenset({"day_of_week", "start_time", "duration_minutes", "interval_weeks", "ends_on", "price",
                       "materialized_until"})


def insert(professional_id: str, client_id: str, *, day_of_week: int, start_time: dt.time, duration_minutes: int,
           interval_weeks: int, starts_on: dt.date, ends_on: dt.date | None, price: int) -> dict[str, Any]:
    row = db.one(
        f"INSERT INTO recurring_schedules (professional_id, client_id, day_of_week, start_time, duration_minutes, "
        f"interval_weeks, starts_on, ends_on, price) VALUES (:pid, :cid, :dow, :start, :duration, :interval, "
        f":starts_on, :ends_on, :price) RETURNING {COLUMNS}",
        pid=professional_id, cid=client_id, dow=day_of_week, start=start_time, duration=duration_minutes,
        interval=interval_weeks, starts_on=starts_on, ends_on=ends_on, price=price)
    assert row is not None
    return row


def view(professional_id: str, schedule_id: str) -> dict[str, Any] | None:
    """The series with its client's name."""
    return db.one(f"SELECT {_VIEW} FROM {_VIEW_FROM} WHERE rs.professional_id = :pid AND rs.id = :id",
                  pid=professional_id, id=schedule_id)


def list_views(professional_id: str, *, client_id: str | None = None,
               active: bool | None = None) -> list[dict[str, Any]]:
    """Every series of the professional (active first, then by weekday and time), optionally filtered."""
    where = ["rs.professional_id = :pid"]
    params: dict[str, Any] = {"pid": professional_id}
    if client_id is not None:
        where.append("rs.client_id = CAST(:cid AS uuid)")
        params["cid"] = client_id
    if active is not None:
        where.append("rs.active = :active")
        params["active"] = active
    return db.all(f"SELECT {_VIEW} FROM {_VIEW_FROM} WHERE {' AND '.join(where)} "
                  f"ORDER BY rs.active DESC, rs.day_of_week, rs.start_time, rs.created_at, rs.id", **params)


def for_update(professional_id: str, schedule_id: str) -> dict[str, Any] | None:
    """The series row, locked until the end of the transaction."""
    return db.one(f"SELECT {COLUMNS} FROM recurring_schedules WHERE professional_id = :pid AND id = :id FOR UPDATE",
                  pid=professional_id, id=schedule_id)


def update_fields(professional_id: str, schedule_id: str, changes: dict[str, Any]) -> dict[str, Any] | None:
    assignments, values = set_clause(changes, UPDATABLE)
    return db.one(f"UPDATE recurring_schedules SET {assignments} WHERE professional_id = :pid AND id = :id "
                  f"RETURNING {COLUMNS}", pid=professional_id, id=schedule_id, **values)


def stop(professional_id: str, schedule_id: str, ends_on: dt.date | None) -> None:
    """Mark the series stopped (``active = false``), ending it on ``ends_on`` (None keeps its end date)."""
    db.run("UPDATE recurring_schedules SET active = false, ends_on = COALESCE(CAST(:ends_on AS date), ends_on), "
           "updated_at = now() WHERE professional_id = :pid AND id = :id",
           pid=professional_id, id=schedule_id, ends_on=ends_on)


def due_for_extension(now: dt.datetime, horizon_days: int,
                      professional_id: str | None = None) -> list[dict[str, Any]]:
    """Active series whose occurrences stop short of the horizon (``horizon_days`` after today, local time).

    Returns ``[{"id", "professional_id"}]``; series that have ended before their materialised date are left out.
    """
    where = ["rs.active",
             "COALESCE(rs.materialized_until, rs.starts_on - 1) "
             "< CAST((CAST(:now AS timestamptz) AT TIME ZONE p.timezone) AS date) + CAST(:days AS integer)",
             "(rs.ends_on IS NULL OR rs.ends_on > COALESCE(rs.materialized_until, rs.starts_on - 1))"]
    params: dict[str, Any] = {"now": now, "days": horizon_days}
    if professional_id is not None:
        where.append("rs.professional_id = CAST(:pid AS uuid)")
        params["pid"] = professional_id
    return db.all("SELECT rs.id, rs.professional_id FROM recurring_schedules rs "
                  f"JOIN professionals p ON p.id = rs.professional_id WHERE {' AND '.join(where)} "
                  "ORDER BY rs.professional_id, rs.id", **params)
