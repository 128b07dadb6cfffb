"""whatsapp_sender — SQS: each record's body is ``{"messageId": "<messages.id>"}``; sends (or skips) that row.

Powertools batch processing reports the records to be tried again as ``batchItemFailures`` (the event source has
``ReportBatchItemFailures``): a throttled send, a 5xx, or the account-level pause leaves only those records on the
queue; every other record is deleted. A body that names no message is logged and dropped (retrying cannot help).
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from odys import clock, sender
from odys.log import logger

processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def message_id_of(body: str) -> str | None:
    try:
        value = json.loads(body).get("messageId")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) and len(value) == 36 else None


def record_handler(record: SQSRecord) -> str:
    message_id = message_id_of(record.body)
    if message_id is None:
        logger.error("whatsapp queue record without a message id", extra={"sqs_message_id": record.message_id})
        return "malformed"
    try:
        outcome = sender.deliver(message_id, clock.now())
    except sender.RetryLater as later:
        logger.info("whatsapp message to retry", extra={"message_id": message_id, "why": str(later),
                                                        "receive_count": record.attributes.approximate_receive_count})
        raise
    return outcome


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
