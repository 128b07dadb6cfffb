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
