"""The events that send a WhatsApp message: which template, to whom, with which parameters and dedupe key.

    with agenda.for_professional(pid) as work:
        row = ...                                               # the booking, in this transaction
        messaging.booking_created(work.professional, client, row, manage_token=token, pix_code=code)
    # committed: both messages are in the outbox and go to SQS; rolled back: nothing is sent

Each function queues through :mod:`odys.outbox` **inside the caller's transaction**, so a message exists exactly
when the event that causes it committed; inside one, the row is written with its COMMIT (no round trip of its
own: nobody here reads the id back). Dates and times are rendered in the professional's time zone (the
clients of a practice book in it; a client has no zone of their own on file). Messages about one appointment carry
it (``appointment_id`` and the start they were written for): the sender re-reads it at send time, so a cancelled or
moved appointment gets no stale message. Whether a message may go out at all (plan, WhatsApp switched off, the
client's opt-out, the professional's override) is decided by the sender, visibly, not here.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from odys import links, message_templates, outbox, plans
from odys.message_templates import format_datetime, format_money


def _plan_label(plan: str) -> str:
    return plans.PLANS[plan].label if plan in plans.PLANS else plan  # type: ignore[index]


def _change(appointment: dict[str, Any]) -> str:
    """What identifies one change of an appointment (its ``updated_at``): a dedupe key per change, so moving back
    to an earlier time, or cancelling again after a reinstatement, is told again — and a retried request is not."""
    return str(int(appointment["updated_at"].timestamp() * 1_000_000))


def _when(professional: dict[str, Any], instant: dt.datetime) -> str:
    return format_datetime(instant, professional["timezone"], message_templates.DEFAULT_LOCALE)


def _to_client(professional: dict[str, Any], client: dict[str, Any], template: str, params: dict[str, str], *,
               appointment: dict[str, Any] | None = None, dedupe_key: str | None = None) -> str | None:
    return outbox.queue(
        professional_id=str(professional["id"]), client_id=str(client["id"]), recipient="client",
        to_phone=client["phone"], template=template,
        params={"client_name": client["name"], "professional_name": professional["name"], **params},
        appointment_id=str(appointment["id"]) if appointment else None,
        appointment_starts_at=appointment["starts_at"] if appointment else None, dedupe_key=dedupe_key,
        at_commit=True)


def _to_professional(professional: dict[str, Any], template: str, params: dict[str, str], *,
                     appointment: dict[str, Any] | None = None, client_id: str | None = None,
                     dedupe_key: str | None = None) -> str | None:
    return outbox.queue(
        professional_id=str(professional["id"]), client_id=client_id, recipient="professional",
        to_phone=professional["phone"], template=template,
        params={"professional_name": professional["name"], **params},
        appointment_id=str(appointment["id"]) if appointment else None,
        appointment_starts_at=appointment["starts_at"] if appointment else None, dedupe_key=dedupe_key,
        at_commit=True)


# --- booking and the agenda -----------------------------------------------------------------------------------

def booking_created(professional: dict[str, Any], client: dict[str, Any], appointment: dict[str, Any], *,
                    manage_token: str, pix_code: str | None = None) -> None:
    """The client's confirmation (with the manage link), the professional's notice, and the PIX request when the
    booking has a price and the professional a PIX key."""
    when = _when(professional, appointment["starts_at"])
    aid = str(appointment["id"])
    _to_client(professional, client, "msgBookingConfirmed",
               {"date_time": when, "manage_link": links.manage_link(manage_token)},
               appointment=appointment, dedupe_key=f"msgBookingConfirmed:{aid}")
    _to_professional(professional, "msgNewBookingForProfessional",
                     {"client_name": client["name"], "date_time": when, "client_phone": client["phone"]},
                     appointment=appointment, client_id=str(client["id"]),
                     dedupe_key=f"msgNewBookingForProfessional:{aid}")
    if pix_code and appointment["price"] > 0:
        _to_client(professional, client, "msgPixPaymentRequest",
                   {"date_time": when, "amount": format_money(appointment["price"]), "pix_code": pix_code},
                   appointment=appointment, dedupe_key=f"msgPixPaymentRequest:{aid}")


def cancelled_by_client(professional: dict[str, Any], client: dict[str, Any], appointment: dict[str, Any]) -> None:
    """Tell the professional the client cancelled ``appointment`` (the row as cancelled)."""
    _to_professional(professional, "msgBookingCancelledByClient",
                     {"client_name": client["name"], "date_time": _when(professional, appointment["starts_at"])},
                     appointment=appointment, client_id=str(client["id"]),
                     dedupe_key=f"msgBookingCancelledByClient:{appointment['id']}:{_change(appointment)}")


def cancelled_by_professional(professional: dict[str, Any], client: dict[str, Any],
                              appointment: dict[str, Any]) -> None:
    """Tell the client the professional cancelled, with the booking page to choose another time."""
    _to_client(professional, client, "msgBookingCancelledByProfessional",
               {"date_time": _when(professional, appointment["starts_at"]),
                "booking_link": links.booking_page(professional["slug"])},
               appointment=appointment,
               dedupe_key=f"msgBookingCancelledByProfessional:{appointment['id']}:{_change(appointment)}")


def rescheduled(professional: dict[str, Any], client: dict[str, Any], appointment: dict[str, Any], *,
                old_starts_at: dt.datetime, manage_token: str) -> None:
    """Tell the client the appointment's new time (once per new time)."""
    _to_client(professional, client, "msgBookingRescheduled",
               {"old_date_time": _when(professional, old_starts_at),
                "date_time": _when(professional, appointment["starts_at"]),
                "manage_link": links.manage_link(manage_token)},
               appointment=appointment, dedupe_key=f"msgBookingRescheduled:{appointment['id']}:{_change(appointment)}")


def payment_confirmed(professional: dict[str, Any], client: dict[str, Any], appointment: dict[str, Any]) -> None:
    _to_client(professional, client, "msgPaymentConfirmed",
               {"date_time": _when(professional, appointment["starts_at"]),
                "amount": format_money(appointment["price"])},
               appointment=appointment, dedupe_key=f"msgPaymentConfirmed:{appointment['id']}")


def no_show(professional: dict[str, Any], client: dict[str, Any], appointment: dict[str, Any]) -> None:
    _to_client(professional, client, "msgNoShowNotice",
               {"date_time": _when(professional, appointment["starts_at"]),
                "booking_link": links.booking_page(professional["slug"])},
               appointment=appointment, dedupe_key=f"msgNoShowNotice:{appointment['id']}")


def review_request(professional: dict[str, Any], client: dict[str, Any], appointment: dict[str, Any], *,
                   manage_token: str) -> None:
    _to_client(professional, client, "msgReviewRequest", {"review_link": links.review_link(manage_token)},
               appointment=appointment, dedupe_key=f"msgReviewRequest:{appointment['id']}")


def recurring_created(professional: dict[str, Any], client: dict[str, Any], schedule: dict[str, Any],
                      first_starts_at: dt.datetime) -> None:
    _to_client(professional, client, "msgRecurringScheduleCreated",
               {"weekly": message_templates.format_weekly(schedule["day_of_week"], schedule["start_time"],
                                                          interval_weeks=schedule["interval_weeks"]),
                "first_date_time": _when(professional, first_starts_at)},
               dedupe_key=f"msgRecurringScheduleCreated:{schedule['id']}")


# --- the professional's own account (sent on every plan) ------------------------------------------------------

def welcome(professional: dict[str, Any]) -> None:
    _to_professional(professional, "msgWelcomeProfessional", {"page_link": links.booking_page(professional["slug"])},
                     dedupe_key=f"msgWelcomeProfessional:{professional['id']}")


def subscription_activated(professional: dict[str, Any], plan: str, *, event_id: str) -> None:
    _to_professional(professional, "msgSubscriptionActivated", {"plan": _plan_label(plan)},
                     dedupe_key=f"msgSubscriptionActivated:{event_id}")


def subscription_cancelled(professional: dict[str, Any], plan: str, *, event_id: str) -> None:
    _to_professional(professional, "msgSubscriptionCancelled",
                     {"plan": _plan_label(plan), "billing_link": links.billing_page()},
                     dedupe_key=f"msgSubscriptionCancelled:{event_id}")


def plan_limit_reached(professional: dict[str, Any], *, limit: str, plan: str, month: str) -> None:
    """Once per professional, limit and month (the in-app notice has the same rhythm)."""
    _to_professional(professional, "msgPlanLimitReached",
                     {"limit": limit, "plan": _plan_label(plan), "billing_link": links.billing_page()},
                     dedupe_key=f"msgPlanLimitReached:{professional['id']}:{limit}:{month}")
