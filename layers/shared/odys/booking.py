"""Public booking: a client books an offered slot, then views, cancels or reschedules it through a signed link.

    outcome = booking.book(BookingIn(slug="ana-psi", starts_at="2026-12-01T12:00:00Z",
                                     client={"name": "Bia", "phone": "11 98888-7777"}), idempotency_key="k-1")
    outcome.status, outcome.body        # 201, {"appointment": {...}, "manageToken": "...", "pix": {...}}
    booking.show(outcome.body["manageToken"])                               # {"appointment": {...}, "pix"?: ...}
    booking.change(token, BookingChange(action="cancel"))                   # {"appointment": {...}, "manageToken"}
    booking.change(token, BookingChange(action="reschedule", starts_at="2026-12-02T12:00:00Z"))

Booking, in one transaction of the professional's unit of work (:func:`odys.agenda.for_booking`) and two round
trips to the database: the professional's row lock with everything the booking decides on (read after the lock,
so exact against concurrent bookings), then every write with the COMMIT. Check that ``startsAt`` is an offered,
free slot (:func:`odys.slots.offered_slot`, :func:`odys.slots.require_free`), find the client by phone or create
it (plan limit on clients, only for a new one), check the monthly appointment limit, insert the appointment at the
professional's ``session_price`` (``confirmed`` when ``auto_confirm``, else ``pending``) with the client's own
``notes`` kept apart from the professional's private notes, give it a PIX txid when the professional has a PIX
key and a price, notify the professional in-app, queue the WhatsApp messages and record the appointment under the
Idempotency-Key (if any). The database has the last word on overlaps (exclusion constraint -> 409
``slot_taken``).

Privacy: a public answer reveals nothing on file. The booking answer echoes the name the client submitted, the
same whether or not the phone was already a client (an existing client keeps what the professional has on file);
the link shows the booking, the professional's public details and the client's own notes — never the
professional's notes nor the client record.

Idempotency-Key: scoped to the professional being booked, valid for :data:`odys.retention.IDEMPOTENCY_KEY_TTL`,
and storing only the appointment it created (the replay renders the answer again).

Errors: 404 ``not_found`` (unknown slug), 422 ``slot_unavailable`` (not an offered time), 409 ``slot_taken``,
402 ``plan_limit_reached``, 422 ``idempotency_key_reused`` (same key, different request), 400
``invalid_idempotency_key``. Links: 404 ``booking_not_found`` for an unknown, malformed, forged or expired token;
409 ``cancellation_window_passed``, ``already_cancelled``, ``booking_closed`` (completed / no-show).

Idempotency stores successful bookings only: a request that failed (409, 402, 422) left nothing behind, so its
retry is evaluated again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterator
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import Field, model_validator

from odys import agenda, appointment_pix, booking_tokens, clock, pix, ratelimit, retention, snapstart
from odys.errors import BadRequest, ClientExists, Conflict, NotFound, SlotTaken, ValidationFailed
from odys.fields import ApiModel, Email, Instant, Name, Phone
from odys.log import logger
from odys.store import booking as store
from odys.store import domain_errors
from odys.store.appointments import ACTIVE

# The slot grid, the messages and the notices serve a booking and a change, not the link's view (the page a client
# opens most); the PSP client (odys.pix_charges) serves only professionals with a payment connection: imported by
# the use cases that need them, and in a SnapStart snapshot all the same.
snapstart.preload("odys.slots", "odys.messaging", "odys.notifications", "odys.pix_charges")

UTC = dt.timezone.utc
_KEY_RE = re.compile(r"[\x21-\x7e]{1,255}")


class BookingClient(ApiModel):
    name: Name
    phone: Phone
    email: Email | None = None


class BookingIn(ApiModel):
    """``POST /api/booking`` body."""

    slug: str = Field(min_length=1, max_length=60)
    starts_at: Instant
    client: BookingClient
    notes: str | None = Field(default=None, max_length=2000)


class BookingChange(ApiModel):
    """``PATCH /api/booking/{token}`` body: ``{"action": "cancel"}`` or ``{"action": "reschedule", "startsAt"}``."""

    action: Literal["cancel", "reschedule"]
    starts_at: Instant | None = None

    @model_validator(mode="after")
    def _starts_at_iff_reschedule(self) -> "BookingChange":
        if self.action == "reschedule" and self.starts_at is None:
            raise ValueError("reschedule needs startsAt")
        if self.action == "cancel" and self.starts_at is not None:
            raise ValueError("cancel takes no startsAt")
        return self


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What a booking request answers: a status and a JSON body; ``replayed`` when it came from the key store."""

    status: int
    body: dict[str, Any]
    replayed: bool = False
    professional_id: str = ""
    pix_connected: bool = False  # the professional has a PSP connection: the dynamic charge replaces the code


# --- views ----------------------------------------------------------------------------------------------------

def _iso(value: dt.datetime) -> str:
    return value.astimezone(UTC).isoformat()


def _deadline(row: dict[str, Any]) -> dt.datetime:
    """The last instant the client may cancel or reschedule through the link."""
    return row["starts_at"] - dt.timedelta(hours=row["cancellation_notice_hours"])


def appointment_view(row: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
    """What the client sees of a booking (a :func:`odys.store.booking.for_manage` row). JSON-native values only.

    ``notes`` is the client's own text from booking time; nothing the professional wrote or has on file.
    """
    tz = ZoneInfo(row["timezone"])
    deadline = _deadline(row)
    return {
        "id": str(row["id"]), "status": row["status"], "paymentStatus": row["payment_status"],
        "startsAt": _iso(row["starts_at"]), "endsAt": _iso(row["ends_at"]),
        "localStart": row["starts_at"].astimezone(tz).isoformat(), "timezone": row["timezone"],
        "price": row["price"], "notes": row["client_notes"],
        "professional": {"slug": row["slug"], "name": row["professional_name"], "profession": row["profession"]},
        "cancellationNoticeHours": row["cancellation_notice_hours"], "changeableUntil": _iso(deadline),
        "canChange": row["status"] in ACTIVE and now <= deadline,
    }


def pix_view(row: dict[str, Any]) -> dict[str, Any] | None:
    """``{payload, qrSvg, txid, amountCents, kind: "static"}`` when the booking can be paid by PIX, else None."""
    if not (row["pix_key"] and row["pix_txid"] and row["price"] > 0):
        return None
    return {**appointment_pix.br_code(row, row["pix_txid"], row["price"]), "kind": "static"}


def _payment(professional_id: str, appointment_id: str, static_code: dict[str, Any] | None,
             connected: bool) -> dict[str, Any] | None:
    """The booking's ``pix``: its dynamic charge when the professional has a payment connection
    (:func:`odys.pix_charges.answer`, called after the transaction: the PSP never inside one), else
    ``static_code``. The PSP client is imported only for a connected professional (most have none)."""
    if not connected:
        return static_code
    from odys import pix_charges

    return pix_charges.answer(professional_id, appointment_id, static_code)


def _with_charge(outcome: Outcome) -> Outcome:
    appointment = outcome.body["appointment"]
    if appointment["price"] > 0:
        payment = _payment(outcome.professional_id, appointment["id"], outcome.body.get("pix"), outcome.pix_connected)
        if payment:
            outcome.body["pix"] = payment
    return outcome


def _local_label(moment: dt.datetime, timezone: str) -> str:
    return moment.astimezone(ZoneInfo(timezone)).strftime("%d/%m/%Y %H:%M")


def _initial_status(professional: dict[str, Any]) -> str:
    """The status of a booking made (or moved) by the client: confirmed unless the professional confirms by hand."""
    return "confirmed" if professional["auto_confirm"] else "pending"


def _link_not_found() -> NotFound:
    return NotFound("booking", detail="This booking link is invalid or has expired.", code="booking_not_found")


# --- booking --------------------------------------------------------------------------------------------------

def _check_key(key: str | None) -> str | None:
    if key is None:
        return None
    if not _KEY_RE.fullmatch(key):
        raise BadRequest("Idempotency-Key must be 1 to 255 visible ASCII characters (a UUID is ideal).",
                         code="invalid_idempotency_key")
    return key


def request_hash(data: BookingIn) -> str:
    """sha256 of the normalised request: the same booking written differently (phone format, offset) matches."""
    canonical = {"slug": data.slug.strip().lower(), "startsAt": _iso(data.starts_at),
                 "client": data.client.model_dump(), "notes": data.notes}
    return hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()


def _booked(row: dict[str, Any], data: BookingIn, now: dt.datetime) -> Outcome:
    """The 201 answer for the appointment ``row`` (a ``for_manage`` row): what was submitted, never what is on file."""
    body: dict[str, Any] = {"appointment": {**appointment_view(row, now), "client": {"name": data.client.name}},
                            "manageToken": booking_tokens.for_appointment(row)}
    payment = pix_view(row)
    if payment:
        body["pix"] = payment
    return Outcome(201, body, professional_id=str(row["professional_id"]), pix_connected=row["pix_connected"])


def _replay(work: agenda.Agenda, stored: dict[str, Any], digest: str, data: BookingIn,
            now: dt.datetime) -> Outcome | None:
    """The answer again for a live key (``stored``: its row); 422 when it was used for another request."""
    if stored["request_hash"] != digest:
        raise ValidationFailed("This Idempotency-Key was already used for a different booking request. Use a new "
                               "key for a new request.", code="idempotency_key_reused")
    appointment = store.for_manage(str(stored["appointment_id"])) if stored["appointment_id"] else None
    if appointment is None:  # deleted meanwhile (the key row goes with it)
        return None
    return dataclasses.replace(_booked(appointment, data, now), replayed=True)


@contextlib.contextmanager
def _refusals() -> Iterator[None]:
    """The database's last word at COMMIT: an overlap is 409 ``slot_taken``, a phone taken meanwhile ClientExists."""
    from odys.slots import slot_taken

    try:
        with domain_errors():
            yield
    except SlotTaken:
        raise slot_taken() from None


def _windows(context: dict[str, Any]) -> list[tuple[int, dt.time, dt.time]]:
    return [(day, dt.time.fromisoformat(start), dt.time.fromisoformat(end)) for day, start, end in context["windows"]]


def _create(work: agenda.Agenda, context: dict[str, Any], data: BookingIn, now: dt.datetime) -> dict[str, Any]:
    """The booking itself, inside the professional's unit of work, from what :func:`agenda.for_booking` read under
    the lock; every write goes with the COMMIT. Returns the ``for_manage`` row (with ``client``)."""
    from odys.notifications import notify_professional
    from odys.slots import offered_slot, require_free

    professional = work.professional
    slot = require_free(professional, offered_slot(professional, _windows(context), data.starts_at, now),
                        context["busy"])
    # An existing client keeps the name and e-mail the professional has on file: a public form may not edit them.
    client = context["client"] or work.add_client_at_commit(data.client.name, data.client.phone, data.client.email,
                                                            now, count=context["client_count"])
    status = _initial_status(professional)
    price = professional["session_price"]
    appointment = work.add_appointment_at_commit(
        str(client["id"]), slot.starts_at, slot.ends_at, status=status, price=price, now=now,
        month_count=context["month_count"], client_notes=data.notes,
        pix_txid=pix.new_txid() if professional["pix_key"] and price > 0 else None)
    notify_professional(work.id, "booking_created", "Novo agendamento",
                        f"{client['name']} agendou {_local_label(slot.starts_at, professional['timezone'])} "
                        f"pela sua página.", client_id=str(client["id"]), at_commit=True)
    return {**appointment, "slug": professional["slug"], "professional_name": professional["name"],
            "profession": professional["profession"], "timezone": professional["timezone"],
            "cancellation_notice_hours": professional["cancellation_notice_hours"],
            "pix_key": professional["pix_key"], "city": professional["city"],
            "pix_connected": context["pix_connected"], "client": client}


def book(data: BookingIn, idempotency_key: str | None = None, now: dt.datetime | None = None) -> Outcome:
    """Book ``data.starts_at`` with the professional at ``data.slug`` (see the module docstring for the rules).

    Two round trips to the database: the professional's lock with everything the booking decides on, then every
    write with the COMMIT. With an ``idempotency_key`` the appointment is recorded under the key in the same
    transaction: a retry with the same key and body gets the answer again (``replayed``); a concurrent twin waits
    on the professional's row lock and then gets it too; the same key with another body is refused (422). Keys
    belong to the professional being booked and expire.
    """
    key = _check_key(idempotency_key)
    now = now or clock.now()
    digest = request_hash(data)
    slug = data.slug.strip().lower()
    for attempt in (1, 2):
        try:
            return _with_charge(_book_locked(slug, data, key, digest, now))
        except ClientExists:  # the phone became a client (an edit takes no lock) after it was looked up: again
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _book_locked(slug: str, data: BookingIn, key: str | None, digest: str, now: dt.datetime) -> Outcome:
    """The booking in the professional's unit of work (see :func:`book`)."""
    from odys import messaging

    with _refusals(), agenda.for_booking(slug, data.starts_at, data.client.phone, key, now) as (work, context):
        if key and context["idempotency"] and (stored := _replay(work, context["idempotency"], digest, data, now)):
            return stored
        # Under the professional's lock, so concurrent bookings see each other's count: 429 at the ceiling.
        ratelimit.require_room(ratelimit.PROFESSIONAL_BOOKINGS, work.id)
        row = _create(work, context, data, now)
        if key:
            store.idempotency_record(work.id, key, digest, str(row["id"]), now, now + retention.IDEMPOTENCY_KEY_TTL)
        outcome = _booked(row, data, now)
        messaging.booking_created(work.professional, row["client"], row, manage_token=outcome.body["manageToken"],
                                  pix_code=(outcome.body.get("pix") or {}).get("payload"))
        # Counted while still holding the lock: the booking is made (only the COMMIT is left), and the next booker
        # waiting on the lock must see it. A COMMIT that then fails over-counts one: harmless for a ceiling.
        ratelimit.record(ratelimit.PROFESSIONAL_BOOKINGS, work.id)
    logger.info("booking created", extra={"appointment_id": str(row["id"]), "professional_id": work.id,
                                          "status": row["status"]})  # committed: its writes went with the COMMIT
    return outcome


# --- the signed link ------------------------------------------------------------------------------------------

def _load(token: str, now: dt.datetime) -> dict[str, Any]:
    appointment_id = booking_tokens.verify(token, now)
    row = store.for_manage(appointment_id) if appointment_id else None
    if row is None:
        raise _link_not_found()
    return row


def show(token: str, now: dt.datetime | None = None) -> dict[str, Any]:
    """The booking behind a link: ``{appointment, pix?}`` (PIX while it is active and unpaid)."""
    now = now or clock.now()
    row = _load(token, now)
    body: dict[str, Any] = {"appointment": appointment_view(row, now)}
    payment = None
    if row["status"] in ACTIVE and row["payment_status"] in ("unpaid", "pending"):
        payment = _payment(str(row["professional_id"]), str(row["id"]), pix_view(row), row["pix_connected"])
    if payment:
        body["pix"] = payment
    return body


def _ensure_changeable(row: dict[str, Any], now: dt.datetime) -> None:
    if row["status"] == "cancelled":
        raise Conflict("already_cancelled", "This booking is already cancelled.")
    if row["status"] not in ACTIVE:
        raise Conflict("booking_closed", f"This booking is {row['status'].replace('_', '-')}; it can no longer "
                       "be changed.")
    hours = row["cancellation_notice_hours"]
    deadline = _deadline(row)
    if now > deadline:
        raise Conflict(
            "cancellation_window_passed",
            f"{row['professional_name']} accepts cancellations and changes up to {hours} hours before the session "
            f"(cancellation_notice_hours = {hours}). This session starts {_local_label(row['starts_at'], row['timezone'])}"
            f" ({row['timezone']}), so the deadline was {_local_label(deadline, row['timezone'])}. Please contact "
            "the professional directly.",
            extra={"cancellationNoticeHours": hours, "changeableUntil": _iso(deadline)})


def _reschedule(row: dict[str, Any], professional: dict[str, Any], starts_at: dt.datetime,
                now: dt.datetime) -> dict[str, Any]:
    """The column changes that move the booking to the offered slot at ``starts_at`` (its status is kept), from
    what :func:`agenda.for_link_change` read under the lock."""
    from odys.slots import offered_slot, require_free

    slot = require_free(professional, offered_slot(professional, _windows(row), starts_at, now), row["busy"])
    return {"starts_at": slot.starts_at, "ends_at": slot.ends_at}


def change(token: str, data: BookingChange, now: dt.datetime | None = None) -> dict[str, Any]:
    """Cancel or reschedule through the link, while ``now <= starts_at - cancellation_notice_hours``.

    Returns ``{appointment, manageToken}`` (a fresh token: a rescheduled booking's link lives until its new end
    + 30 days). A reschedule targets an offered slot and moves the appointment in one UPDATE, keeping its status,
    within the plan's monthly limit of the new month (402); if the new time is taken the old one is kept.
    """
    now = now or clock.now()
    found = _load(token, now)
    return change_appointment(str(found["professional_id"]), str(found["id"]), data, now)


def change_appointment(professional_id: str, appointment_id: str, data: BookingChange,
                       now: dt.datetime) -> dict[str, Any]:
    """:func:`change` of an appointment whose client is already authenticated otherwise (e.g. a verified
    WhatsApp quick-reply payload, :mod:`odys.whatsapp_webhook`): the same rules, errors and notice."""
    from odys import messaging
    from odys.notifications import notify_professional
    from odys.slots import slot_taken

    with agenda.for_link_change(professional_id, appointment_id, data.starts_at or now) as (work, row):
        professional = work.professional  # the professional's lock first, as every writer
        if row is None:  # deleted meanwhile
            raise _link_not_found()
        _ensure_changeable(row, now)
        if data.action == "cancel":
            changes: dict[str, Any] = {"status": "cancelled"}
        else:
            assert data.starts_at is not None
            changes = _reschedule(row, professional, data.starts_at, now)
        try:
            written = work.change_appointment(row, changes, now, month_count=row["month_count"])
        except SlotTaken:
            raise slot_taken() from None
        assert written is not None
        updated = {**row, **written}
        was = _local_label(row["starts_at"], row["timezone"])
        client = {"id": row["client_id"], "name": row["client_name"], "phone": row["client_phone"]}
        if data.action == "cancel":
            notify_professional(work.id, "booking_cancelled", "Agendamento cancelado",
                                f"{row['client_name']} cancelou {was}.", client_id=str(row["client_id"]),
                                at_commit=True)
            messaging.cancelled_by_client(professional, client, updated)
        else:
            messaging.rescheduled(professional, client, updated, old_starts_at=row["starts_at"],
                                  manage_token=booking_tokens.for_appointment(updated))
            notify_professional(work.id, "booking_rescheduled", "Agendamento remarcado",
                                f"{row['client_name']} remarcou {was} para "
                                f"{_local_label(updated['starts_at'], row['timezone'])}.",
                                client_id=str(row["client_id"]), at_commit=True)
    if row["pix_connected"]:
        from odys import pix_charges  # a connected professional's only: see _payment

        pix_charges.sync(professional_id, appointment_id)  # a cancelled booking's charge is removed at the PSP
    logger.info("booking changed", extra={"appointment_id": appointment_id, "action": data.action})
    return {"appointment": appointment_view(updated, now), "manageToken": booking_tokens.for_appointment(updated)}
