"""SQL of the 08:00 run (``odys.reminders``): what is due, set-based, and the outbox rows it writes.

    from odys.store import reminders as store
    due = store.due_reminders(at, limit=2000)           # one SELECT per batch; keys already queued are left out
    store.insert_outbox([{"pid": ..., "to_phone": ..., "dedupe_key": "msgReminder24h:<id>:<epoch>", ...}])
    # -> [(message id, to_phone), ...] of the rows that were new (one INSERT … SELECT, ON CONFLICT DO NOTHING)
    store.stamp_enqueued([(message_id, visible_at), ...])

"Today" and "tomorrow" are the dates of the run's instant ``at`` in each professional's time zone
(``at AT TIME ZONE p.timezone``), so Manaus, São Paulo and Noronha each get their own. The time range on
``starts_at`` around ``at`` only lets the indexes narrow the rows; the date comparison decides. Dedupe keys are
built here, once, and returned with the rows, so the SELECT's ``NOT EXISTS`` and the INSERT agree on them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from odys import db

ACTIVE = "('pending', 'confirmed')"
_AT = "CAST(:at AS timestamptz)"
_LOCAL_TODAY = f"({_AT} AT TIME ZONE p.timezone)::date"
_LOCAL_DAY = "(a.starts_at AT TIME ZONE p.timezone)::date"
REMINDER_KEY = "'msgReminder24h:' || a.id::text || ':' || floor(extract(epoch FROM a.starts_at))::bigint::text"


def due_reminders(at: datetime, *, limit: int, after: tuple[datetime, str] | None = None) -> list[dict[str, Any]]:
    """Active appointments starting on the professional's local tomorrow, booked before ``at`` (one booked later
    already got its confirmation with the time), whose reminder for this start is not queued yet; ordered by
    (starts_at, id), ``limit`` a page, after the keyset ``after``."""
    keyset = ""
    params: dict[str, Any] = {"at": at, "limit": limit}
    if after is not None:
        keyset = " AND (a.starts_at, a.id) > (CAST(:after_at AS timestamptz), CAST(:after_id AS uuid))"
        params.update(after_at=after[0], after_id=after[1])
    return db.all(
        f"SELECT a.id::text, a.starts_at, a.ends_at, a.professional_id::text, a.client_id::text, "
        f"p.name AS professional_name, p.timezone, c.name AS client_name, c.phone AS client_phone, "
        f"{REMINDER_KEY} AS dedupe_key "
        f"FROM appointments a JOIN professionals p ON p.id = a.professional_id "
        f"JOIN clients c ON c.id = a.client_id "
        f"WHERE a.status IN {ACTIVE} AND a.starts_at > {_AT} AND a.starts_at < {_AT} + interval '3 days' "
        f"AND {_LOCAL_DAY} = {_LOCAL_TODAY} + 1 AND a.created_at < {_AT} "
        f"AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.dedupe_key = {REMINDER_KEY}){keyset} "
        f"ORDER BY a.starts_at, a.id LIMIT :limit", **params)


def daily_agendas(at: datetime) -> list[dict[str, Any]]:
    """One row per professional with active appointments on their local today whose agenda is not queued yet:
    how many, the first one's start and client."""
    return db.all(
        f"SELECT p.id::text AS professional_id, p.name AS professional_name, p.phone, p.timezone, "
        f"{_LOCAL_TODAY} AS day, count(*) AS count, min(a.starts_at) AS first_starts_at, "
        f"(array_agg(c.name ORDER BY a.starts_at, a.id))[1] AS first_client_name, "
        f"'msgDailyAgenda:' || p.id::text || ':' || {_LOCAL_TODAY}::text AS dedupe_key "
        f"FROM appointments a JOIN professionals p ON p.id = a.professional_id "
        f"JOIN clients c ON c.id = a.client_id "
        f"WHERE a.status IN {ACTIVE} AND a.starts_at > {_AT} - interval '2 days' "
        f"AND a.starts_at < {_AT} + interval '2 days' AND {_LOCAL_DAY} = {_LOCAL_TODAY} "
        f"AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.dedupe_key = "
        f"  'msgDailyAgenda:' || p.id::text || ':' || {_LOCAL_TODAY}::text) "
        f"GROUP BY p.id ORDER BY p.id", at=at)


def payments_pending(at: datetime) -> list[dict[str, Any]]:
    """Appointments completed on the professional's local yesterday, with a price, not paid (nor refunded or
    waived), of a professional with a PIX key (the message carries the code), not told yet."""
    return db.all(
        f"SELECT a.id::text, a.starts_at, a.price, a.pix_txid, a.professional_id::text, a.client_id::text, "
        f"p.name AS professional_name, p.slug, p.city, p.pix_key, p.timezone, c.name AS client_name, "
        f"c.phone AS client_phone, 'msgPaymentPending:' || a.id::text AS dedupe_key "
        f"FROM appointments a JOIN professionals p ON p.id = a.professional_id "
        f"JOIN clients c ON c.id = a.client_id "
        f"WHERE a.status = 'completed' AND a.payment_status IN ('unpaid', 'pending') AND a.price > 0 "
        f"AND p.pix_key IS NOT NULL AND a.starts_at > {_AT} - interval '3 days' AND a.starts_at < {_AT} "
        f"AND {_LOCAL_DAY} = {_LOCAL_TODAY} - 1 "
        f"AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.dedupe_key = 'msgPaymentPending:' || a.id::text) "
        f"ORDER BY a.starts_at, a.id", at=at)


def claim_txids(pairs: Sequence[tuple[str, str]]) -> dict[str, str]:
    """Give each appointment without a PIX txid the proposed one (``(appointment id, txid)``), in one statement;
    every listed appointment's txid afterwards (its own when it already had one)."""
    if not pairs:
        return {}
    rows = db.run(
        "WITH v AS (SELECT * FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS v(id uuid, txid text)), "
        "claimed AS (UPDATE appointments a SET pix_txid = v.txid, updated_at = now() FROM v "
        "  WHERE a.id = v.id AND a.pix_txid IS NULL RETURNING a.id, a.pix_txid) "
        "SELECT v.id::text, COALESCE(claimed.pix_txid, a.pix_txid) FROM v "
        "JOIN appointments a ON a.id = v.id LEFT JOIN claimed ON claimed.id = v.id",
        rows=json.dumps([{"id": aid, "txid": txid} for aid, txid in pairs]))
    return {aid: txid for aid, txid in rows if txid}


def trials_ending(at: datetime, *, days: int) -> list[dict[str, Any]]:
    """Professionals still on the free plan whose trial ends on their local today + ``days``, not told for this
    trial yet (the key holds the trial's end: a new trial is told again)."""
    key = "'msgTrialEndingSoon:' || p.id::text || ':' || floor(extract(epoch FROM p.trial_ends_at))::bigint::text"
    return db.all(
        f"SELECT p.id::text AS professional_id, p.name AS professional_name, p.phone, p.timezone, p.trial_ends_at, "
        f"{key} AS dedupe_key FROM professionals p "
        f"WHERE p.plan = 'free' AND p.trial_ends_at > {_AT} "
        f"AND p.trial_ends_at < {_AT} + make_interval(days => :days + 2) "
        f"AND (p.trial_ends_at AT TIME ZONE p.timezone)::date = {_LOCAL_TODAY} + :days "
        f"AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.dedupe_key = {key}) ORDER BY p.id", at=at, days=days)


def insert_outbox(rows: Sequence[dict[str, Any]]) -> list[tuple[str, str]]:
    """Queue rendered outbound rows in one ``INSERT … SELECT`` (keys: pid, cid, template, body, recipient,
    to_phone, locale, params, aid, starts_at, dedupe_key); ``(id, to_phone)`` of those whose key was new."""
    if not rows:
        return []
    payload = json.dumps([{**row, "starts_at": row["starts_at"].isoformat() if row.get("starts_at") else None}
                          for row in rows], ensure_ascii=False)
    result = db.run(
        "INSERT INTO messages (professional_id, client_id, direction, channel, template, body, status, recipient, "
        "to_phone, locale, params, appointment_id, appointment_starts_at, dedupe_key, automatic) "
        "SELECT v.pid, v.cid, 'outbound', 'whatsapp', v.template, v.body, 'queued', v.recipient, v.to_phone, "
        "v.locale, v.params, v.aid, v.starts_at, v.dedupe_key, true "
        "FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS v(pid uuid, cid uuid, template text, body text, "
        "recipient text, to_phone text, locale text, params jsonb, aid uuid, starts_at timestamptz, dedupe_key text) "
        "ON CONFLICT (dedupe_key) DO NOTHING RETURNING id::text, to_phone",
        rows=payload)
    return [(message_id, phone) for message_id, phone in result]


def stamp_enqueued(stamps: Sequence[tuple[str, datetime]]) -> None:
    """``enqueued_at`` per row: when its (delayed) SQS message becomes visible, so the sweep's staleness counts
    from then and does not re-send a paced message early (only rows still queued)."""
    if stamps:
        db.run("UPDATE messages m SET enqueued_at = v.at FROM jsonb_to_recordset(CAST(:rows AS jsonb)) "
               "AS v(id uuid, at timestamptz) WHERE m.id = v.id AND m.status = 'queued'",
               rows=json.dumps([{"id": mid, "at": at.isoformat()} for mid, at in stamps]))
