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


from odys import reminders
from odys.schedule import scheduled_time
from odys.log import logger


@logger.inject_lambda_context
def lambda_handler(event, context):
    return reminders.run(scheduled_time(event))
