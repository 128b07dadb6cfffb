"""cron_pix_reconcile — every 15 minutes 06:00-23:00 America/Sao_Paulo re-reads pending PIX charges; the daily
schedule (input ``"sweep": true``) also sweeps ``GET /pix`` over the last days (``odys.pix_reconcile.run``).

    lambda_handler({"scheduledTime": "2026-12-01T12:15:00Z"}, context)
    # -> {"scheduledTime": ..., "sweep": False, "checked": 3, "confirmed": 1, "mismatches": 0, "pspErrors": {}, ...}
"""

from __future__ import annotations

from odys import pix_reconcile
from odys.log import logger
from odys.schedule import scheduled_time


@logger.inject_lambda_context
def lambda_handler(event, context):
    sweep = isinstance(event, dict) and event.get("sweep") is True
    return pix_reconcile.run(scheduled_time(event), sweep=sweep)
