"""cron_housekeeping — daily at 07:30 America/Sao_Paulo (template.yaml ``HousekeepingFunction``, EventBridge
Scheduler): extends every recurring series to its 8-week horizon and applies the retention rules
(``odys.housekeeping``), before the 08:00 reminders look at tomorrow.

    lambda_handler({"scheduledTime": "2026-12-02T10:30:00Z"}, context)
    # -> {"scheduledTime": ..., "recurring": {"schedules", "created", "skipped", "failed"}, "purged": {...}}
"""

from odys import housekeeping
from odys.schedule import scheduled_time
from odys.log import logger


@logger.inject_lambda_context
def lambda_handler(event, context):
    return housekeeping.run(scheduled_time(event))
