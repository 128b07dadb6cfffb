"""SQL of :mod:`odys.retention`: deletions of rows past their retention (one statement each)."""

from __future__ import annotations

import datetime as dt

from odys import db


def delete_expired_idempotency_keys(now: dt.datetime) -> int:
    return len(db.run("DELETE FROM idempotency_keys WHERE expires_at <= :now RETURNING 1", now=now))


def delete_stripe_events_before(cutoff: dt.datetime) -> int:
    return len(db.run("DELETE FROM stripe_events WHERE processed_at < :cutoff RETURNING 1", cutoff=cutoff))


def delete_notifications_read_before(cutoff: dt.datetime) -> int:
    return len(db.run("DELETE FROM notifications WHERE read_at < :cutoff RETURNING 1", cutoff=cutoff))


def delete_orphan_statuses_before(cutoff: dt.datetime) -> int:
    """Statuses that never found their message (no ``message_id``, no message with that wamid)."""
    return len(db.run("DELETE FROM whatsapp_statuses s WHERE s.received_at < :cutoff AND s.message_id IS NULL "
                      "AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.provider_message_id = s.provider_message_id) "
                      "RETURNING 1", cutoff=cutoff))
