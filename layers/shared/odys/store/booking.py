"""SQL of public booking: busy intervals for slots, the self-service view of one appointment, and Idempotency-Key
rows (table ``idempotency_keys``: per professional, expiring, holding only the appointment a key created). The
appointment itself is written through ``store.appointments``."""

from __future__ import annotations

from typing import Any

from odys import db

MANAGE_COLUMNS = """a.id, a.professional_id, a.client_id, a.starts_at, a.ends_at, a.status, a.payment_status,
    a.price, a.pix_txid, a.client_notes, p.slug, p.name AS professional_name, p.profession, p.timezone,
    p.cancellation_notice_hours, p.pix_key, p.city, c.name AS client_name, c.phone AS client_phone"""


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


def idempotency_get(professional_id: str, key: str, now: Any) -> dict[str, Any] | None:
    """``{request_hash, appointment_id}`` of the professional's unexpired key, or None."""
    return db.one("SELECT request_hash, appointment_id FROM idempotency_keys WHERE professional_id = :pid "
                  "AND key = :key AND expires_at > :now", pid=professional_id, key=key, now=now)


def idempotency_claim(professional_id: str, key: str, request_hash: str, now: Any, expires_at: Any) -> bool:
    """Insert the key row (in the caller's transaction), taking over an expired one; False when a live one exists.

    A concurrent claim of the same key waits on the primary key until the first transaction ends: after its
    commit this returns False (read the stored outcome); after its rollback the claim succeeds.
    """
    return bool(db.run(
        "INSERT INTO idempotency_keys (professional_id, key, request_hash, created_at, expires_at) "
        "VALUES (:pid, :key, :hash, :now, :expires) ON CONFLICT (professional_id, key) DO UPDATE "
        "SET request_hash = EXCLUDED.request_hash, appointment_id = NULL, created_at = EXCLUDED.created_at, "
        "expires_at = EXCLUDED.expires_at WHERE idempotency_keys.expires_at <= EXCLUDED.created_at RETURNING 1",
        pid=professional_id, key=key, hash=request_hash, now=now, expires=expires_at))


def idempotency_complete(professional_id: str, key: str, appointment_id: str) -> None:
    """Record the appointment the key created: a replay renders its answer again from it."""
    db.run("UPDATE idempotency_keys SET appointment_id = :aid WHERE professional_id = :pid AND key = :key",
           pid=professional_id, key=key, aid=appointment_id)
