"""Use cases of the professional's client list: search, create (plan limit), detail with history, edit, delete.

    clients.list_page(user_id, ClientQuery(q="joao"))      # -> {"clients": [...], "nextCursor": None}
    clients.create(user_id, ClientCreate(name="João", phone="(11) 98888-7777"))   # 409 client_exists, 402 limit
    clients.get(user_id, client_id)      # client + upcoming/past appointments + totals
    clients.update(user_id, client_id, ClientUpdate(email=None))
    clients.delete(user_id, client_id)   # cascades to appointments, notes, series, messages

Search (``q``) matches the name ignoring case and accents (``joao`` finds "João"), or, when ``q`` looks like a
phone number (digits, spaces, ``+()-.``), any client whose phone contains those digits. Lists are ordered by name
and paginated by an opaque ``cursor`` (an offset). Phones are unique per professional: a duplicate answers 409
``client_exists`` with the existing client's id in ``clientId``.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from pydantic import Field

from odys import agenda, caller, clock, db, deletion_audit, pagination
from odys.appointment_views import view as view_appointment
from odys.errors import ClientExists, NotFound
from odys.fields import ApiModel, Email, Name, Phone, reject_nulls
from odys.log import logger
from odys.store import appointments as appointments_store
from odys.store import clients as store

DETAIL_APPOINTMENTS = 5  # upcoming and past appointments shown in a client's detail, each
_PHONE_LIKE = re.compile(r"[\d\s()+.-]+")


class ClientQuery(ApiModel):
    """``GET /api/clients``: ``q`` (name or phone digits), ``limit`` (1-200, default 50), ``cursor``."""

    q: str | None = Field(default=None, max_length=120)
    limit: int = Field(default=pagination.DEFAULT_LIMIT, ge=1, le=pagination.MAX_LIMIT)
    cursor: str | None = Field(default=None, max_length=200)


class ClientCreate(ApiModel):
    name: Name
    phone: Phone
    email: Email | None = None


class ClientUpdate(ApiModel):
    """Any subset; ``email: null`` removes the e-mail."""

    name: Name | None = None
    phone: Phone | None = None
    email: Email | None = None


def view(row: dict[str, Any]) -> dict[str, Any]:
    """A client as the professional sees it."""
    body = {"id": str(row["id"]), "name": row["name"], "phone": row["phone"], "email": row["email"],
            "hasAccount": row["user_id"] is not None, "createdAt": row["created_at"], "updatedAt": row["updated_at"]}
    if "next_appointment_at" in row:
        body["nextAppointmentAt"] = row["next_appointment_at"]
    return body


def search_terms(q: str | None) -> tuple[str | None, str | None]:
    """(ILIKE name pattern, phone digits) of a search text.

    >>> search_terms("(11) 98888")
    ('%(11) 98888%', '1198888')
    >>> search_terms("50%")
    ('%50\\\\%%', None)
    >>> search_terms("Jo_ão")
    ('%Jo\\\\_ão%', None)
    """
    if not q:
        return None, None
    escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    digits = re.sub(r"\D", "", q) if _PHONE_LIKE.fullmatch(q) else ""
    return f"%{escaped}%", digits or None


def list_page(user_id: str, query: ClientQuery, now: dt.datetime | None = None) -> dict[str, Any]:
    """A page of clients by name, each with ``nextAppointmentAt`` (their next active appointment, or null)."""
    pid = str(caller.professional(user_id)["id"])
    offset = pagination.offset_of("clients", query.cursor)
    name_pattern, digits = search_terms(query.q)
    rows = store.search_page(pid, now=now or clock.now(), limit=query.limit + 1, offset=offset,
                             name_pattern=name_pattern, phone_digits=digits)
    items, more = pagination.split(rows, query.limit)
    return {"clients": [view(r) for r in items],
            "nextCursor": pagination.offset_cursor("clients", offset + query.limit) if more else None}


def client_exists(existing: dict[str, Any] | None) -> ClientExists:
    """409 ``client_exists`` naming the client who already has the phone (``clientId``)."""
    return ClientExists(str(existing["id"]) if existing else None)


def create(user_id: str, data: ClientCreate, now: dt.datetime | None = None) -> dict[str, Any]:
    """Create a client: duplicate phone 409 ``client_exists``; over the plan's client limit 402."""
    with agenda.for_user(user_id) as work:
        existing = store.by_phone(work.id, data.phone)
        if existing is not None:
            raise client_exists(existing)
        row = work.add_client(data.name, data.phone, data.email, now or clock.now())
        if row is None:  # its phone was given to another client meanwhile (a client edit takes no lock)
            raise client_exists(store.by_phone(work.id, data.phone))
    logger.info("client created", extra={"client_id": str(row["id"])})
    return view(row)


def get(user_id: str, client_id: str, now: dt.datetime | None = None) -> dict[str, Any]:
    """The client with their next and latest appointments (:data:`DETAIL_APPOINTMENTS` each) and totals.

    ``totals.dueCents`` sums completed and no-show appointments whose payment is unpaid or pending.
    """
    now = now or clock.now()
    pid = str(caller.professional(user_id)["id"])
    client = caller.client_or_404(pid, client_id)
    upcoming = appointments_store.client_upcoming(pid, client_id, now, DETAIL_APPOINTMENTS)
    past = appointments_store.client_past(pid, client_id, now, DETAIL_APPOINTMENTS)
    totals = appointments_store.client_totals(pid, client_id)
    by_status = {status: totals[status] for status in ("pending", "confirmed", "completed", "cancelled", "no_show")}
    return {**view(client),
            "appointments": {"upcoming": [view_appointment(r) for r in upcoming],
                             "past": [view_appointment(r) for r in past]},
            "totals": {"appointments": sum(by_status.values()), "byStatus": by_status,
                       "paidCents": totals["paid"], "dueCents": totals["due"]}}


def update(user_id: str, client_id: str, data: ClientUpdate) -> dict[str, Any]:
    """Edit name, phone or e-mail; a phone another client has answers 409 ``client_exists``."""
    changes = data.model_dump(include=data.model_fields_set)
    reject_nulls(changes, frozenset({"name", "phone"}))
    pid = str(caller.professional(user_id)["id"])
    if not changes:
        return view(caller.client_or_404(pid, client_id))
    try:
        row = store.update_fields(pid, client_id, changes)
    except ClientExists:
        raise client_exists(store.by_phone(pid, changes["phone"])) from None
    if row is None:
        raise NotFound("client")
    return view(row)


def delete(user_id: str, client_id: str) -> None:
    """Delete the client and everything about them (appointments, notes, recurring series, messages), leaving
    one audit row of what went (counts, no personal data); their active PIX charges are removed at the PSP once
    the deletion has committed (best effort)."""
    from odys import pix_charges  # only here: the PSP client is not loaded for the other routes

    professional_id = str(caller.professional(user_id)["id"])
    with db.transaction():  # the audit row exists exactly when the deletion does
        deletion_audit.client_deleted(professional_id, client_id)
        pix_charges.release_after_commit(professional_id, client_id=client_id,  # at the PSP after commit
                                         reason="client_deleted")
        if not store.delete_one(professional_id, client_id):
            raise NotFound("client")
    logger.info("client deleted", extra={"client_id": client_id})
