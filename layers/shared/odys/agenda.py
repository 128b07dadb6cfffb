"""The one write path of a professional's practice: a unit of work that takes the professional's row lock once
and offers the domain operations, so that no route can skip a rule.

    with agenda.for_user(user_id) as work:                      # or agenda.for_professional(professional_id)
        client = work.add_client("Bia", "+5511988887777", None, now)                 # 402 over the client limit
        row = work.add_appointment(client["id"], starts_at, ends_at, status="confirmed", price=15000, now=now)
        work.change_appointment(row, {"starts_at": later, "ends_at": later_end}, now)  # 402 / 409 slot_taken
        work.replace_availability([(1, time(9), time(12))])                           # 422 overlapping_windows
    with agenda.for_user_appointment(user_id, appointment_id) as (work, row):   # + the appointment, locked (404)
        work.change_appointment(row, {"status": "completed"}, now)

Rules it owns:

- **Serialisation.** Every write of one professional runs in one transaction behind ``SELECT … FOR UPDATE`` on
  the professional's row (booking, manual changes, the client's link, recurring series, availability): counts
  made inside are exact, and concurrent writers queue instead of interleaving.
- **Monthly appointment limit.** Whatever makes an appointment count in a month — a creation (by hand, by
  booking, by a series), a re-activation of a cancelled one, or a move into another month — checks the plan's
  ``appointments_per_month`` for that month (in the professional's time zone) first: 402 ``plan_limit_reached``.
  An appointment already counted in that month (a move inside the month, completed ↔ no-show) is not counted twice.
- **Client limit.** A new client checks the plan's ``clients`` limit.
- **Overlap** is the database's: an active appointment overlapping another raises :class:`odys.errors.SlotTaken`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any

from odys import db, limits
from odys.appointment_views import local_date
from odys.errors import NotFound, OnboardingRequired
from odys.store import appointments as appointments_store
from odys.store import availability as availability_store
from odys.store import booking as booking_store
from odys.store import clients as clients_store
from odys.store import professionals as professionals_store
from odys.store.appointments import ACTIVE


class Agenda:
    """Domain operations on one locked professional; obtain it from :func:`for_user` / :func:`for_professional`."""

    def __init__(self, professional: dict[str, Any]) -> None:
        self.professional = professional
        self.id = str(professional["id"])
        self.timezone: str = professional["timezone"]

    # --- clients ---------------------------------------------------------------------------------------------

    def add_client(self, name: str, phone: str, email: str | None, now: dt.datetime) -> dict[str, Any] | None:
        """A new client within the plan's client limit (402); None when the phone is already a client.

        Callers look the phone up first (an existing client is not refused for a full plan).
        """
        limits.ensure_client_capacity(self.professional, now)
        return clients_store.insert(self.id, name, phone, email)

    # --- appointments ----------------------------------------------------------------------------------------

    def ensure_month_capacity(self, starts_at: dt.datetime, now: dt.datetime, *, count: int | None = None) -> None:
        """402 when one more appointment in the month of ``starts_at`` would exceed the plan (``count``: that
        month's appointments when already read under this lock)."""
        limits.ensure_appointment_capacity(self.professional, starts_at, now, count=count)

    def add_appointment(self, client_id: str, starts_at: dt.datetime, ends_at: dt.datetime, *, status: str,
                        price: int, now: dt.datetime, skip_if_taken: bool = False,
                        **fields: Any) -> dict[str, Any] | None:
        """Insert an appointment after the monthly limit check (402); :class:`SlotTaken` when it overlaps.

        ``skip_if_taken`` inserts inside a savepoint and returns None on overlap instead (a series skipping the
        dates that collide, in one transaction). ``fields``: ``notes``, ``client_notes``, ``pix_txid``,
        ``recurring_schedule_id``, ``occurrence_date``.
        """
        if status in ACTIVE:
            self.ensure_month_capacity(starts_at, now)
        if skip_if_taken:
            return appointments_store.insert_in_savepoint(self.id, client_id, starts_at, ends_at, status=status,
                                                          price=price, **fields)
        return appointments_store.insert(self.id, client_id, starts_at, ends_at, status=status, price=price,
                                         **fields)

    def add_client_at_commit(self, name: str, phone: str, email: str | None, now: dt.datetime, *,
                             count: int) -> dict[str, Any]:
        """:meth:`add_client` for a booking: the plan's client limit checked against ``count`` (read under this
        lock), the row written with the COMMIT under a new id (a phone taken meanwhile: ``ClientExists`` then)."""
        limits.ensure_client_capacity(self.professional, now, count=count)
        return clients_store.insert_at_commit(str(uuid.uuid4()), self.id, name, phone, email)

    def add_appointment_at_commit(self, client_id: str, starts_at: dt.datetime, ends_at: dt.datetime, *,
                                  status: str, price: int, now: dt.datetime, month_count: int,
                                  client_notes: str | None = None, pix_txid: str | None = None) -> dict[str, Any]:
        """:meth:`add_appointment` for a booking: the monthly limit checked against ``month_count`` (that month's
        appointments, read under this lock), the row written with the COMMIT under a new id (an overlap:
        ``SlotTaken`` then)."""
        if status in ACTIVE:
            limits.ensure_appointment_capacity(self.professional, starts_at, now, count=month_count)
        return appointments_store.insert_at_commit(str(uuid.uuid4()), self.id, client_id, starts_at, ends_at,
                                                   status=status, price=price, client_notes=client_notes,
                                                   pix_txid=pix_txid)

    def counts_anew(self, row: dict[str, Any], status: str, starts_at: dt.datetime) -> bool:
        """Whether ``row`` becoming ``status`` at ``starts_at`` adds it to a month's count (see the module doc)."""
        if status not in ACTIVE:
            return False
        if row["status"] == "cancelled":
            return True
        return _month(row["starts_at"], self.timezone) != _month(starts_at, self.timezone)

    def change_appointment(self, row: dict[str, Any], columns: dict[str, Any], now: dt.datetime,
                           *, skip_if_taken: bool = False, month_count: int | None = None) -> dict[str, Any] | None:
        """Write ``columns`` (validated by the caller) to the locked appointment ``row``.

        Checks the monthly limit when the change makes it count in a month it did not count in (402); raises
        :class:`SlotTaken` on overlap, or returns None then with ``skip_if_taken`` (a savepoint keeps the
        transaction usable). A move (``starts_at``/``ends_at``) re-arms the reminder and keeps the status.
        """
        if not columns:
            return row
        status = columns.get("status", row["status"])
        starts_at = columns.get("starts_at", row["starts_at"])
        if self.counts_anew(row, status, starts_at):
            self.ensure_month_capacity(starts_at, now, count=month_count)
        if ("starts_at" in columns and columns["starts_at"] != row["starts_at"]) or \
                ("ends_at" in columns and columns["ends_at"] != row["ends_at"]):
            columns = {**columns, "reminder_sent_at": None}
        if skip_if_taken:
            return appointments_store.update_in_savepoint(self.id, str(row["id"]), columns)
        written = appointments_store.update_fields(self.id, str(row["id"]), columns)
        assert written is not None, "the appointment is locked"
        return written

    # --- availability ----------------------------------------------------------------------------------------

    def replace_availability(self, windows: list[tuple[int, dt.time, dt.time]]) -> None:
        """Replace every weekly window at once (:class:`OverlappingWindows` if the database refuses a pair)."""
        availability_store.replace(self.id, windows)


def _month(instant: dt.datetime, timezone: str) -> tuple[int, int]:
    local = local_date(instant, timezone)
    return local.year, local.month


@contextlib.contextmanager
def for_professional(professional_id: str) -> Iterator[Agenda]:
    """A transaction holding the professional's row lock; 404 when the professional is gone."""
    with db.transaction():
        row = professionals_store.lock(professional_id)
        if row is None:
            raise NotFound("professional")
        yield Agenda(row)


@contextlib.contextmanager
def for_booking(slug: str, starts_at: dt.datetime, phone: str, key: str | None,
                now: dt.datetime) -> Iterator[tuple[Agenda, dict[str, Any]]]:
    """:func:`for_professional` by slug for a public booking, with what it decides on read in the same round trip
    (:func:`odys.store.booking.lock_for_booking`): ``(work, context)``; 404 when no professional has the slug."""
    with db.transaction():
        found = booking_store.lock_for_booking(slug, starts_at, phone, key, now)
        if found is None:
            raise NotFound("professional", detail=f"No professional at /{slug}.")
        professional, context = found
        yield Agenda(professional), context


@contextlib.contextmanager
def for_link_change(professional_id: str, appointment_id: str,
                    starts_at: dt.datetime) -> Iterator[tuple[Agenda, dict[str, Any] | None]]:
    """:func:`for_professional` with one appointment locked and what a change through its link decides on, in the
    same round trip (:func:`odys.store.booking.lock_for_change`): ``(work, row)``, ``row`` None when the
    appointment is gone."""
    with db.transaction():
        found = booking_store.lock_for_change(professional_id, appointment_id, starts_at)
        if found is None:
            raise NotFound("professional")
        yield Agenda(found[0]), found[1]


@contextlib.contextmanager
def for_user(user_id: str) -> Iterator[Agenda]:
    """:func:`for_professional` for the authenticated user's own professional (404 ``onboarding_required``).

    Locks by ``user_id`` directly: one query instead of reading the profile and then locking it.
    """
    with db.transaction():
        row = professionals_store.lock_by_user(user_id)
        if row is None:
            raise OnboardingRequired()
        yield Agenda(row)


@contextlib.contextmanager
def for_user_appointment(user_id: str, appointment_id: str) -> Iterator[tuple[Agenda, dict[str, Any]]]:
    """:func:`for_user` that also locks one of the professional's appointments, in the same query (the professional's
    row first, as every writer): ``(work, row)``, ``row`` as :func:`odys.store.appointments.lock_with_professional`
    reads it (with the client's name and phone); 404 when the professional has no such appointment.
    """
    with db.transaction():
        found = appointments_store.lock_with_professional(user_id, appointment_id)
        if found is None:
            raise OnboardingRequired()
        professional, row = found
        if row is None:
            raise NotFound("appointment")
        yield Agenda(professional), row
