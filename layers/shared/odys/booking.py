"""Public booking: a client books an offered slot, then views, cancels or reschedules it through a signed link.

    outcome = booking.book(BookingIn(slug="ana-psi", starts_at="2026-12-01T12:00:00Z",
                                     client={"name": "Bia", "phone": "11 98888-7777"}), idempotency_key="k-1")
    outcome.status, outcome.body        # 201, {"appointment": {...}, "manageToken": "...", "pix": {...}}
    booking.show(outcome.body["manageToken"])                               # {"appointment": {...}, "pix"?: ...}
    booking.change(token, BookingChange(action="cancel"))                   # {"appointment": {...}, "manageToken"}
    booking.change(token, BookingChange(action="reschedule", starts_at="2026-12-02T12:00:00Z"))

Booking, in one transaction of the professional's unit of work (:mod:`odys.agenda`): claim the Idempotency-Key
row (if any), check that ``startsAt`` is an offered, free slot (:func:`odys.slots.require_free_slot`), find the
client by phone or create it (plan limit on clients, only for a new one), check the monthly appointment limit,
insert the appointment at the professional's ``session_price`` (``confirmed`` when ``auto_confirm``, else
``pending``) with the client's own ``notes`` kept apart from the professional's private notes, give it a PIX txid
when the professional has a PIX key and a price, notify the professional in-app and record the appointment under
the key. The database has the last word on overlaps (exclusion constraint -> 409 ``slot_taken``).

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

import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import Field, model_validator

from odys import agenda, appointment_pix, booking_tokens, clock, messaging, pix, pix_charges, ratelimit, retention
from odys.errors import BadRequest, Conflict, NotFound, SlotTaken, ValidationFailed
from odys.fields import ApiModel, Email, Instant, Name, Phone
from odys.log import logger
from odys.notifications import notify_professional
from odys.slots import require_free_slot, slot_taken
from odys.store import clients
from odys.store import booking as store
from odys.store.appointments import ACTIVE

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


@dataclass(frozen=True)
class Outcome:
    """What a booking request answers: a status and a JSON body; ``replayed`` when it came from the key store."""

    status: int
    body: dict[str, Any]
    replayed: bool = False


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
    """``{payload, qrSvg, txid, amountCents}`` when the booking can be paid by PIX, else None."""
    if not (row["pix_key"] and row["pix_txid"] and row["price"] > 0):
        return None
    return appointment_pix.br_code(row, row["pix_txid"], row["price"])


def _with_charge(professional_id: str, outcome: Outcome) -> Outcome:
    """The booking's ``pix`` as its dynamic charge when the professional has a payment connection
    (:mod:`odys.pix_charges`), after the transaction: the PSP is never called inside one. The static code
    stays otherwise (``kind: "static"``)."""
    appointment = outcome.body["appointment"]
    payment = pix_charges.answer(professional_id, appointment["id"], outcome.body.get("pix")) \
        if appointment["price"] > 0 else None
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
    return Outcome(201, body)


def _replay(professional_id: str, key: str, digest: str, data: BookingIn, now: dt.datetime) -> Outcome | None:
    row = store.idempotency_get(professional_id, key, now)
    if row is None or row["appointment_id"] is None:
        return None
    if row["request_hash"] != digest:
        raise ValidationFailed("This Idempotency-Key was already used for a different booking request. Use a new "
                               "key for a new request.", code="idempotency_key_reused")
    appointment = store.for_manage(str(row["appointment_id"]))
    if appointment is None:  # deleted meanwhile (the key row goes with it)
        return None
    return Outcome(201, _booked(appointment, data, now).body, replayed=True)


def _client_for(work: agenda.Agenda, data: BookingClient, now: dt.datetime) -> dict[str, Any]:
    """The professional's client with this phone; a new one (within the plan's client limit) otherwise.

    An existing client keeps the name and e-mail the professional has on file: a public form may not edit them.
    """
    existing = clients.by_phone(work.id, data.phone)
    if existing is not None:
        return existing
    created = work.add_client(data.name, data.phone, data.email, now)
    if created is None:  # its phone was given to another client meanwhile (a client edit takes no lock)
        created = clients.by_phone(work.id, data.phone)
    assert created is not None
    return created


def _create(work: agenda.Agenda, data: BookingIn, now: dt.datetime) -> dict[str, Any]:
    """The booking itself, inside the professional's unit of work; returns the ``for_manage`` row."""
    professional = work.professional
    slot = require_free_slot(professional, data.starts_at, now)
    client = _client_for(work, data.client, now)
    status = _initial_status(professional)
    price = professional["session_price"]
    try:
        appointment = work.add_appointment(str(client["id"]), slot.starts_at, slot.ends_at, status=status,
                                           price=price, client_notes=data.notes, now=now,
                                           pix_txid=pix.new_txid() if professional["pix_key"] and price > 0 else None)
    except SlotTaken:
        raise slot_taken() from None
    assert appointment is not None
    notify_professional(work.id, "booking_created", "Novo agendamento",
                        f"{client['name']} agendou {_local_label(slot.starts_at, professional['timezone'])} "
                        f"pela sua página.", client_id=str(client["id"]))
    logger.info("booking created", extra={"appointment_id": str(appointment["id"]), "professional_id": work.id,
                                          "status": status})
    return {**appointment, "slug": professional["slug"], "professional_name": professional["name"],
            "profession": professional["profession"], "timezone": professional["timezone"],
            "cancellation_notice_hours": professional["cancellation_notice_hours"],
            "pix_key": professional["pix_key"], "city": professional["city"], "client": client}


def book(data: BookingIn, idempotency_key: str | None = None, now: dt.datetime | None = None) -> Outcome:
    """Book ``data.starts_at`` with the professional at ``data.slug`` (see the module docstring for the rules).

    With an ``idempotency_key`` the appointment is recorded under the key in the same transaction: a retry with
    the same key and body gets the answer again (``replayed``); a concurrent twin waits for the first one (on the
    professional's row lock, and on the key's primary key in any case) and then gets it too; the same key with
    another body is refused (422). Keys belong to the professional being booked and expire.
    """
    key = _check_key(idempotency_key)
    now = now or clock.now()
    digest = request_hash(data)
    professional_id = store.professional_id(data.slug.strip().lower())
    if professional_id is None:
        raise NotFound("professional", detail=f"No professional at /{data.slug}.")
    if key and (stored := _replay(professional_id, key, digest, data, now)):
        return _with_charge(professional_id, stored)
    return _with_charge(professional_id, _book_locked(professional_id, data, key, digest, now))


def _book_locked(professional_id: str, data: BookingIn, key: str | None, digest: str, now: dt.datetime) -> Outcome:
    """The booking in the professional's unit of work (see :func:`book`)."""
    with agenda.for_professional(professional_id) as work:
        # Under the professional's lock, so concurrent bookings see each other's count: 429 at the ceiling.
        ratelimit.require_room(ratelimit.PROFESSIONAL_BOOKINGS, str(professional_id))
        if key and not store.idempotency_claim(professional_id, key, digest, now,
                                               now + retention.IDEMPOTENCY_KEY_TTL):
            stored = _replay(professional_id, key, digest, data, now)  # the twin request committed while we waited
            if stored is None:
                raise Conflict("idempotency_key_in_use", "A request with this Idempotency-Key is still being "
                               "processed; retry in a moment.")
            return stored
        row = _create(work, data, now)
        if key:
            store.idempotency_complete(professional_id, key, str(row["id"]))
        outcome = _booked(row, data, now)
        messaging.booking_created(work.professional, row["client"], row, manage_token=outcome.body["manageToken"],
                                  pix_code=(outcome.body.get("pix") or {}).get("payload"))
        # Counted while still holding the lock: the booking is made (only the COMMIT is left), and the next booker
        # waiting on the lock must see it. A COMMIT that then fails over-counts one: harmless for a ceiling.
        ratelimit.record(ratelimit.PROFESSIONAL_BOOKINGS, str(professional_id))
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
        payment = pix_charges.answer(str(row["professional_id"]), str(row["id"]), pix_view(row))
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
    """The column changes that move the booking to the offered slot at ``starts_at`` (its status is kept)."""
    slot = require_free_slot(professional, starts_at, now, exclude_appointment=str(row["id"]))
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
    with agenda.for_professional(professional_id) as work:  # same lock order as booking
        professional = work.professional
        row = store.for_manage(appointment_id, lock=True)
        if row is None:  # deleted meanwhile
            raise _link_not_found()
        _ensure_changeable(row, now)
        if data.action == "cancel":
            changes: dict[str, Any] = {"status": "cancelled"}
        else:
            assert data.starts_at is not None
            changes = _reschedule(row, professional, data.starts_at, now)
        try:
            written = work.change_appointment(row, changes, now)
        except SlotTaken:
            raise slot_taken() from None
        assert written is not None
        updated = {**row, **written}
        was = _local_label(row["starts_at"], row["timezone"])
        client = {"id": row["client_id"], "name": row["client_name"], "phone": row["client_phone"]}
        if data.action == "cancel":
            notify_professional(work.id, "booking_cancelled", "Agendamento cancelado",
                                f"{row['client_name']} cancelou {was}.", client_id=str(row["client_id"]))
            messaging.cancelled_by_client(professional, client, updated)
        else:
            messaging.rescheduled(professional, client, updated, old_starts_at=row["starts_at"],
                                  manage_token=booking_tokens.for_appointment(updated))
            notify_professional(work.id, "booking_rescheduled", "Agendamento remarcado",
                                f"{row['client_name']} remarcou {was} para "
                                f"{_local_label(updated['starts_at'], row['timezone'])}.",
                                client_id=str(row["client_id"]))
    pix_charges.sync(professional_id, appointment_id)  # a cancelled booking's charge is removed at the PSP
    logger.info("booking changed", extra={"appointment_id": appointment_id, "action": data.action})
    return {"appointment": appointment_view(updated, now), "manageToken": booking_tokens.for_appointment(updated)}
