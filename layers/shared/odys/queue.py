"""The WhatsApp queue (SQS): message ids go in, the ``whatsapp_sender`` function takes them out.

    from odys import queue
    sent = queue.send_ids(["7f0c…", "9a1b…"])   # -> the ids SQS accepted (SendMessageBatch, 10 per call)
    queue.depth(dlq_url)                        # -> 3 (ApproximateNumberOfMessages of any queue, e.g. the DLQ)

Each SQS message body is ``{"messageId": "<messages.id>"}``: the row is the truth, the SQS message only wakes
the sender. ``WHATSAPP_QUEUE_URL`` names the queue (template.yaml: ``!Ref WhatsAppQueue``); locally
``AWS_ENDPOINT_URL_SQS`` points at moto's server. The calls go through :mod:`odys.sqs` (Signature Version 4 over
``http.client``), not boto3: importing boto3 and building its client cost a producer's first enqueue ~270 ms (the
booking's confirmation, in its cold start). Short timeouts and one retry: an enqueue runs after the request's
commit, and a failure only delays the message until the sweep.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from odys import config, sqs

BATCH = 10  # SendMessageBatch's limit
MAX_DELAY = 900  # SQS DelaySeconds' limit

class QueueNotConfigured(config.ConfigurationError):
    """WHATSAPP_QUEUE_URL is not set."""


def queue_url() -> str:
    url = config.env("WHATSAPP_QUEUE_URL")
    if not url:
        raise QueueNotConfigured("WHATSAPP_QUEUE_URL is not configured")
    return url


def reset_client() -> None:
    """Forget the client (tests pointing at another endpoint)."""
    sqs.reset()


def body(message_id: str) -> str:
    """The SQS message body for a ``messages`` row: ``{"messageId": "…"}``."""
    return json.dumps({"messageId": message_id}, separators=(",", ":"))


def send_ids(ids: Iterable[str], delays: Mapping[str, int] | None = None) -> list[str]:
    """Send one SQS message per id; returns the ids SQS accepted (a partly failed batch returns fewer).

    ``delays`` (optional) holds an id's ``DelaySeconds`` (0-900, clamped): paced messages to one recipient.

    Raises (``QueueNotConfigured``, :class:`odys.sqs.SqsError`) only when nothing could be attempted or a call
    failed outright; the caller decides what a failure means (``odys.outbox`` logs it and lets the sweep retry).
    """
    ids = list(dict.fromkeys(ids))
    if not ids:
        return []
    url, client = queue_url(), sqs.client()
    accepted: list[str] = []
    for start in range(0, len(ids), BATCH):
        chunk = ids[start:start + BATCH]
        entries: list[dict[str, Any]] = [{"Id": str(i), "MessageBody": body(message_id)}
                                         for i, message_id in enumerate(chunk)]
        if delays:
            for entry, message_id in zip(entries, chunk):
                if delays.get(message_id):
                    entry["DelaySeconds"] = max(0, min(MAX_DELAY, int(delays[message_id])))
        answer = client.send_message_batch(QueueUrl=url, Entries=entries)
        accepted += [chunk[int(entry["Id"])] for entry in answer.get("Successful") or []]
    return accepted


def depth(url: str) -> int:
    """How many messages wait in the queue at ``url`` (``ApproximateNumberOfMessages``; raises ``SqsError``)."""
    answer = sqs.client().get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(answer["Attributes"]["ApproximateNumberOfMessages"])
