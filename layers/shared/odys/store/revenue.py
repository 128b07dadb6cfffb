"""SQL for what a professional's appointments earned over local dates (always scoped to the professional).

    revenue.by_payment_status(pid, "America/Sao_Paulo", dt.date(2026, 12, 1), dt.date(2026, 12, 31))
    # -> [{"payment_status": "paid", "appointments": 12, "cents": 180000}, {"payment_status": "unpaid", ...}]

The days are the professional's: ``first`` 00:00 to the end of ``last`` in ``timezone``, converted by PostgreSQL
(``AT TIME ZONE``), so a day that changes offset is still exactly that day. Cancelled appointments count only when
they were paid (the money came in all the same).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from odys import db


def by_payment_status(professional_id: str, timezone: str, first: dt.date, last: dt.date) -> list[dict[str, Any]]:
    """Count and cents per payment status of the appointments starting on the local days ``first``..``last``."""
    return db.all(  # the zone is a canonical IANA name that PostgreSQL knows (odys.fields.TimeZone)
        "SELECT payment_status, count(*) AS appointments, coalesce(sum(price), 0) AS cents FROM appointments "
        "WHERE professional_id = :pid AND (status <> 'cancelled' OR payment_status = 'paid') "
        "AND starts_at >= (CAST(CAST(:first AS date) AS timestamp) AT TIME ZONE :tz) "
        "AND starts_at < (CAST(CAST(:last AS date) + 1 AS timestamp) AT TIME ZONE :tz) "
        "GROUP BY payment_status ORDER BY payment_status",
        pid=professional_id, tz=timezone, first=first, last=last)
