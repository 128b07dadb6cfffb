"""The daily housekeeping (``functions/cron_housekeeping``, 07:30 America/Sao_Paulo, before the 08:00 reminders):
extend every recurring series to its 8-week horizon, then purge what is past its retention.

    run(scheduled_time({"scheduledTime": "2026-12-02T10:30:00Z"}))
    # -> {"scheduledTime": "2026-12-02T10:30:00+00:00",
    #     "recurring": {"schedules": 3, "created": 3, "skipped": 0, "failed": 0},
    #     "purged": {"idempotency_keys": 1, "stripe_events": 0, "notifications": 2, "whatsapp_statuses": 0}}

The GET routes never write: the horizon moves only here (and on a series' own POST/PATCH). Both steps are
idempotent, so a second run the same day, or the scheduler's retry, does nothing more. The time the work is done
for is the event's scheduled time (EventBridge Scheduler's ``<aws.scheduler.scheduled-time>`` in the target's
``Input``), not the wall clock: a delayed or retried run does the same work. One summary log line, counts only.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from odys import clock, recurring, retention
from odys.log import logger


def scheduled_time(event: Any) -> dt.datetime:
    """The instant a scheduler event was scheduled for: ``{"scheduledTime": "<ISO 8601>"}`` (the target's Input),
    or an EventBridge envelope's ``time``; the clock when the event names none (a manual ``{}``).

    >>> scheduled_time({"scheduledTime": "2026-12-02T10:30:00Z"})
    datetime.datetime(2026, 12, 2, 10, 30, tzinfo=datetime.timezone.utc)
    """
    value = (event.get("scheduledTime") or event.get("time")) if isinstance(event, dict) else None
    if not isinstance(value, str) or not value:
        return clock.now()
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError("scheduledTime must carry its offset (the scheduler sends UTC with a Z)")
    return parsed.astimezone(dt.timezone.utc)


def run(now: dt.datetime) -> dict[str, Any]:
    """Extend the recurring horizons, then apply the retention rules; the summary (counts only)."""
    extended = recurring.extend_horizons(now)
    purged = retention.purge(now)
    summary = {
        "scheduledTime": now.isoformat(),
        "recurring": {"schedules": extended["schedules"], "created": extended["created"],
                      "skipped": len(extended["skipped"]), "failed": extended["failed"]},
        "purged": purged,
    }
    log = logger.warning if extended["failed"] else logger.info
    log("daily housekeeping", extra={
        "scheduled_time": summary["scheduledTime"], "schedules": extended["schedules"],
        "created_count": extended["created"], "skipped_count": len(extended["skipped"]),
        "failed": extended["failed"], **{f"purged_{kind}": count for kind, count in purged.items()}})
    return summary
