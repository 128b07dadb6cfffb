"""Use cases of the professional's agenda: list, create manually, read, change (status, payment, time), delete.

    appointments.list_page(user_id, AppointmentQuery.model_validate({"from": "2026-11-01", "to": "2026-11-30"}))
    # -> {"appointments": [{"id", "client": {...}, "startsAt", "endsAt", "status", ...}], "nextCursor": None}
    appointments.create(user_id, AppointmentCreate(client_id=cid, starts_at=...))   # 409 slot_taken, 402 limit
    appointments.update(user_id, appointment_id, AppointmentUpdate(status="completed", payment_status="paid"))
    appointments.delete(user_id, appointment_id)

Rules:

- **Overlap** is decided by the database (exclusion constraint on active appointments): a manual creation, a
  reschedule or a re-activation that collides answers 409 ``slot_taken``.
- **Plan limits**: every write goes through :mod:`odys.agenda` (the professional's unit of work), which checks
  the monthly limit whenever an appointment starts counting in a month: creation, re-activation, a move into
  another month (402).
- **Status transitions** follow :data:`TRANSITIONS`; setting the current status again is a no-op. Anything
  else is 409 ``invalid_status_transition`` listing the allowed targets.
- **Payment status** may change freely, except that ``refunded`` requires a payment (``paid``) first.
- **Rescheduling** (``startsAt``, ``endsAt`` or ``durationMinutes``) applies only to appointments that are (or
  become, in the same request) pending or confirmed; it clears ``reminderSentAt`` so the reminder goes out again.
- **Listing** is ordered by ``startsAt`` (then id) and paginated by an opaque keyset ``cursor``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, PlainValidator, WithJsonSchema, model_validator

from odys import agenda, caller, clock, pagination, plans, snapstart
from odys.appointment_views import MAX_DURATION_MINUTES, Minutes, Status, local_instant, view
from odys.caller import client_or_404
from odys.errors import Conflict, NotFound, ValidationFailed
from odys.fields import ApiModel, Cents, Instant, reject_nulls
from odys.log import logger
from odys.store import appointments as store
from odys.store.appointments import ACTIVE

# What only a change or a deletion uses (the messages it queues, the PIX charge it revises), imported there: the list
# and the creation do not load them; under SnapStart they are in the snapshot all the same.
snapstart.preload("odys.messaging", "odys.booking_tokens", "odys.pix_charges")

UTC = dt.timezone.utc
PaymentStatus = Literal["unpaid", "pending", "paid", "refunded", "waived"]

# Status changes a professional may make (same status = no-op). Cancelled can be re-activated when the slot is
# still free (the database decides) and the plan has room; completed and no_show may only correct each other.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "pending": ("confirmed", "completed", "cancelled", "no_show"),
    "confirmed": ("completed", "cancelled", "no_show"),
    "cancelled": ("pending", "confirmed"),
    "completed": ("no_show",),
    "no_show": ("completed",),
}

Notes = Annotated[str, Field(max_length=2000)]


def _date_or_instant(value: object) -> dt.date:
    """A query bound: ``YYYY-MM-DD`` (a local date) or an ISO 8601 date-time with an offset (an instant)."""
    if not isinstance(value, str):
        raise ValueError("expected YYYY-MM-DD or an ISO 8601 date-time with offset")
    text = value.strip()
    if len(text) > 10:  # an unencoded "+" in a query string arrives as a space: 10:00:00 03:00 -> 10:00:00+03:00
        text = text.replace(" ", "+")
    try:
        if len(text) == 10:
            return clock.supported(dt.date.fromisoformat(text))
        instant = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError("expected YYYY-MM-DD or an ISO 8601 date-time with offset, e.g. 2026-11-02T09:00:00-03:00") \
            from None
    if instant.tzinfo is None:
        raise ValueError("a date-time needs an offset (Z or -03:00)")
    return clock.supported(instant).astimezone(UTC)


def _status_list(value: object) -> object:
    """``status=pending,confirmed`` (repeated parameters arrive joined by commas) -> ["pending", "confirmed"]."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


DateOrInstant = Annotated[dt.date, PlainValidator(_date_or_instant), WithJsonSchema({
    "type": "string", "examples": ["2026-12-01", "2026-12-01T09:00:00-03:00"],
    "description": "a local date (YYYY-MM-DD, the professional's time zone) or an instant with offset"})]


class AppointmentQuery(ApiModel):
    """``GET /api/appointments`` query: ``from``/``to`` (dates are local and ``to`` includes its whole day;
    date-times are instants and ``to`` is exclusive), ``status`` (one or several, comma-separated),
    ``clientId``, ``limit`` (1-200, default 50) and ``cursor`` (the ``nextCursor`` of the previous page)."""

    from_: DateOrInstant | None = Field(default=None, alias="from")
    to: DateOrInstant | None = None
    status: Annotated[list[Status], BeforeValidator(_status_list), Field(min_length=1, max_length=5)] | None = None
    client_id: uuid.UUID | None = None
    limit: int = Field(default=pagination.DEFAULT_LIMIT, ge=1, le=pagination.MAX_LIMIT)
    cursor: str | None = Field(default=None, max_length=500)


class _Timing(ApiModel):
    @model_validator(mode="after")
    def _one_end(self) -> "_Timing":
        if getattr(self, "ends_at", None) is not None and getattr(self, "duration_minutes", None) is not None:
            raise ValueError("send endsAt or durationMinutes, not both")
        return self


class AppointmentCreate(_Timing):
    """``POST /api/appointments``: duration defaults to the professional's session duration, price to their
    session price, status to ``confirmed``."""

    client_id: uuid.UUID
    starts_at: Instant
    ends_at: Instant | None = None
    duration_minutes: Minutes | None = None
    price: Cents | None = None
    status: Literal["pending", "confirmed"] = "confirmed"
    notes: Notes | None = None


class AppointmentUpdate(_Timing):
    """``PATCH /api/appointments/{id}``: any subset; ``notes: null`` clears the notes."""

    status: Status | None = None
    payment_status: PaymentStatus | None = None
    starts_at: Instant | None = None
    ends_at: Instant | None = None
    duration_minutes: Minutes | None = None
    price: Cents | None = None
    notes: Notes | None = None


NOT_NULL = frozenset({"status", "payment_status", "starts_at", "ends_at", "duration_minutes", "price"})


# --- views ---------------------------------------------------------------------------------------------------

def _detail_view(professional_id: str, appointment_id: str) -> dict[str, Any]:
    row = store.detail(professional_id, appointment_id)
    if row is None:
        raise NotFound("appointment")
    return view(row)


# --- list ------------------------------------------------------------------------------------------------------

def _bound(value: dt.date | None, timezone: str, *, end: bool) -> dt.datetime | None:
    if value is None or isinstance(value, dt.datetime):
        return value
    return local_instant(value + dt.timedelta(days=1) if end else value, dt.time(0), timezone)


def _range(query: AppointmentQuery, timezone: str) -> tuple[dt.datetime | None, dt.datetime | None]:
    starts_from, starts_before = _bound(query.from_, timezone, end=False), _bound(query.to, timezone, end=True)
    if starts_from is not None and starts_before is not None and starts_from >= starts_before:
        raise ValidationFailed("The range is empty: to must be after from.", errors=[
            {"field": "to", "message": "must be after from (a date includes its whole day)", "code": "invalid_range"}])
    return starts_from, starts_before


def list_page(user_id: str, query: AppointmentQuery) -> dict[str, Any]:
    """A page of the professional's appointments in start order, filtered by range, status and client.

    Reads only: the recurring series' horizons move in the daily housekeeping (``odys.housekeeping``).
    """
    professional = caller.professional(user_id)
    pid = str(professional["id"])
    starts_from, starts_before = _range(query, professional["timezone"])
    rows = store.page_for_professional(
        pid, limit=query.limit + 1, starts_from=starts_from, starts_before=starts_before, statuses=query.status,
        client_id=str(query.client_id) if query.client_id else None,
        after=pagination.keyset_after("appointments", query.cursor))
    items, cursor = pagination.keyset_page("appointments", rows, query.limit, at="starts_at")
    return {"appointments": [view(r) for r in items], "nextCursor": cursor}


def get(user_id: str, appointment_id: str) -> dict[str, Any]:
    return _detail_view(str(caller.professional(user_id)["id"]), appointment_id)


# --- create ----------------------------------------------------------------------------------------------------

def _end(starts_at: dt.datetime, ends_at: dt.datetime | None, duration_minutes: int | None,
         default_minutes: int) -> dt.datetime:
    """The end instant from ``endsAt`` or ``durationMinutes`` (else ``default_minutes``), validated."""
    end = ends_at.astimezone(UTC) if ends_at is not None else \
        starts_at + dt.timedelta(minutes=duration_minutes or default_minutes)
    if end <= starts_at:
        raise ValidationFailed("An appointment must end after it starts.", errors=[
            {"field": "endsAt", "message": "must be after startsAt", "code": "invalid_range"}])
    if end - starts_at > dt.timedelta(minutes=MAX_DURATION_MINUTES):
        raise ValidationFailed("An appointment may last at most 8 hours.", errors=[
            {"field": "endsAt", "message": f"at most {MAX_DURATION_MINUTES} minutes after startsAt",
             "code": "too_long"}])
    return end


def create(user_id: str, data: AppointmentCreate, now: dt.datetime | None = None) -> dict[str, Any]:
    """Create an appointment by hand: plan limit (402) and overlap (409) checked in one transaction."""
    now = now or clock.now()
    with agenda.for_user(user_id) as work:
        professional = work.professional
        client = client_or_404(work.id, data.client_id)
        starts_at = data.starts_at.astimezone(UTC)
        ends_at = _end(starts_at, data.ends_at, data.duration_minutes, professional["session_duration_minutes"])
        price = data.price if data.price is not None else professional["session_price"]
        row = work.add_appointment(str(client["id"]), starts_at, ends_at, status=data.status, price=price,
                                   notes=data.notes, now=now)  # 404 if the client is deleted meanwhile
    assert row is not None
    logger.info("appointment created", extra={"appointment_id": str(row["id"]), "source": "manual"})
    return _detail_view(work.id, str(row["id"]))


# --- update ----------------------------------------------------------------------------------------------------

def check_transition(current_status: str, target: str) -> None:
    """409 ``invalid_status_transition`` unless ``current_status -> target`` is in :data:`TRANSITIONS`.

    >>> check_transition("confirmed", "completed")   # allowed: returns None
    """
    if target == current_status or target in TRANSITIONS.get(current_status, ()):
        return
    allowed = list(TRANSITIONS.get(current_status, ()))
    raise Conflict("invalid_status_transition",
                   f"An appointment that is {current_status} cannot become {target}; allowed: "
                   f"{', '.join(allowed) or 'none'}.",
                   extra={"currentStatus": current_status, "requestedStatus": target, "allowedStatuses": allowed})


def check_payment_transition(current_status: str, target: str) -> None:
    """``refunded`` needs a payment first (``paid``); every other payment status may be set freely."""
    if target == "refunded" and current_status not in ("paid", "refunded"):
        raise Conflict("invalid_payment_transition", "Only a paid appointment can be refunded.",
                       extra={"currentPaymentStatus": current_status, "requestedPaymentStatus": target})


def _new_times(row: dict[str, Any], changes: dict[str, Any]) -> tuple[dt.datetime, dt.datetime] | None:
    """(starts_at, ends_at) after the change, or None when the request does not move the appointment."""
    if not {"starts_at", "ends_at", "duration_minutes"} & set(changes):
        return None
    starts_at = changes["starts_at"].astimezone(UTC) if "starts_at" in changes else row["starts_at"]
    keep_minutes = int((row["ends_at"] - row["starts_at"]).total_seconds() // 60)
    ends_at = _end(starts_at, changes.get("ends_at"), changes.get("duration_minutes"), keep_minutes)
    return starts_at, ends_at


def _column_changes(row: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """Validate the request against the current row; the column values to write."""
    columns: dict[str, Any] = {k: changes[k] for k in ("status", "payment_status", "price", "notes") if k in changes}
    if "status" in changes:
        check_transition(row["status"], changes["status"])
    if "payment_status" in changes:
        check_payment_transition(row["payment_status"], changes["payment_status"])
    times = _new_times(row, changes)
    if times is not None:
        status = columns.get("status", row["status"])
        if status not in ACTIVE:
            raise Conflict("not_reschedulable", f"Only pending or confirmed appointments can be moved; this one is "
                           f"{status}.")
        if times != (row["starts_at"], row["ends_at"]):
            columns.update(starts_at=times[0], ends_at=times[1])
    return columns


def update(user_id: str, appointment_id: str, data: AppointmentUpdate,
           now: dt.datetime | None = None) -> dict[str, Any]:
    """Change status, payment status, time, price or notes, all at once or not at all."""
    now = now or clock.now()
    changes = data.model_dump(include=data.model_fields_set)
    reject_nulls(changes, NOT_NULL)
    with agenda.for_user_appointment(user_id, appointment_id) as (work, row):  # 404 when not theirs
        columns = _column_changes(row, changes)
        after = {**row, **work.change_appointment(row, columns, now)}  # with the client's name and phone still
        if columns:
            _tell_the_client(work, row, after, now)
    if columns:
        logger.info("appointment updated", extra={"appointment_id": appointment_id, "fields": sorted(columns)})
        if row["open_pix_charge"]:  # after the commit: cancelled -> charge removed, price -> revised
            from odys import pix_charges

            pix_charges.sync(work.id, appointment_id)
    return view(after)


def _tell_the_client(work: agenda.Agenda, before: dict[str, Any], after: dict[str, Any], now: dt.datetime) -> None:
    """Queue the WhatsApp message a professional's change means for the client (in the same transaction); ``after``
    carries the client's ``client_name`` and ``client_phone``."""
    from odys import booking_tokens, messaging

    client = {"id": after["client_id"], "name": after["client_name"], "phone": after["client_phone"]}
    professional = work.professional
    status, was = after["status"], before["status"]
    if status == "cancelled" and was in ACTIVE:
        messaging.cancelled_by_professional(professional, client, after)
    elif status == "no_show" and was != "no_show":
        messaging.no_show(professional, client, after)
    elif status == "completed" and was != "completed" and plans.has_feature(
            plans.effective_plan(professional["plan"], professional["trial_ends_at"], now), "reviews"):
        messaging.review_request(professional, client, after, manage_token=booking_tokens.for_appointment(after))
    elif status in ACTIVE and after["starts_at"] != before["starts_at"]:
        messaging.rescheduled(professional, client, after, old_starts_at=before["starts_at"],
                              manage_token=booking_tokens.for_appointment(after))
    if after["payment_status"] == "paid" and before["payment_status"] != "paid":
        messaging.payment_confirmed(professional, client, after)


def delete(user_id: str, appointment_id: str) -> None:
    """Delete the appointment for good (to keep a record, PATCH its status to ``cancelled`` instead)."""
    from odys import pix_charges

    pid = str(caller.professional(user_id)["id"])
    charge = pix_charges.before_delete(pid, appointment_id)  # removed at the PSP after the deletion
    if not store.delete_one(pid, appointment_id):
        raise NotFound("appointment")
    pix_charges.remove(pid, charge)
    logger.info("appointment deleted", extra={"appointment_id": appointment_id})
