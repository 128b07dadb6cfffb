"""Weekly availability windows of a professional, in their local time.

    availability.replace(user_id, AvailabilityIn(windows=[{"dayOfWeek": 1, "startTime": "09:00", "endTime": "12:00"}]))
    availability.get(user_id)   # -> {"timezone": "America/Sao_Paulo", "windows": [{"dayOfWeek": 1, ...}]}

Days are 0 = Sunday … 6 = Saturday. A PUT replaces every window at once, under the professional's lock (two
concurrent PUTs leave one of them whole, never their union); windows of one day may not overlap (touching is fine:
09:00–12:00 and 12:00–18:00; the database's exclusion constraint backs this: 422 ``overlapping_windows``), and a
window must end after it starts.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from odys import agenda, caller
from odys.errors import OverlappingWindows
from odys.fields import HHMM, ApiModel
from odys.store import availability as store

DAY_NAMES = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")


class Window(ApiModel):
    day_of_week: int = Field(ge=0, le=6, strict=True)
    start_time: HHMM
    end_time: HHMM

    @model_validator(mode="after")
    def _ordered(self) -> "Window":
        if self.end_time <= self.start_time:
            raise ValueError("endTime must be after startTime")
        return self


class AvailabilityIn(ApiModel):
    windows: list[Window] = Field(max_length=70)


def _window_view(day: int, start: Any, end: Any) -> dict[str, Any]:
    return {"dayOfWeek": day, "startTime": start.strftime("%H:%M"), "endTime": end.strftime("%H:%M")}


def get(user_id: str) -> dict[str, Any]:
    professional = caller.professional(user_id)
    rows = store.list_for(professional["id"])
    return {"timezone": professional["timezone"],
            "windows": [_window_view(r["day_of_week"], r["start_time"], r["end_time"]) for r in rows]}


def _overlaps(windows: list[Window]) -> list[dict[str, str]]:
    errors = []
    ordered = sorted(enumerate(windows), key=lambda item: (item[1].day_of_week, item[1].start_time))
    for (_, previous), (index, window) in zip(ordered, ordered[1:]):
        if window.day_of_week == previous.day_of_week and window.start_time < previous.end_time:
            errors.append({"field": f"windows.{index}", "code": "overlapping_window",
                           "message": f"overlaps another {DAY_NAMES[window.day_of_week]} window "
                                      f"({previous.start_time:%H:%M}-{previous.end_time:%H:%M})"})
    return errors


def replace(user_id: str, data: AvailabilityIn) -> dict[str, Any]:
    errors = _overlaps(data.windows)
    if errors:
        raise OverlappingWindows(errors=errors)
    with agenda.for_user(user_id) as work:  # serialised with every other write of the professional
        work.replace_availability([(w.day_of_week, w.start_time, w.end_time) for w in data.windows])
    return get(user_id)
