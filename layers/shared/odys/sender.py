"""Sending one outbox row: decide at send time, send through the Cloud API, store what happened.

    from odys import clock, sender
    try:
        sender.deliver(message_id, clock.now())   # -> "sent" | "skipped:<reason>" | "failed:<code>" | "not_queued"
    except sender.RetryLater:
        ...                                       # the SQS record is a batch item failure: redelivered later

The row is the truth; the SQS message only wakes the sender, so a duplicate or late SQS message does nothing. The
row is locked (``FOR UPDATE SKIP LOCKED``) for the whole decision and send: a row another sender holds, or one no
longer ``queued``, is done (``not_queued``). That lock is what makes a send at most once without a "sending"
state to recover after a crash, so the transaction stays open across the Cloud API call; it costs two round
trips: the row with everything the decision reads (templates switched off, the pause, the professional's wording,
the client's last message) in one locked SELECT, and what the send changed in one statement sent with the COMMIT.
Then, in order:

* an appointment message whose appointment is gone or no longer in the state the message is about (a reminder for
  a cancelled appointment, a confirmation for a moved one: the start differs from ``appointment_starts_at``) →
  ``skipped`` ``appointment_cancelled`` / ``appointment_changed``; a reminder whose appointment already began →
  ``appointment_started``;
* an automatic message written more than :data:`MAX_AGE` ago → ``expired``;
* a payment request (``msgPixPaymentRequest``, ``msgPaymentPending``) for an appointment paid or waived since →
  ``appointment_paid``;
* the professional turned WhatsApp off → ``whatsapp_disabled``; an automatic client message on a plan without
  ``whatsapp_automation`` (free) → ``plan``; an automatic message to a client who opted out → ``opted_out``; an
  automatic template the professional switched off → ``disabled_by_professional``;
* the account-level pause (``whatsapp_state.paused_until`` in the future) → :class:`RetryLater`, nothing counted;
* the send: the Meta template (named parameters, signed quick-reply payloads, our id as
  ``biz_opaque_callback_data``) — or, for a template the professional reworded, their text free-form while the
  client's 24 h window is open (a template has no free-form variant outside it); a free-form row as text.
  Accepted → ``sent`` with the wamid and wa_id (also remembered on the client), then any status that arrived first
  (``whatsapp_statuses``) is applied.
* Failures by Meta's code (:mod:`odys.whatsapp_api`): retryable → ``attempts + 1`` and :class:`RetryLater` (SQS
  redelivers after the visibility timeout, the dead-letter queue after 5 receives, the sweep re-enqueues), until
  :data:`MAX_ATTEMPTS` → ``failed``; permanent → ``failed`` with Meta's code and message, once; account-level →
  the pause (:data:`PAUSES`), an error log and the ``WhatsAppSendingPaused`` metric, :class:`RetryLater`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from odys import db, message_templates, metrics, plans, reply_payloads, whatsapp_api
from odys.log import logger
from odys.store import messages

MAX_ATTEMPTS = 10
"""Retryable failures of one message before it is ``failed`` (SQS and the sweep would otherwise retry forever)."""
MAX_AGE = dt.timedelta(hours=24)
"""An automatic message still queued this long after it was written (a long pause, an outage) is ``expired``:
news of yesterday is no news, and a late one confuses more than it helps."""
WINDOW = dt.timedelta(hours=24)
PAUSES: dict[int, dt.timedelta] = {
    190: dt.timedelta(minutes=10),     # token expired/invalid: one send re-checks every 10 minutes until fixed
    368: dt.timedelta(minutes=15),     # account restricted for policy violations
    131048: dt.timedelta(minutes=15),  # spam rate limit on the number
    131064: dt.timedelta(minutes=15),  # messaging limit reached
}
DEFAULT_PAUSE = dt.timedelta(minutes=10)

ACTIVE = frozenset({"pending", "confirmed"})
# The appointment states a message is still true in (default: active, at the start it was written for).
_STILL_TRUE: dict[str, frozenset[str]] = {
    "msgBookingCancelledByClient": frozenset({"cancelled"}),
    "msgBookingCancelledByProfessional": frozenset({"cancelled"}),
    "msgNoShowNotice": frozenset({"no_show"}),
    "msgReviewRequest": frozenset({"completed"}),
    "msgPaymentConfirmed": frozenset({"pending", "confirmed", "completed", "no_show"}),
    "msgPaymentPending": frozenset({"completed"}),
}
_BEFORE_START = frozenset({"msgReminder24h"})
_ASKS_FOR_PAYMENT = frozenset({"msgPixPaymentRequest", "msgPaymentPending"})


class RetryLater(Exception):
    """Not now: leave the SQS message to be delivered again (a batch item failure)."""


def deliver(message_id: str, now: dt.datetime) -> str:
    """Send (or skip, or fail) the queued message ``message_id``; the outcome label. :class:`RetryLater` when it
    must be tried again later."""
    retry: str | None = None
    with db.transaction():
        row = messages.lock_for_send(message_id, now)  # with the templates' and the account's state
        if row is None or row["status"] != "queued":
            return "not_queued"
        reason = skip_reason(row, now)
        if reason:
            messages.mark_skipped(message_id, reason)
            logger.info("whatsapp message skipped", extra={"message_id": message_id, "reason": reason})
            return f"skipped:{reason}"
        if row["paused_until"] is not None:
            retry = "paused"
            messages.requeued(message_id, at=now)  # in SQS's hands again: the sweep need not re-enqueue it
        else:
            retry = _send(row, now)  # a retry marks the row requeued too
            if not retry.startswith("retry"):
                return retry
    raise RetryLater(retry)


def skip_reason(row: dict[str, Any], now: dt.datetime) -> str | None:
    """Why the message must not go out now (see the module's docstring), or None."""
    template = row["template"]
    if row["appointment_id"] is not None or row["appointment_starts_at"] is not None:
        status, start = row["appointment_status"], row["appointment_current_start"]
        required = _STILL_TRUE.get(template or "", ACTIVE)
        if status is None or (required is ACTIVE and status not in ACTIVE):
            return "appointment_cancelled"
        if status not in required:
            return "appointment_changed"
        if required is ACTIVE and row["appointment_starts_at"] is not None and start != row["appointment_starts_at"]:
            return "appointment_changed"
        if template in _BEFORE_START and start <= now:
            return "appointment_started"
        if template in _ASKS_FOR_PAYMENT and row["appointment_payment_status"] not in ("unpaid", "pending"):
            return "appointment_paid"  # paid (or waived) since the request was queued
    if row["automatic"] and now - row["created_at"] > MAX_AGE:
        return "expired"
    if not row["whatsapp_enabled"]:
        return "whatsapp_disabled"
    if row["automatic"] and row["recipient"] == "client":
        plan = plans.effective_plan(row["plan"], row["trial_ends_at"], now)
        if not plans.has_feature(plan, "whatsapp_automation"):
            return "plan"
        if row["whatsapp_opted_out_at"] is not None:
            return "opted_out"
    if row["automatic"] and template and not row["template_enabled"]:
        return "disabled_by_professional"
    return None


def _payload(row: dict[str, Any], now: dt.datetime) -> tuple[dict[str, Any], str | None]:
    """The Cloud API body, and the text stored as the message's body when it differs from the queued one."""
    message_id, template = row["id"], row["template"]
    if template is None:
        return message_templates.meta_text_payload(row["body"], row["to_phone"], callback=message_id), None
    params = row["params"] or {}
    override = row["text_override"]
    if override and row["client_id"] is not None and _window_open(row, now):
        rendered = message_templates.render(template, params, locale=row["locale"], text_override=override)
        return message_templates.meta_text_payload(rendered.text, row["to_phone"], callback=message_id), rendered.text
    rendered = message_templates.render(template, params, locale=row["locale"])
    buttons = message_templates.get(template, row["locale"]).buttons
    payloads = None
    if buttons and row["appointment_id"] is not None:
        expires = row["appointment_current_start"] or now + dt.timedelta(days=30)
        payloads = {action: reply_payloads.issue(message_id, row["appointment_id"], action, expires)
                    for action in buttons}
    return message_templates.meta_template_payload(rendered, row["to_phone"], button_payloads=payloads,
                                                   callback=message_id), None


def _window_open(row: dict[str, Any], now: dt.datetime) -> bool:
    last = row["last_inbound_at"]
    return last is not None and now - last < WINDOW


def _send(row: dict[str, Any], now: dt.datetime) -> str:
    message_id = row["id"]
    try:
        payload, body = _payload(row, now)
    except ValueError as error:  # TemplateError (the template changed since it was queued), a malformed phone
        messages.mark_failed(message_id, code=None, error=f"not sendable: {type(error).__name__}", at=now)
        logger.error("whatsapp message not sendable", extra={"message_id": message_id, "template": row["template"]})
        return "failed:invalid"
    try:
        sent = whatsapp_api.send(payload)
    except whatsapp_api.WhatsAppError as error:
        return _failed(row, error, now)
    reminder = row["template"] == "msgReminder24h" and row["appointment_id"]
    learnt = sent.wa_id and row["client_id"] and row["recipient"] == "client" and sent.wa_id != row["client_wa_id"]
    messages.mark_sent(message_id, wamid=sent.wamid, wa_id=sent.wa_id, at=now, body=body,  # with the COMMIT
                       reminder_of=row["appointment_id"] if reminder else None,
                       client_id=row["client_id"] if learnt else None)
    logger.info("whatsapp message sent", extra={"message_id": message_id, "template": row["template"]})
    return "sent"


def _failed(row: dict[str, Any], error: whatsapp_api.WhatsAppError, now: dt.datetime) -> str:
    message_id = row["id"]
    fields = {"message_id": message_id, "template": row["template"], "code": error.code,
              "http_status": error.http_status, "kind": error.kind}
    if error.kind == "account":
        until = now + PAUSES.get(error.code or 0, DEFAULT_PAUSE)
        messages.pause_sending(until, code=error.code, reason=error.message)
        messages.requeued(message_id, at=now)
        logger.error("whatsapp sending paused", extra={**fields, "paused_until": until.isoformat()})
        metrics.count("WhatsAppSendingPaused", code=str(error.code))
        return "retry:account"
    if error.kind == "retry" and row["attempts"] + 1 < MAX_ATTEMPTS:
        messages.count_attempt(message_id, at=now)
        logger.warning("whatsapp send to retry", extra={**fields, "attempts": row["attempts"] + 1})  # row locked
        return "retry"
    messages.mark_failed(message_id, code=error.code, error=error.message, at=now)
    logger.warning("whatsapp message failed", extra=fields)
    metrics.count("WhatsAppSendFailed", code=str(error.code))
    return f"failed:{error.code}"
