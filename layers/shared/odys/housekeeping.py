"""The daily housekeeping (``functions/cron_housekeeping``, 07:30 America/Sao_Paulo, before the 08:00 reminders):
extend every recurring series to its 8-week horizon, then purge what is past its retention.

    run(schedule.scheduled_time({"scheduledTime": "2026-12-02T10:30:00Z"}))
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

from odys import recurring, retention
from odys.log import logger


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
