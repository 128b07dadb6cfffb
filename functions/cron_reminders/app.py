"""cron_reminders — 08:00 America/Sao_Paulo (template.yaml ``CronRemindersFunction``, EventBridge Scheduler):
reminders for tomorrow, today's agenda, payments pending and trials ending, through the outbox
(``odys.reminders.run``).

The schedule's target ``Input`` is ``{"scheduledTime": "<aws.scheduler.scheduled-time>"}``, so the event is::

    lambda_handler({"scheduledTime": "2026-12-01T11:00:00Z"}, context)
    # -> {"scheduledTime": "2026-12-01T11:00:00Z", "reminders": 12, "dailyAgendas": 3, ..., "enqueued": 16}

The scheduled time, not the wall clock, decides which "today" and "tomorrow" the run means: the scheduler's
retry, or a run started late, does the same work (and queues nothing twice). An EventBridge rule envelope
(``"time"``) is accepted too; an event with neither uses the current time (a manual invocation) and says so.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from odys import clock, reminders
from odys.log import logger


def scheduled_time(event: Any) -> dt.datetime:
    """The run's instant from the event; the current time (logged) when the event carries none."""
    raw = event.get("scheduledTime") or event.get("time") if isinstance(event, dict) else None
    if isinstance(raw, str):
        try:
            value = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            value = None
        if value is not None and value.tzinfo is not None:
            return value
        logger.warning("cron reminders: unreadable scheduledTime, using the current time")
    else:
        logger.warning("cron reminders: no scheduledTime in the event, using the current time")
    return clock.now()


@logger.inject_lambda_context
def lambda_handler(event, context):
    return reminders.run(scheduled_time(event))
