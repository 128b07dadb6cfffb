"""The instant a scheduled run is for, from its EventBridge Scheduler event (every cron function starts here).

    scheduled_time({"scheduledTime": "2026-12-02T11:00:00Z"})   # -> 2026-12-02 11:00 UTC
    scheduled_time({})                                          # a manual invoke: the current time (logged)

The schedule's target ``Input`` is ``{"scheduledTime": "<aws.scheduler.scheduled-time>"}``; an EventBridge rule's
envelope (``"time"``) is accepted too. The scheduled time, not the wall clock, decides which day a run means, so
the scheduler's retry or a late start does the same work. An event without a readable time (a console test, a
hand-written one) runs for "now" and says so, rather than failing into the scheduler's retries.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from odys import clock
from odys.log import logger


def scheduled_time(event: Any) -> dt.datetime:
    """The run's instant in UTC; the current time (with a warning) when the event carries none that can be read.

    >>> scheduled_time({"scheduledTime": "2026-12-02T10:30:00Z"})
    datetime.datetime(2026, 12, 2, 10, 30, tzinfo=datetime.timezone.utc)
    """
    raw = (event.get("scheduledTime") or event.get("time")) if isinstance(event, dict) else None
    if isinstance(raw, str):
        try:
            value = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            value = None
        if value is not None and value.tzinfo is not None:
            return value.astimezone(dt.timezone.utc)
        logger.warning("scheduled run: unreadable scheduledTime, using the current time")
    else:
        logger.warning("scheduled run: no scheduledTime in the event, using the current time")
    return clock.now()
