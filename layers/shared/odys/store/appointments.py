"""SQL for appointments (always scoped to their professional)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from odys import db

COLUMNS = """id, professional_id, client_id, recurring_schedule_id, starts_at, ends_at, status, payment_status,
    price, stripe_payment_intent_id, pix_txid, notes, reminder_sent_at, created_at, updated_at"""


class SlotTaken(Exception):
    """The exclusion constraint refused an overlapping active appointment."""


def insert(professional_id: str, client_id: str, starts_at: dt.datetime, ends_at: dt.datetime, *, status: str,
           price: int, notes: str | None = None, recurring_schedule_id: str | None = None) -> dict[str, Any]:
    """Insert an appointment; raises :class:`SlotTaken` when it overlaps an active one (decided by the database).

    Run it inside a transaction: on SlotTaken the transaction is aborted and must be rolled back.
    """
    try:
        row = db.one(
            f"INSERT INTO appointments (professional_id, client_id, starts_at, ends_at, status, price, notes, "
            f"recurring_schedule_id) VALUES (:pid, :cid, :starts, :ends, :status, :price, :notes, :rid) "
            f"RETURNING {COLUMNS}",
            pid=professional_id, cid=client_id, starts=starts_at, ends=ends_at, status=status, price=price,
            notes=notes, rid=recurring_schedule_id)
    except db.DatabaseError as error:
        if db.sqlstate(error) == ("23P01", "appointments_no_overlap"):
            raise SlotTaken() from None
        raise
    assert row is not None
    return row


def get(professional_id: str, appointment_id: str) -> dict[str, Any] | None:
    return db.one(f"SELECT {COLUMNS} FROM appointments WHERE professional_id = :pid AND id = :id",
                  pid=professional_id, id=appointment_id)


def count_in_month(professional_id: str, timezone: str, month_of: dt.datetime) -> int:
    """Appointments (not cancelled) starting in the calendar month of ``month_of``, in the professional's zone."""
    return db.scalar(
        "SELECT count(*) FROM appointments WHERE professional_id = :pid AND status <> 'cancelled' "
        "AND starts_at >= (date_trunc('month', CAST(:at AS timestamptz) AT TIME ZONE :tz) AT TIME ZONE :tz) "
        "AND starts_at < ((date_trunc('month', CAST(:at AS timestamptz) AT TIME ZONE :tz) + interval '1 month') "
        "AT TIME ZONE :tz)",
        pid=professional_id, tz=timezone, at=month_of)
