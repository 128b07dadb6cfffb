"""SQL of :mod:`odys.client_profile`: a client user's appointments and messages across professionals, and the
rectification of their linked records. Every statement is scoped by ``clients.user_id`` (the caller's own rows).

    appointments(user_id, now=now, upcoming=True, limit=50)   # each with its professional's public columns
    records(user_id); all_appointments(user_id); messages(user_id); notifications(user_id);
    recurring_schedules(user_id)                                # the export
    rectify(user_id, {"name": "Bia Lima"})                      # -> the rows that changed, with their old values
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from odys import db
from odys.store.client_links import LINKED_COLUMNS, PROFESSIONAL_COLUMNS

_APPOINTMENT_COLUMNS = f"""a.id, a.client_id, a.starts_at, a.ends_at, a.status, a.payment_status, a.price,
    a.client_notes, a.created_at, r.id AS review_id, r.rating AS review_rating, {PROFESSIONAL_COLUMNS}"""
_MINE = """FROM appointments a
    JOIN clients c ON c.id = a.client_id AND c.professional_id = a.professional_id AND c.user_id = :uid
    JOIN professionals p ON p.id = a.professional_id
    LEFT JOIN reviews r ON r.appointment_id = a.id"""


def appointments(user_id: str, *, now: dt.datetime, upcoming: bool, limit: int) -> list[dict[str, Any]]:
    """The user's appointments not yet over (soonest first) or over (latest first), at most ``limit``."""
    when, order = ("a.ends_at > :now", "a.starts_at, a.id") if upcoming else ("a.ends_at <= :now",
                                                                           "a.starts_at DESC, a.id DESC")
    return db.all(f"SELECT {_APPOINTMENT_COLUMNS} {_MINE} WHERE {when} ORDER BY {order} LIMIT :limit",
                  uid=user_id, now=now, limit=limit)


def all_appointments(user_id: str) -> list[dict[str, Any]]:
    return db.all(f"SELECT {_APPOINTMENT_COLUMNS} {_MINE} ORDER BY a.starts_at, a.id", uid=user_id)


def records(user_id: str) -> list[dict[str, Any]]:
    """The user's rows whole (the export): contact data and WhatsApp state, with the professional's public columns."""
    return db.all(f"SELECT {LINKED_COLUMNS}, c.wa_id, c.wa_user_id, c.whatsapp_opted_out_at "
                  f"FROM clients c JOIN professionals p ON p.id = c.professional_id "
                  f"WHERE c.user_id = :uid ORDER BY c.created_at, c.id", uid=user_id)


def messages(user_id: str) -> list[dict[str, Any]]:
    """Every WhatsApp message about each linked record: sent to or received from the person, and the notices sent
    to the professional about them (``recipient``)."""
    return db.all("SELECT m.client_id, m.direction, m.recipient, m.channel, m.template, m.body, m.status, "
                  "m.created_at, m.sent_at, m.delivered_at, m.read_at, m.failed_at FROM messages m "
                  "JOIN clients c ON c.id = m.client_id AND c.professional_id = m.professional_id "
                  "AND c.user_id = :uid ORDER BY m.created_at, m.id", uid=user_id)


def notifications(user_id: str) -> list[dict[str, Any]]:
    """The in-app notices each professional got about the user's records."""
    return db.all("SELECT n.client_id, n.kind, n.title, n.body, n.read_at, n.created_at FROM notifications n "
                  "JOIN clients c ON c.id = n.client_id AND c.professional_id = n.professional_id "
                  "AND c.user_id = :uid ORDER BY n.created_at, n.id", uid=user_id)


def recurring_schedules(user_id: str) -> list[dict[str, Any]]:
    """The standing weekly (or fortnightly, monthly) sessions of each linked record."""
    return db.all("SELECT s.client_id, s.day_of_week, s.start_time, s.duration_minutes, s.interval_weeks, "
                  "s.starts_on, s.ends_on, s.price, s.active, s.created_at FROM recurring_schedules s "
                  "JOIN clients c ON c.id = s.client_id AND c.professional_id = s.professional_id "
                  "AND c.user_id = :uid ORDER BY s.created_at, s.id", uid=user_id)


def rectify(user_id: str, changes: dict[str, Any]) -> list[dict[str, Any]]:
    """Apply ``changes`` (``name``, ``email``) to every row the user holds where they differ; each changed row's
    id, professional and previous name and e-mail. Inside the caller's transaction (the setting is local to it)."""
    names = sorted(set(changes) & {"name", "email"})
    if not names:
        return []
    # the holder's own change: the trigger that unlinks a record whose e-mail changes lets it be (migration 0007)
    db.run("SELECT set_config('odys.rectifying_user', :uid, true)", uid=user_id)
    assignments = ", ".join(f"{n} = :{n}" for n in names)
    differs = " OR ".join(f"c.{n} IS DISTINCT FROM :{n}" for n in names)
    return db.all(f"UPDATE clients c SET {assignments}, updated_at = now() FROM clients old "
                  f"WHERE old.id = c.id AND c.user_id = :uid AND ({differs}) "
                  f"RETURNING c.id, c.professional_id, old.name AS old_name, old.email AS old_email",
                  uid=user_id, **{n: changes[n] for n in names})
