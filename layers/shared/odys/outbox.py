"""The WhatsApp outbox: a message is a ``queued`` row written in the transaction of the event that causes it,
and reaches SQS only once that transaction commits.

    from odys import db, outbox
    with db.transaction():                       # or inside agenda's unit of work
        appointment = ...                        # the event
        outbox.queue(professional_id=pid, template="msgBookingConfirmed", recipient="client",
                     to_phone="+5511987654321", client_id=cid, appointment_id=aid, appointment_starts_at=starts,
                     params={"client_name": "Ana", "professional_name": "Bia", "date_time": "…",
                             "manage_link": "…"},
                     dedupe_key=f"booking_confirmed:{aid}")
    # committed: the id is on the queue; rolled back: no row, nothing on the queue

    outbox.queue_text(professional_id=pid, client_id=cid, to_phone="+5511987654321", body="Até amanhã!")
    outbox.sweep(clock.now())                    # every 5 minutes: re-enqueue what never reached the queue

* ``queue`` renders (validates) the template first (``message_templates.render``: unknown or missing params raise
  ``TemplateError``), stores the rendered text as ``body`` and the params for the sender. A ``dedupe_key`` that
  already exists makes it a no-op (None), in the same transaction: the same event queued twice sends once.
* Outside a transaction the row commits at once (autocommit) and is enqueued right away.
* A row is written with ``enqueued_at`` already stamped: its id goes to SQS right after the commit, without an
  UPDATE on the way out. :func:`enqueue` never raises: an SQS failure is logged and counted
  (``WhatsAppEnqueueFailed``) and clears the stamp, so :func:`sweep` sends the row a minute later; a function that
  dies between COMMIT and SQS leaves it stamped, and the sweep sends it 5 minutes later. SQS may deliver an id more than once (and
  the sweep may re-send one): the sender acts on a row only while it is ``queued``.

Cold start: importing this module loads neither the templates nor an HTTP client; both load on first use
(SQS is called through :mod:`odys.sqs`, without boto3).
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Iterable

from odys import db, metrics, queue as sqs
from odys.log import logger
from odys.store import messages

_pending = threading.local()  # ids queued in the current transaction (db's transactions are per thread)

SWEEP_BATCH = 100
SWEEP_MAX_BATCHES = 10   # at most 1,000 rows a run (every 5 minutes): bounded well inside the function's Timeout


def queue(*, professional_id: str, template: str, params: dict[str, str], recipient: str, to_phone: str,
          client_id: str | None = None, locale: str = "pt-BR", appointment_id: str | None = None,
          appointment_starts_at: dt.datetime | None = None, dedupe_key: str | None = None,
          automatic: bool = True, at_commit: bool = False) -> str | None:
    """Queue a template message in the caller's transaction; its id, or None when ``dedupe_key`` was queued.

    ``at_commit``: the row is written with the transaction's COMMIT, in its round trip (its ``dedupe_key`` must be
    new, e.g. hold a just-created appointment's id: a used one writes nothing, and the id sent then finds no row).
    """
    from odys import message_templates

    if message_templates.get(template, locale).recipient != recipient:
        raise ValueError(f"{template} is not for a {recipient}")
    rendered = message_templates.render(template, params, locale=locale)
    message_id = messages.insert_queued(
        professional_id=professional_id, client_id=client_id, template=template, body=rendered.text,
        recipient=recipient, to_phone=to_phone, locale=rendered.locale, params=dict(rendered.params),
        appointment_id=appointment_id, appointment_starts_at=appointment_starts_at, dedupe_key=dedupe_key,
        automatic=automatic, at_commit_id=str(uuid.uuid4()) if at_commit and db.in_transaction() else None)
    if message_id is None:
        logger.info("whatsapp message already queued", extra={"template": template})
        return None
    _enqueue_after_commit(message_id)
    return message_id


def queue_text(*, professional_id: str, client_id: str, to_phone: str, body: str, locale: str = "pt-BR",
               automatic: bool = False) -> str:
    """Queue a free-form text to a client (only valid inside their 24 h service window: the caller checks)."""
    from odys import message_templates

    text = body.strip()
    if not text or len(text) > message_templates.MAX_FREE_FORM:
        raise ValueError(f"a text message has 1 to {message_templates.MAX_FREE_FORM} characters")
    message_id = messages.insert_queued(professional_id=professional_id, client_id=client_id, template=None,
                                        body=text, recipient="client", to_phone=to_phone,
                                        locale=message_templates.resolve_locale(locale),
                                        automatic=automatic)
    assert message_id is not None  # no dedupe key: never a conflict
    _enqueue_after_commit(message_id)
    return message_id


def _enqueue_after_commit(message_id: str) -> None:
    """Enqueue once the transaction commits: every id queued in one transaction goes in one SQS call."""
    pending: list[str] | None = getattr(_pending, "ids", None)
    if pending:  # this transaction already has its flush registered
        pending.append(message_id)
        return
    _pending.ids = [message_id]
    db.after_commit(_flush)
    db.after_transaction(_discard)  # after the flush on commit; the only action on rollback


def _flush() -> None:
    ids, _pending.ids = getattr(_pending, "ids", None) or [], None
    enqueue(ids)


def _discard() -> None:
    _pending.ids = None


def enqueue(ids: Iterable[str]) -> int:
    """Put these rows' ids on the queue; how many went. Never raises. The rows were stamped ``enqueued_at`` when
    written (no UPDATE on the way out); those that did not go lose the stamp, so the sweep sends them soon."""
    ids = list(dict.fromkeys(ids))
    sent: list[str] = []
    for start in range(0, len(ids), sqs.BATCH):
        chunk = ids[start:start + sqs.BATCH]
        try:
            sent += sqs.send_ids(chunk)
        except sqs.QueueNotConfigured:
            logger.error("whatsapp enqueue failed: WHATSAPP_QUEUE_URL is not configured")
            break
        except Exception:  # noqa: BLE001 - the request already committed; the sweep sends it later
            logger.exception("whatsapp enqueue failed", extra={"messages": len(chunk)})
            metrics.count("WhatsAppEnqueueFailed")
    if len(sent) < len(ids):
        missed = sorted(set(ids) - set(sent))
        logger.warning("whatsapp messages left for the sweep", extra={"messages": len(missed)})
        try:
            messages.clear_enqueued(missed)
        except Exception:  # noqa: BLE001 - still stamped: the sweep takes them STALE after the stamp instead
            logger.exception("whatsapp enqueue failure not recorded", extra={"messages": len(missed)})
    return len(sent)


def sweep(now: dt.datetime) -> dict[str, int]:
    """Re-enqueue stale queued rows (never enqueued, or enqueued more than 5 minutes ago and still queued; only
    rows created more than a minute ago), oldest first, in bounded batches: ``{"claimed": n, "enqueued": m}``."""
    claimed = enqueued = 0
    for _ in range(SWEEP_MAX_BATCHES):
        ids = messages.claim_stale(now, limit=SWEEP_BATCH)
        if not ids:
            break
        claimed += len(ids)
        sent: list[str] = []
        for start in range(0, len(ids), sqs.BATCH):
            try:
                sent += sqs.send_ids(ids[start:start + sqs.BATCH])
            except Exception:  # noqa: BLE001 - counted below; the next sweep tries again
                logger.exception("whatsapp sweep enqueue failed")
        enqueued += len(sent)
        missed = sorted(set(ids) - set(sent))
        if missed:
            messages.unclaim(missed, claimed_at=now)
            metrics.count("WhatsAppEnqueueFailed")
            break  # the queue is failing: leave the rest for the next run
        if len(ids) < SWEEP_BATCH:
            break
    counts = {"claimed": claimed, "enqueued": enqueued}
    if claimed:
        logger.info("whatsapp sweep", extra=counts)
    return counts
