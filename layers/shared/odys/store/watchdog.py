"""SQL of the daily WhatsApp watchdog (:mod:`odys.watchdog`): failed deliveries, the outbox's counts, the resume of
an account-level pause. Re-enqueueing stuck rows is the outbox's own (``store.messages.claim_stale``).

    from odys.store import watchdog
    watchdog.failed_deliveries(since, until)    # -> [{"professional_id", "professional_name", "client_name", …}]
    watchdog.outbox_counts(since, until)        # -> {"queued": 2, "sent": 40, "failed": 1}
    watchdog.resume_sending(now, codes=[190])   # -> True when a pause with one of these codes was lifted
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from odys import db


def failed_deliveries(since: datetime, until: datetime, *, limit: int = 5000) -> list[dict[str, Any]]:
    """Client messages that failed in ``[since, until)``, with their professional (name, phone, time zone) and
    client name, grouped by professional, oldest failure first. Notices to professionals are not counted (a
    failed notice must not cause another)."""
    return db.all(
        "SELECT m.professional_id::text, p.name AS professional_name, p.phone AS professional_phone, p.timezone, "
        "m.client_id::text, c.name AS client_name, m.appointment_starts_at, m.failed_at "
        "FROM messages m JOIN professionals p ON p.id = m.professional_id "
        "LEFT JOIN clients c ON c.id = m.client_id "
        "WHERE m.direction = 'outbound' AND m.recipient = 'client' AND m.status = 'failed' "
        "AND m.failed_at >= :since AND m.failed_at < :until "
        "ORDER BY m.professional_id, m.failed_at, m.id LIMIT :limit",
        since=since, until=until, limit=limit)


def outbox_counts(since: datetime, until: datetime) -> dict[str, int]:
    """Outbound messages still ``queued`` now, and those sent / failed in ``[since, until)``."""
    row = db.one(
        "SELECT count(*) FILTER (WHERE status = 'queued') AS queued, "
        "count(*) FILTER (WHERE sent_at >= :since AND sent_at < :until) AS sent, "
        "count(*) FILTER (WHERE failed_at >= :since AND failed_at < :until) AS failed "
        "FROM messages WHERE direction = 'outbound' "
        "AND (status = 'queued' OR sent_at >= :since OR failed_at >= :since)",
        since=since, until=until)
    return {key: int(row[key] or 0) for key in ("queued", "sent", "failed")} if row else {
        "queued": 0, "sent": 0, "failed": 0}


def pause() -> dict[str, Any] | None:
    """The account-level pause row (``paused_until``, ``pause_code``), if any."""
    return db.one("SELECT paused_until, pause_code FROM whatsapp_state")


def resume_sending(now: datetime, *, codes: list[int]) -> bool:
    """End a pause in force at ``now`` whose code is one of ``codes`` (``paused_until`` = ``now``)."""
    return bool(db.run(
        "UPDATE whatsapp_state SET paused_until = :now, updated_at = now() "
        "WHERE paused_until > :now AND pause_code = ANY(CAST(:codes AS integer[])) RETURNING 1",
        now=now, codes=codes))
