"""How an appointment reads, for the professional, and the local-time helpers the agenda services share.

    view(row)   # a row with store.appointments.DETAIL_COLUMNS -> {"id", "client": {...}, "startsAt", "notes", ...}
    local_instant(dt.date(2026, 11, 2), dt.time(10), "America/Sao_Paulo")   # -> 2026-11-02 13:00 UTC

Shared by ``appointments``, ``clients`` and ``recurring`` without them importing each other.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import Field

UTC = dt.timezone.utc
MAX_DURATION_MINUTES = 480

Status = Literal["pending", "confirmed", "completed", "cancelled", "no_show"]  # an appointment's

Minutes = Annotated[int, Field(ge=5, le=MAX_DURATION_MINUTES, strict=True)]


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    return value.astimezone(UTC) if value is not None else None


def view(row: dict[str, Any]) -> dict[str, Any]:
    """An appointment as the professional sees it (a row with ``store.appointments.DETAIL_COLUMNS``).

    ``startsAt``/``endsAt`` are UTC ISO 8601; ``price`` is in cents; ``notes`` are the professional's private
    notes, ``clientNotes`` what the client wrote when booking (read-only).
    """
    return {
        "id": str(row["id"]),
        "client": {"id": str(row["client_id"]), "name": row["client_name"], "phone": row["client_phone"]},
        "recurringScheduleId": str(row["recurring_schedule_id"]) if row["recurring_schedule_id"] else None,
        "startsAt": _utc(row["starts_at"]), "endsAt": _utc(row["ends_at"]),
        "durationMinutes": int((row["ends_at"] - row["starts_at"]).total_seconds() // 60),
        "status": row["status"], "paymentStatus": row["payment_status"], "price": row["price"],
        "notes": row["notes"], "clientNotes": row["client_notes"], "reminderSentAt": _utc(row["reminder_sent_at"]),
        "createdAt": row["created_at"], "updatedAt": row["updated_at"],
    }


def local_instant(day: dt.date, at: dt.time, timezone: str) -> dt.datetime:
    """The UTC instant of a local date and wall-clock time (DST-safe: a time in a spring-forward gap lands after
    it, an ambiguous one takes its first occurrence).

    >>> local_instant(dt.date(2026, 11, 2), dt.time(0), "America/Sao_Paulo").isoformat()
    '2026-11-02T03:00:00+00:00'
    """
    return dt.datetime.combine(day, at, tzinfo=ZoneInfo(timezone)).astimezone(UTC)


def local_date(instant: dt.datetime, timezone: str) -> dt.date:
    """The professional's calendar date at ``instant``."""
    return instant.astimezone(ZoneInfo(timezone)).date()
