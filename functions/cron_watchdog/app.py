"""cron_watchdog — daily at 09:00 America/Sao_Paulo (template.yaml ``CronWatchdogFunction``, EventBridge Scheduler,
Input ``{"scheduledTime": "<aws.scheduler.scheduled-time>"}``): checks the WhatsApp token and number, re-enqueues
stuck messages, tells professionals about failed deliveries, reads the dead-letter queue (``odys.watchdog``).

    lambda_handler({"scheduledTime": "2026-12-02T12:00:00Z"}, context)
    # -> {"scheduledTime": ..., "requeued": 0, "failed": 2, "notified": 1, "whatsappNotices": 1, "dlqDepth": 0, ...}
"""

from odys import watchdog
from odys.schedule import scheduled_time
from odys.log import logger


@logger.inject_lambda_context
def lambda_handler(event, context):
    return watchdog.run(scheduled_time(event))
