"""SQL of public booking: busy intervals for slots, the booking's locked read, the self-service view of one
appointment, and Idempotency-Key rows (table ``idempotency_keys``: per professional, expiring, holding only the
appointment a key created). The appointment itself is written through ``store.appointments``."""

from __future__ import annotations

from typing import Any

from odys import db
from odys.store import professionals

MANAGE_COLUMNS = """a.id, a.professional_id, a.client_id, a.starts_at, a.ends_at, a.status, a.payment_status,
    a.price, a.pix_txid, a.client_notes, p.slug, p.name AS professional_name, p.profession, p.timezone,
    p.cancellation_notice_hours, p.pix_key, p.city, c.name AS client_name, c.phone AS client_phone,
    EXISTS (SELECT 1 FROM pix_connections x WHERE x.professional_id = a.professional_id) AS pix_connected"""

# What a booking decides on (migration 0009, function ``booking_context``: its plan is cached per session), read
# after the professional's row lock in a statement of its own, so its snapshot holds every booking committed while
# the lock was awaited.
_BOOKING_CONTEXT = ("SELECT * FROM booking_context(:slug, CAST(:starts AS timestamptz), :phone, :key, "
                    "CAST(:now AS timestamptz))")


# What a change through the link decides on, read after the professional's lock (its own snapshot): the
# appointment with what its client may see (locked), the windows, the active appointments around the new time
# (other than this one) and the new time's month count.
_CHANGE_CONTEXT = f"""
SELECT {MANAGE_COLUMNS},
  (SELECT coalesce(json_agg(json_build_array(day_of_week, start_time::text, end_time::text)
                            ORDER BY day_of_week, start_time), '[]')
     FROM availability WHERE professional_id = p.id) AS windows,
  (SELECT coalesce(string_agg(extract(epoch FROM b.starts_at)::bigint || ' ' || extract(epoch FROM b.ends_at)::bigint,
                              ' '), '')
     FROM appointments b WHERE b.professional_id = p.id AND b.status IN ('pending', 'confirmed') AND b.id <> a.id
      AND tstzrange(b.starts_at, b.ends_at, '[)') && tstzrange(
          CAST(:starts AS timestamptz) - make_interval(mins => p.buffer_minutes),
          CAST(:starts AS timestamptz) + make_interval(mins => p.session_duration_minutes + p.buffer_minutes),
          '[)')) AS busy,
  (SELECT count(*) FROM appointments b WHERE b.professional_id = p.id AND b.status <> 'cancelled'
      AND b.starts_at >= (date_trunc('month', CAST(:starts AS timestamptz) AT TIME ZONE p.timezone) AT TIME ZONE p.timezone)
      AND b.starts_at < ((date_trunc('month', CAST(:starts AS timestamptz) AT TIME ZONE p.timezone) + interval '1 month')
                         AT TIME ZONE p.timezone)) AS month_count
FROM appointments a JOIN professionals p ON p.id = a.professional_id JOIN clients c ON c.id = a.client_id
WHERE a.id = :id AND a.professional_id = :pid FOR UPDATE OF a"""


def lock_for_change(professional_id: str, appointment_id: str,
                    starts_at: Any) -> tuple[dict[str, Any], dict[str, Any] | None] | None:
    """In one round trip (inside the caller's transaction): the professional locked, then the appointment locked
    with what a change through the link decides on (see ``_CHANGE_CONTEXT``; ``starts_at`` the new time, or the
    current one for a cancellation). None when the professional is gone; ``(professional, None)`` when the
    appointment is. ``windows`` and ``busy`` as in :func:`lock_for_booking`."""
    locked, found = db.pipeline(
        (f"SELECT {professionals.COLUMNS} FROM professionals WHERE id = :id FOR UPDATE", {"id": professional_id}),
        (_CHANGE_CONTEXT, {"id": appointment_id, "pid": professional_id, "starts": starts_at}))
    if not locked:
        return None
    if not found:
        return locked[0], None
    row = found[0]
    row["busy"] = _epoch_pairs(row["busy"])
    return locked[0], row


def lock_for_booking(slug: str, starts_at: Any, phone: str, key: str | None,
                     now: Any) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """In one round trip (inside the caller's transaction): the professional at ``slug`` locked, then what the
    booking decides on (``booking_context``, migration 0009); None when no professional has that slug.

    ``windows`` is ``[[day_of_week, "HH:MM:SS", "HH:MM:SS"], ...]``, ``busy`` epoch pairs as in
    :func:`busy_intervals`, ``client`` ``{id, name, phone, email}`` or None, ``idempotency``
    ``{request_hash, appointment_id}`` or None.
    """
    locked, context = db.pipeline(
        (f"SELECT {professionals.COLUMNS} FROM professionals WHERE slug = :slug FOR UPDATE", {"slug": slug}),
        (_BOOKING_CONTEXT, {"slug": slug, "starts": starts_at, "phone": phone, "key": key or "", "now": now}))
    if not locked:
        return None
    found = context[0]
    found["busy"] = _epoch_pairs(found["busy"])
    return locked[0], found


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
    return _epoch_pairs(text)


def _epoch_pairs(text: str) -> list[tuple[int, int]]:
    """``"start end start end ..."`` (the busy intervals' aggregated text) as ``(start, end)`` pairs."""
    numbers = [int(n) for n in text.split()]
    return list(zip(numbers[::2], numbers[1::2]))


def for_manage(appointment_id: str, *, lock: bool = False) -> dict[str, Any] | None:
    """The appointment with what its client may see of the professional; ``lock`` takes its row lock."""
    return db.one(f"SELECT {MANAGE_COLUMNS} FROM appointments a JOIN professionals p ON p.id = a.professional_id "
                  f"JOIN clients c ON c.id = a.client_id WHERE a.id = :id" + (" FOR UPDATE OF a" if lock else ""),
                  id=appointment_id)


def idempotency_record(professional_id: str, key: str, request_hash: str, appointment_id: str, now: Any,
                       expires_at: Any) -> None:
    """With the COMMIT (:func:`odys.db.defer`, after the appointment's INSERT): the key and the appointment it
    created, replacing an expired row. The caller holds the professional's lock and found no live key."""
    db.defer("INSERT INTO idempotency_keys (professional_id, key, request_hash, appointment_id, created_at, expires_at) "
             "VALUES (:pid, :key, :hash, :aid, :now, :expires) ON CONFLICT (professional_id, key) DO UPDATE "
             "SET request_hash = EXCLUDED.request_hash, appointment_id = EXCLUDED.appointment_id, "
             "created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at",
             pid=professional_id, key=key, hash=request_hash, aid=appointment_id, now=now, expires=expires_at)
