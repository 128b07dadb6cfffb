"""Use cases of a professional's WhatsApp conversation with one client: read it, write free text, send a template.

    messages.list_page(user_id, MessageQuery(client_id=cid))
    # -> {"messages": [{"id", "direction", "status", "body", ...}], "nextCursor": None,
    #     "window": {"open": True, "closesAt": "2026-11-22T14:03:00+00:00"}}
    messages.send(user_id, MessageSend(client_id=cid, body="Até amanhã!"))        # inside the 24 h window
    messages.send(user_id, MessageSend(client_id=cid, template="msgPixPaymentRequest", appointment_id=aid,
                                       params={"pix_code": "000201…"}))

Rules:

- **The 24 h window** (WhatsApp's customer-service window) is open for 24 h after the client's last inbound message
  to this professional. Free text is only sent inside it; outside, 422 ``outside_service_window`` lists in
  ``templates`` the templates a professional may send by hand instead (:data:`MANUAL`).
- **Manual templates**: only those marked ``manual`` (else 422 ``template_not_manual``, also listing them). Odys
  fills ``client_name``, ``professional_name``, the links, and — from ``appointmentId``, which must be one of this
  client's appointments (else 404) — ``date_time`` (in the professional's time zone) and ``amount`` (its price);
  ``params`` holds exactly the others. A param Odys fills, one the template does not have, or one missing is 422
  ``template_error`` naming each (``errors[].field`` = ``params.<name>`` or ``appointmentId``). A template with
  quick-reply buttons (confirmation, reminder) needs an active appointment (409 ``appointment_not_active``) and is
  bound to it: the sender skips it if the appointment is cancelled or moved before it goes out.
- Both are queued through :mod:`odys.outbox` with ``automatic=False`` (manual messages are sent on every plan) and
  answered 202 with the queued message; the conversation is newest first, paginated by an opaque keyset cursor.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import Field, model_validator

from odys import caller, clock, db, message_templates, outbox, pagination
from odys.caller import client_or_404
from odys.errors import Conflict, NotFound, ValidationFailed
from odys.fields import ApiModel
from odys.log import logger
from odys.store import appointments as appointments_store
from odys.store import messages as store
from odys.store.appointments import ACTIVE

UTC = dt.timezone.utc
SERVICE_WINDOW = dt.timedelta(hours=24)
MANUAL: tuple[str, ...] = tuple(key for key, t in message_templates.TEMPLATES[message_templates.DEFAULT_LOCALE].items()
                                if t.manual)
LOCALE = message_templates.DEFAULT_LOCALE  # clients carry no language yet: Brazilian Portuguese
FILLED = frozenset({"client_name", "professional_name", "booking_link", "page_link", "billing_link", "manage_link",
                    "review_link", "date_time", "amount", "pix_code"})
FROM_APPOINTMENT = frozenset({"manage_link", "review_link", "date_time", "amount", "pix_code"})


class MessageQuery(ApiModel):
    """``GET /api/messages``: ``clientId`` (required), ``limit`` (1-200, default 50), ``cursor``."""

    client_id: uuid.UUID
    limit: int = Field(default=pagination.DEFAULT_LIMIT, ge=1, le=pagination.MAX_LIMIT)
    cursor: str | None = Field(default=None, max_length=200)


class MessageSend(ApiModel):
    """``POST /api/messages``: ``{clientId, body}`` or ``{clientId, template, params?, appointmentId?}``."""

    client_id: uuid.UUID
    body: str | None = Field(default=None, min_length=1, max_length=message_templates.MAX_FREE_FORM)
    template: str | None = Field(default=None, min_length=1, max_length=64)
    params: dict[str, str] | None = Field(default=None, max_length=20)
    appointment_id: uuid.UUID | None = None

    @model_validator(mode="after")
    def _text_or_template(self) -> MessageSend:
        if (self.body is None) == (self.template is None):
            raise ValueError("give either body (free text) or template")
        if self.body is not None and (self.params is not None or self.appointment_id is not None):
            raise ValueError("params and appointmentId go with a template, not with body")
        return self


def view(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "direction": row["direction"], "channel": row["channel"], "template": row["template"],
            "body": row["body"], "status": row["status"], "automatic": row["automatic"],
            "skipReason": row["skip_reason"], "errorCode": row["error_code"], "error": row["error"],
            "createdAt": row["created_at"], "sentAt": row["sent_at"], "deliveredAt": row["delivered_at"],
            "readAt": row["read_at"], "failedAt": row["failed_at"]}


def window(professional_id: str, client_id: str, now: dt.datetime) -> dict[str, Any]:
    """``{open, closesAt}``: the client's customer-service window (``closesAt`` null when it is closed)."""
    last = store.last_inbound_at(professional_id, client_id)
    closes = last + SERVICE_WINDOW if last is not None else None
    is_open = closes is not None and closes > now
    return {"open": is_open, "closesAt": closes if is_open else None}


def list_page(user_id: str, query: MessageQuery, now: dt.datetime | None = None) -> dict[str, Any]:
    """A page of the conversation with one client, newest first, with the state of the 24 h window."""
    pid = str(caller.professional(user_id)["id"])
    client = client_or_404(pid, query.client_id)
    rows = store.conversation_page(pid, str(client["id"]), limit=query.limit + 1,
                                   after=pagination.keyset_after("messages", query.cursor))
    items, cursor = pagination.keyset_page("messages", rows, query.limit)
    return {"messages": [view(r) for r in items], "nextCursor": cursor,
            "window": window(pid, str(client["id"]), now or clock.now())}


def _manual_templates() -> list[dict[str, Any]]:
    return [{"key": key, "params": list(message_templates.get(key, LOCALE).params)} for key in MANUAL]


def _template_params(professional: dict[str, Any], client: dict[str, Any], template: message_templates.Template,
                     given: dict[str, str], appointment: dict[str, Any] | None) -> dict[str, str]:
    """The template's params: what Odys fills merged with ``given`` (exactly the rest; 422 naming the others)."""
    from odys import links

    errors = [{"field": f"params.{name}", "message": "filled by Odys" if name in FILLED and name in
               template.params else "unknown parameter"} for name in sorted(given)
              if name not in template.params or name in FILLED]
    errors += [{"field": f"params.{name}", "message": "missing"} for name in template.params
               if name not in FILLED and name not in given]
    if appointment is None and FROM_APPOINTMENT & set(template.params):
        errors.append({"field": "appointmentId", "message": f"{template.key} is about an appointment: name it"})
    if errors:
        raise message_templates.TemplateError(f"{template.key} takes {', '.join(template.params)}; Odys fills "
                                              f"{', '.join(p for p in template.params if p in FILLED)}.",
                                              errors=errors)
    filled: dict[str, str] = {"client_name": client["name"], "professional_name": professional["name"],
                              "booking_link": links.booking_page(professional["slug"]),
                              "page_link": links.booking_page(professional["slug"]),
                              "billing_link": links.billing_page()}
    if appointment is not None:
        from odys.booking_tokens import for_appointment as manage_token

        token = manage_token(appointment)
        filled.update(manage_link=links.manage_link(token), review_link=links.review_link(token),
                      date_time=message_templates.format_datetime(appointment["starts_at"],
                                                                  professional["timezone"], LOCALE),
                      amount=message_templates.format_money(appointment["price"], LOCALE))
        if "pix_code" in template.params:  # the professional's own BR Code for this appointment (409 without a key)
            from odys import appointment_pix

            filled["pix_code"] = appointment_pix.copy_and_paste(professional, appointment)
    return {name: given[name] if name in given else filled[name] for name in template.params}


def _send_template(professional: dict[str, Any], client: dict[str, Any], data: MessageSend) -> str:
    template = message_templates.get(data.template or "", LOCALE)
    if not template.manual or template.recipient != "client":
        raise ValidationFailed(f"{template.key} is sent by Odys itself; by hand you may send "
                               f"{', '.join(MANUAL)}.", code="template_not_manual",
                               extra={"templates": _manual_templates()})
    pid = str(professional["id"])
    appointment = None
    if data.appointment_id is not None:
        appointment = appointments_store.detail(pid, str(data.appointment_id))
        if appointment is None or str(appointment["client_id"]) != str(client["id"]):
            raise NotFound("appointment")
    params = _template_params(professional, client, template, data.params or {}, appointment)
    bound = appointment is not None and bool(template.buttons)
    if bound and appointment["status"] not in ACTIVE:  # type: ignore[index]
        raise Conflict("appointment_not_active", f"{template.key} is about an upcoming appointment; this one is "
                       f"{appointment['status']}.")  # type: ignore[index]
    message_id = outbox.queue(professional_id=pid, template=template.key, params=params, recipient="client",
                              to_phone=client["phone"], client_id=str(client["id"]), locale=LOCALE,
                              appointment_id=str(appointment["id"]) if bound else None,  # type: ignore[index]
                              appointment_starts_at=appointment["starts_at"] if bound else None,  # type: ignore[index]
                              automatic=False)
    assert message_id is not None  # no dedupe key: a hand-sent message is never a duplicate
    return message_id


def send(user_id: str, data: MessageSend, now: dt.datetime | None = None) -> dict[str, Any]:
    """Queue free text (inside the 24 h window) or a manual template to the client; the queued message."""
    professional = caller.professional(user_id)
    pid = str(professional["id"])
    client = client_or_404(pid, data.client_id)
    with db.transaction():
        if data.body is not None:
            if not window(pid, str(client["id"]), now or clock.now())["open"]:
                raise ValidationFailed("The client has not written in the last 24 hours: WhatsApp only allows a "
                                       "template now.", code="outside_service_window",
                                       extra={"templates": _manual_templates()})
            message_id = outbox.queue_text(professional_id=pid, client_id=str(client["id"]),
                                           to_phone=client["phone"], body=data.body, automatic=False)
        else:
            message_id = _send_template(professional, client, data)
        row = store.conversation_message(pid, message_id)
    logger.info("whatsapp message queued by hand", extra={"message_id": message_id, "template": data.template})
    assert row is not None
    return view(row)
