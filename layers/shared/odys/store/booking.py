"""SQL of public booking: busy intervals for slots, the self-service view of one appointment, and Idempotency-Key
rows (table ``idempotency_keys``). The appointment itself is written through ``store.appointments``."""

from __future__ import annotations

import json
from typing import Any

from odys import db

MANAGE_COLUMNS = """a.id, a.professional_id, a.client_id, a.starts_at, a.ends_at, a.status, a.payment_status,
    a.price, a.pix_txid, a.notes, p.slug, p.name AS professional_name, p.profession, p.timezone,
    p.cancellation_notice_hours, p.pix_key, p.city, c.name AS client_name"""


def busy_intervals(professional_id: str, since: int, until: int,
                   exclude_id: str | None = None) -> list[tuple[int, int]]:
    """Active appointments overlapping [since, until) (epoch seconds) as ``(start, end)`` epoch pairs.

    One text value instead of rows of timestamptz: pg8000 decodes timestamps in pure Python, slowly. The range
    predicate matches the partial GiST index of the exclusion constraint ``appointments_no_overlap``.
    """
    text = db.scalar(
        "SELECT coalesce(string_agg(extract(epoch FROM starts_at)::bigint || ' ' || "
        "extract(epoch FROM ends_at)::bigint, ' '), '') FROM appointments "
        "WHERE professional_id = :pid AND status IN ('pending', 'confirmed') "
        "AND tstzrange(starts_at, ends_at, '[)') && tstzrange(to_timestamp(:since), to_timestamp(:until), '[)') "
        "AND id IS DISTINCT FROM CAST(:exclude AS uuid)",
        pid=professional_id, since=since, until=until, exclude=exclude_id)
    numbers = [int(n) for n in text.split()] if text else []
    return list(zip(numbers[::2], numbers[1::2]))


def professional_id(slug: str) -> str | None:
    """Just the id behind a slug (the booking then locks and reads the full row)."""
    found = db.scalar("SELECT id FROM professionals WHERE slug = :slug", slug=slug)
    return str(found) if found is not None else None


def for_manage(appointment_id: str, *, lock: bool = False) -> dict[str, Any] | None:
    """The appointment with what its client may see of the professional; ``lock`` takes its row lock."""
    return db.one(f"SELECT {MANAGE_COLUMNS} FROM appointments a JOIN professionals p ON p.id = a.professional_id "
                  f"JOIN clients c ON c.id = a.client_id WHERE a.id = :id" + (" FOR UPDATE OF a" if lock else ""),
                  id=appointment_id)


def idempotency_get(scope: str, key: str) -> dict[str, Any] | None:
    """``{request_hash, response, status_code}`` of a completed key, or None."""
    return db.one("SELECT request_hash, response, status_code FROM idempotency_keys "
                  "WHERE scope = :scope AND key = :key", scope=scope, key=key)


def idempotency_claim(scope: str, key: str, request_hash: str) -> bool:
    """Insert the key row (in the caller's transaction); False when it exists.

    A concurrent claim of the same key waits on the primary key until the first transaction ends: after its
    commit this returns False (read the stored response); after its rollback the claim succeeds.
    """
    return bool(db.run("INSERT INTO idempotency_keys (scope, key, request_hash) VALUES (:scope, :key, :hash) "
                       "ON CONFLICT (scope, key) DO NOTHING RETURNING 1", scope=scope, key=key, hash=request_hash))


def idempotency_complete(scope: str, key: str, status_code: int, response: dict[str, Any]) -> None:
    db.run("UPDATE idempotency_keys SET status_code = :status, response = CAST(:response AS jsonb) "
           "WHERE scope = :scope AND key = :key", scope=scope, key=key, status=status_code,
           response=json.dumps(response, separators=(",", ":")))
