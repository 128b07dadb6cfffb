"""SQL for weekly availability windows."""

from __future__ import annotations

import datetime as dt
from typing import Any

from odys import db


def list_for(professional_id: str) -> list[dict[str, Any]]:
    return db.all("SELECT day_of_week, start_time, end_time FROM availability WHERE professional_id = :pid "
                  "ORDER BY day_of_week, start_time", pid=professional_id)


def replace(professional_id: str, windows: list[tuple[int, dt.time, dt.time]]) -> None:
    """Replace all windows of a professional; callers wrap it in a transaction."""
    db.run("DELETE FROM availability WHERE professional_id = :pid", pid=professional_id)
    for day, start, end in windows:
        db.run("INSERT INTO availability (professional_id, day_of_week, start_time, end_time) "
               "VALUES (:pid, :day, :start, :end)", pid=professional_id, day=day, start=start, end=end)
