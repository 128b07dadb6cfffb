"""SQL for weekly availability windows."""

from __future__ import annotations

import datetime as dt
from typing import Any

from odys import db
from odys.store import domain_errors


def list_for(professional_id: str) -> list[dict[str, Any]]:
    return db.all("SELECT day_of_week, start_time, end_time FROM availability WHERE professional_id = :pid "
                  "ORDER BY day_of_week, start_time", pid=professional_id)


def replace(professional_id: str, windows: list[tuple[int, dt.time, dt.time]]) -> None:
    """Replace all windows of a professional in one statement pair; callers hold the professional's lock.

    :class:`OverlappingWindows` when the exclusion constraint ``availability_no_overlap`` refuses a pair.
    """
    db.run("DELETE FROM availability WHERE professional_id = :pid", pid=professional_id)
    if not windows:
        return
    with domain_errors():
        db.run("INSERT INTO availability (professional_id, day_of_week, start_time, end_time) "
               "SELECT :pid, w.day, w.start_time, w.end_time FROM unnest(CAST(:days AS smallint[]), "
               "CAST(:starts AS time[]), CAST(:ends AS time[])) AS w(day, start_time, end_time)",
               pid=professional_id, days=[w[0] for w in windows], starts=[w[1].isoformat() for w in windows],
               ends=[w[2].isoformat() for w in windows])
