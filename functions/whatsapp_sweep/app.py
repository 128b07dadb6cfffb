"""whatsapp_sweep — every 5 minutes (template.yaml ``WhatsAppSweepFunction``, EventBridge Scheduler): puts back on
the WhatsApp queue the ``queued`` messages whose SQS message never went out or was lost (``odys.outbox.sweep``).

    lambda_handler({}, context)   # -> {"claimed": 3, "enqueued": 3}
"""

from odys import clock, outbox
from odys.log import logger


@logger.inject_lambda_context
def lambda_handler(event, context):
    return outbox.sweep(clock.now())
