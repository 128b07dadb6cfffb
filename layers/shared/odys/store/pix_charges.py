"""SQL for the immediate charges (cob) Odys creates at a professional's PSP, one per appointment.

    claim(pid, appointment_id, txid, amount_cents, expires_at)   # the row (new, or the one already there)
    get(pid, appointment_id); by_txid(pid, txid)
    update(txid, status="active", copy_and_paste=..., revision=0, amount_cents=..., expires_at=...)
    appointment_for_charge(pid, appointment_id)                  # what a charge needs to know of the appointment
    to_check(limit, now)                                         # active charges, re-check requests first
    active_txids(pid, now, limit); active_txids_of_client(pid, client_id, now, limit)   # what a deletion removes
    drop_orphan(txid)                                            # a deleted appointment's charge, once closed
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from odys import db

COLUMNS = """txid, professional_id, appointment_id, status, amount_cents, expires_at, revision, copy_and_paste,
    recheck_requested, checked_at, created_at, updated_at"""
UPDATABLE = frozenset({"status", "amount_cents", "expires_at", "revision", "copy_and_paste", "checked_at",
                       "recheck_requested"})


def claim(professional_id: str, appointment_id: str, txid: str, amount_cents: int,
          expires_at: dt.datetime) -> dict[str, Any]:
    """Insert the appointment's charge in state ``creating`` unless it has one; the row it has now."""
    db.run("INSERT INTO pix_charges (txid, professional_id, appointment_id, status, amount_cents, expires_at) "
           "VALUES (:txid, :pid, :aid, 'creating', :amount, :expires) ON CONFLICT (appointment_id) DO NOTHING",
           txid=txid, pid=professional_id, aid=appointment_id, amount=amount_cents, expires=expires_at)
    row = get(professional_id, appointment_id)
    assert row is not None
    return row


def get(professional_id: str, appointment_id: str) -> dict[str, Any] | None:
    return db.one(f"SELECT {COLUMNS} FROM pix_charges WHERE professional_id = :pid AND appointment_id = :aid",
                  pid=professional_id, aid=appointment_id)


def by_txid(professional_id: str, txid: str) -> dict[str, Any] | None:
    return db.one(f"SELECT {COLUMNS} FROM pix_charges WHERE professional_id = :pid AND txid = :txid",
                  pid=professional_id, txid=txid)


def update(txid: str, **changes: Any) -> None:
    names = sorted(set(changes) & UPDATABLE)
    sets = ", ".join([*(f"{n} = :{n}" for n in names), "updated_at = now()"])
    db.run(f"UPDATE pix_charges SET {sets} WHERE txid = :txid", txid=txid, **{n: changes[n] for n in names})


def replace_txid(professional_id: str, appointment_id: str, txid: str, amount_cents: int,
                 expires_at: dt.datetime) -> None:
    """A new charge for an appointment whose previous one was removed (a cancelled booking made active again)."""
    db.run("UPDATE pix_charges SET txid = :txid, status = 'creating', amount_cents = :amount, expires_at = :expires, "
           "revision = 0, copy_and_paste = NULL, checked_at = NULL, updated_at = now() "
           "WHERE professional_id = :pid AND appointment_id = :aid",
           txid=txid, pid=professional_id, aid=appointment_id, amount=amount_cents, expires=expires_at)


def appointment_for_charge(professional_id: str, appointment_id: str) -> dict[str, Any] | None:
    """The appointment with what its charge is made of: price, times, status, the professional's zone and name."""
    return db.one(
        "SELECT a.id, a.professional_id, a.client_id, a.starts_at, a.ends_at, a.status, a.payment_status, a.price, "
        "a.pix_txid, p.timezone, p.name AS professional_name FROM appointments a "
        "JOIN professionals p ON p.id = a.professional_id WHERE a.professional_id = :pid AND a.id = :aid",
        pid=professional_id, aid=appointment_id)


def request_recheck(professional_id: str, txid: str, now: dt.datetime) -> bool:
    """Mark a charge to be re-read by the next reconciliation (a callback that could not be verified now)."""
    return bool(db.run("UPDATE pix_charges SET recheck_requested = :now WHERE professional_id = :pid "
                       "AND txid = :txid AND status = 'active' RETURNING txid",
                       pid=professional_id, txid=txid, now=now))


def active_txids(professional_id: str, now: dt.datetime, limit: int) -> list[str]:
    """The professional's charges the PSP may still take a payment for (active or being created, not expired)."""
    return [row[0] for row in db.run(
        "SELECT txid FROM pix_charges WHERE professional_id = :pid AND status IN ('active', 'creating') "
        "AND expires_at > :now ORDER BY expires_at LIMIT :limit", pid=professional_id, now=now, limit=limit)]


def active_txids_of_client(professional_id: str, client_id: str, now: dt.datetime, limit: int) -> list[str]:
    """:func:`active_txids` of one client's appointments."""
    return [row[0] for row in db.run(
        "SELECT c.txid FROM pix_charges c JOIN appointments a ON a.id = c.appointment_id "
        "AND a.professional_id = c.professional_id WHERE c.professional_id = :pid AND a.client_id = :cid "
        "AND c.status IN ('active', 'creating') AND c.expires_at > :now ORDER BY c.expires_at LIMIT :limit",
        pid=professional_id, cid=client_id, now=now, limit=limit)]


def drop_orphan(txid: str) -> None:
    """Delete the charge of a deleted appointment once the PSP no longer holds it open (removed or paid)."""
    db.run("DELETE FROM pix_charges WHERE txid = :txid AND appointment_id IS NULL "
           "AND status NOT IN ('active', 'creating')", txid=txid)


def drop_expired_orphans(now: dt.datetime) -> int:
    """Deleted appointments' charges a day past their expiry: the PSP no longer takes a payment for them."""
    return len(db.run("DELETE FROM pix_charges WHERE appointment_id IS NULL AND expires_at < :since RETURNING txid",
                      since=now - dt.timedelta(days=1)))


def forget_active(professional_id: str) -> int:
    """The professional disconnected their PSP: their open charges are no longer Odys's to show or check."""
    return len(db.run("UPDATE pix_charges SET status = 'removed', updated_at = now() WHERE professional_id = :pid "
                      "AND status IN ('active', 'creating') RETURNING txid", pid=professional_id))


def to_check(limit: int, now: dt.datetime) -> list[dict[str, Any]]:
    """Active charges of connected professionals not expired for more than a day (and the orphans of deleted
    appointments still to be removed at the PSP): re-check requests first, then the least recently checked."""
    return db.all(f"SELECT {', '.join('c.' + c.strip() for c in COLUMNS.split(','))} FROM pix_charges c "
                  "JOIN pix_connections k ON k.professional_id = c.professional_id "
                  "WHERE (c.status = 'active' OR (c.appointment_id IS NULL AND c.status = 'creating')) "
                  "AND c.expires_at > :since "
                  "ORDER BY c.recheck_requested NULLS LAST, c.checked_at NULLS FIRST LIMIT :limit",
                  limit=limit, since=now - dt.timedelta(days=1))
