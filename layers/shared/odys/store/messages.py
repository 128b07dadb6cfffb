"""SQL of ``messages``: the WhatsApp outbox (queue, enqueue, sweep), the sender's, the webhook's and the
conversation's statements. Each part appends its own functions at the end of this module.

    from odys.store import messages
    message_id = messages.insert_queued(professional_id=pid, client_id=cid, template="msgReminder24h",
                                        body="...", recipient="client", to_phone="+5511987654321",
                                        params={"client_name": "Ana"}, dedupe_key="reminder24h:<appointment>")
    messages.clear_enqueued([message_id])              # its SQS send failed: the sweep takes it
    messages.claim_stale(now, limit=100)                # the sweep: ids of queued rows nobody enqueued recently
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from odys import db
from odys.errors import NotFound
from odys.store import notifications

# Outbox ------------------------------------------------------------------------------------------------------

# A queued row is re-enqueued by the sweep when it was created more than SETTLE ago (its own after-commit
# enqueue had its chance) and was never enqueued, or last enqueued more than STALE ago (the SQS message was lost,
# or its retries ran out into the dead-letter queue).
SETTLE = timedelta(minutes=1)
STALE = timedelta(minutes=5)


_INSERT_QUEUED = (
    "INSERT INTO messages (id, professional_id, client_id, direction, channel, template, body, status, recipient, "
    "to_phone, locale, params, appointment_id, appointment_starts_at, dedupe_key, automatic, enqueued_at) "
    "VALUES (coalesce(CAST(:id AS uuid), gen_random_uuid()), :pid, :cid, 'outbound', 'whatsapp', :template, :body, "
    "'queued', :recipient, :to_phone, :locale, CAST(:params AS jsonb), :aid, :starts_at, :dedupe_key, :automatic, "
    "now()) ON CONFLICT (dedupe_key) DO NOTHING")


def insert_queued(*, professional_id: str, client_id: str | None, template: str | None, body: str,
                  recipient: str, to_phone: str, locale: str = "pt-BR", params: dict[str, str] | None = None,
                  appointment_id: str | None = None, appointment_starts_at: datetime | None = None,
                  dedupe_key: str | None = None, automatic: bool = True,
                  at_commit_id: str | None = None) -> str | None:
    """A new outbound ``queued`` WhatsApp row (in the caller's transaction); None when ``dedupe_key`` exists.

    ``enqueued_at`` is stamped now: the row's id goes to SQS right after the commit, and only a failed send clears
    the stamp (:func:`clear_enqueued`), so the sweep re-sends a row that never made it one :data:`STALE` later.
    ``at_commit_id``: the row is written with the transaction's COMMIT (:func:`odys.db.defer`) under this id,
    which is returned (the caller's dedupe key must be new: a used one writes nothing).
    """
    values = dict(pid=professional_id, cid=client_id, template=template, body=body, recipient=recipient,
                  to_phone=to_phone, locale=locale,
                  params=None if params is None else json.dumps(params, ensure_ascii=False), aid=appointment_id,
                  starts_at=appointment_starts_at, dedupe_key=dedupe_key, automatic=automatic)
    if at_commit_id is not None:
        db.defer(_INSERT_QUEUED, id=at_commit_id, **values)
        return at_commit_id
    return db.scalar(_INSERT_QUEUED + " RETURNING id::text", id=None, **values)


def clear_enqueued(ids: list[str]) -> None:
    """These rows' SQS send failed: the sweep re-sends them once they are :data:`SETTLE` old."""
    if ids:
        db.run("UPDATE messages SET enqueued_at = NULL WHERE id = ANY(CAST(:ids AS uuid[])) AND status = 'queued'",
               ids=ids)


def claim_stale(now: datetime, *, limit: int) -> list[str]:
    """Ids of stale queued rows (see SETTLE/STALE), oldest first, marked enqueued at ``now`` so that a concurrent
    sweep does not take them too; :func:`unclaim` gives back the ones that could not be sent."""
    rows = db.run(
        "UPDATE messages SET enqueued_at = :now WHERE id IN ("
        " SELECT id FROM messages WHERE status = 'queued' AND created_at < :settled"
        " AND (enqueued_at IS NULL OR enqueued_at < :stale)"
        " ORDER BY created_at, id LIMIT :limit FOR UPDATE SKIP LOCKED) "
        "RETURNING id::text",
        now=now, settled=now - SETTLE, stale=now - STALE, limit=limit)
    return [row[0] for row in rows]


def unclaim(ids: list[str], *, claimed_at: datetime) -> None:
    """Undo :func:`claim_stale` for rows whose SQS message did not go out (the next sweep takes them again)."""
    if ids:
        db.run("UPDATE messages SET enqueued_at = NULL WHERE id = ANY(CAST(:ids AS uuid[])) AND status = 'queued' "
               "AND enqueued_at = :at", ids=ids, at=claimed_at)


def outbox_row(message_id: str) -> dict[str, Any] | None:
    """One message's outbox columns (tests, diagnostics)."""
    return db.one("SELECT id::text, professional_id::text, client_id::text, template, body, status, recipient, "
                  "to_phone, locale, params, appointment_id::text, appointment_starts_at, dedupe_key, automatic, "
                  "attempts, enqueued_at, created_at FROM messages WHERE id = :id", id=message_id)


# Conversation (GET/POST /api/messages) --------------------------------------------------------------------------

CONVERSATION_COLUMNS = ("id::text, direction, channel, template, body, status, skip_reason, error_code, error, "
                        "automatic, created_at, sent_at, delivered_at, read_at, failed_at")


def conversation_page(professional_id: str, client_id: str, *, limit: int,
                      after: tuple[datetime, str] | None = None) -> list[dict[str, Any]]:
    """Up to ``limit`` messages between the professional and one client, newest first (created_at DESC, id DESC),
    after the keyset ``after`` when given (index ``messages_conversation``)."""
    keyset = ""
    params: dict[str, Any] = {"pid": professional_id, "cid": client_id, "limit": limit}
    if after is not None:
        keyset = " AND (created_at, id) < (CAST(:after_at AS timestamptz), CAST(:after_id AS uuid))"
        params.update(after_at=after[0], after_id=after[1])
    return db.all(f"SELECT {CONVERSATION_COLUMNS} FROM messages WHERE professional_id = :pid AND client_id = :cid"
                  f" AND recipient IS DISTINCT FROM 'professional'"  # not the professional's own notices about them
                  f"{keyset} ORDER BY created_at DESC, id DESC LIMIT :limit", **params)


def conversation_message(professional_id: str, message_id: str) -> dict[str, Any] | None:
    return db.one(f"SELECT {CONVERSATION_COLUMNS} FROM messages WHERE professional_id = :pid AND id = :id",
                  pid=professional_id, id=message_id)


def last_inbound_at(professional_id: str, client_id: str) -> datetime | None:
    """When the client last wrote to this professional (opens the 24 h customer-service window)."""
    return db.scalar("SELECT max(created_at) FROM messages WHERE professional_id = :pid AND client_id = :cid "
                     "AND direction = 'inbound'", pid=professional_id, cid=client_id)


# Sender (odys.sender) ---------------------------------------------------------------------------------------------
# The writes whose result the sender does not read go with its transaction's COMMIT (odys.db.defer; at once outside
# a transaction): a record costs the locked read and the COMMIT round trip, plus the Cloud API call between them.


def lock_for_send(message_id: str, now: datetime) -> dict[str, Any] | None:
    """The outbound row with everything the send-time decision needs, in one statement, locked for the caller's
    transaction; None when it does not exist or another sender holds it (``SKIP LOCKED``).

    Besides the row: the professional's, client's and appointment's state; ``template_enabled`` (the professional
    did not switch the template off, :func:`odys.store.message_templates.is_enabled`), ``paused_until`` (the
    account-level pause in force at ``now``, :func:`sending_paused_until`), ``text_override`` (the professional's
    wording of the template in the row's locale, :func:`odys.store.message_templates.text_override`) and, when there
    is one, ``last_inbound_at`` (when the client last wrote to this professional, :func:`last_inbound_at`).
    """
    return db.one(
        "SELECT m.id::text, m.professional_id::text, m.client_id::text, m.template, m.body, m.status, m.recipient, "
        "m.to_phone, m.locale, m.params, m.appointment_id::text, m.appointment_starts_at, m.automatic, m.attempts, "
        "m.created_at, "
        "p.whatsapp_enabled, p.plan, p.trial_ends_at, c.wa_id AS client_wa_id, c.whatsapp_opted_out_at, "
        "a.status AS appointment_status, a.starts_at AS appointment_current_start, "
        "a.payment_status AS appointment_payment_status, "
        "(SELECT coalesce(bool_and(t.enabled), true) FROM message_templates t "
        " WHERE t.professional_id = m.professional_id AND t.key = m.template) AS template_enabled, "
        "(SELECT s.paused_until FROM whatsapp_state s WHERE s.paused_until > :now) AS paused_until, "
        "o.body AS text_override, "
        "CASE WHEN o.body IS NOT NULL AND m.client_id IS NOT NULL THEN (SELECT max(i.created_at) FROM messages i "
        " WHERE i.professional_id = m.professional_id AND i.client_id = m.client_id AND i.direction = 'inbound') "
        "END AS last_inbound_at "
        "FROM messages m JOIN professionals p ON p.id = m.professional_id "
        "LEFT JOIN clients c ON c.id = m.client_id LEFT JOIN appointments a ON a.id = m.appointment_id "
        "LEFT JOIN message_templates o ON o.professional_id = m.professional_id AND o.key = m.template "
        "AND o.locale = m.locale "
        "WHERE m.id = CAST(:id AS uuid) AND m.direction = 'outbound' FOR UPDATE OF m SKIP LOCKED",
        id=message_id, now=now)


def sending_paused_until(now: datetime) -> datetime | None:
    """When the account-level pause ends, if one is in force at ``now``."""
    return db.scalar("SELECT paused_until FROM whatsapp_state WHERE paused_until > :now", now=now)


def pause_sending(until: datetime, *, code: int | None, reason: str) -> None:
    """Pause every send until ``until`` (an earlier end never shortens a longer pause in force)."""
    db.defer("INSERT INTO whatsapp_state AS s (id, paused_until, pause_code, pause_reason) "
             "VALUES (true, :until, :code, left(:reason, 200)) ON CONFLICT (id) DO UPDATE SET "
             "paused_until = GREATEST(COALESCE(s.paused_until, :until), :until), pause_code = :code, "
             "pause_reason = left(:reason, 200), updated_at = now()",
             until=until, code=code, reason=reason)


def mark_skipped(message_id: str, reason: str) -> None:
    db.defer("UPDATE messages SET status = 'skipped', skip_reason = :reason, updated_at = now() "
             "WHERE id = CAST(:id AS uuid) AND status = 'queued'", id=message_id, reason=reason)


def count_attempt(message_id: str, *, at: datetime) -> None:
    """One more failed try, to be retried; the row is in SQS's hands again (``enqueued_at`` = ``at``, as
    :func:`requeued`)."""
    db.defer("UPDATE messages SET attempts = attempts + 1, enqueued_at = :at, updated_at = now() "
             "WHERE id = CAST(:id AS uuid)", id=message_id, at=at)


def requeued(message_id: str, *, at: datetime) -> None:
    """The sender left the row's SQS message to be delivered again: ``enqueued_at`` = ``at``, so the sweep does not
    re-enqueue it before :data:`STALE`."""
    db.defer("UPDATE messages SET enqueued_at = :at WHERE id = CAST(:id AS uuid) AND status = 'queued'",
             id=message_id, at=at)


def mark_failed(message_id: str, *, code: int | None, error: str, at: datetime) -> None:
    db.defer("UPDATE messages SET status = 'failed', error_code = :code, error = left(:error, 500), "
             "failed_at = :at, attempts = attempts + 1, updated_at = now() "
             "WHERE id = CAST(:id AS uuid) AND status = 'queued'", id=message_id, code=code, error=error, at=at)


def mark_sent(message_id: str, *, wamid: str, wa_id: str | None, at: datetime, body: str | None = None,
              reminder_of: str | None = None, client_id: str | None = None) -> None:
    """Meta accepted it, all in one statement sent with the transaction's COMMIT (:func:`odys.db.defer`): its
    wamid, the recipient's wa_id, ``sent`` (``body`` when a free-form variant went out); the appointment
    ``reminder_of`` gets its ``reminder_sent_at``; the client ``client_id`` remembers the wa_id (inbound messages
    come from it).

    And the statuses that arrived before the wamid was stored (``whatsapp_statuses`` rows for that wamid or our
    message id) are linked to the message and applied: delivered/read/failed times and the furthest status (sent <
    delivered < read; failed only over sent).
    """
    db.defer(
        "WITH waiting AS (UPDATE whatsapp_statuses SET message_id = CAST(:id AS uuid) "
        " WHERE (provider_message_id = :wamid OR message_id = CAST(:id AS uuid)) "
        " RETURNING status, occurred_at, error_code, error_title), "
        "s AS (SELECT status, min(occurred_at) AS at, (array_agg(error_code ORDER BY occurred_at))[1] AS code, "
        " (array_agg(error_title ORDER BY occurred_at))[1] AS title FROM waiting GROUP BY status), "
        "sent AS (UPDATE messages m SET provider_message_id = :wamid, wa_id = :wa_id, sent_at = :at, "
        " attempts = m.attempts + 1, body = COALESCE(:body, m.body), "
        " delivered_at = COALESCE(m.delivered_at, (SELECT at FROM s WHERE status = 'delivered')), "
        " read_at = COALESCE(m.read_at, (SELECT at FROM s WHERE status = 'read')), "
        " failed_at = COALESCE(m.failed_at, (SELECT at FROM s WHERE status = 'failed')), "
        " error_code = COALESCE(m.error_code, (SELECT code FROM s WHERE status = 'failed')), "
        " error = COALESCE(m.error, (SELECT title FROM s WHERE status = 'failed')), "
        " status = CASE WHEN EXISTS (SELECT 1 FROM s WHERE status = 'read') THEN 'read' "
        "  WHEN EXISTS (SELECT 1 FROM s WHERE status = 'delivered') THEN 'delivered' "
        "  WHEN EXISTS (SELECT 1 FROM s WHERE status = 'failed') THEN 'failed' ELSE 'sent' END, "
        " updated_at = now() "
        " WHERE m.id = CAST(:id AS uuid) AND m.status = 'queued' RETURNING m.status), "
        "reminded AS (UPDATE appointments SET reminder_sent_at = :at WHERE id = CAST(:reminder AS uuid)), "
        "known AS (UPDATE clients SET wa_id = :wa_id, updated_at = now() WHERE id = CAST(:client AS uuid) "
        " AND wa_id IS DISTINCT FROM :wa_id) "
        "SELECT 1",
        id=message_id, wamid=wamid, wa_id=wa_id, at=at, body=body, reminder=reminder_of, client=client_id)


# Webhook: delivery statuses -------------------------------------------------------------------------------------

# A status moves a message only forwards along this order (so `read` may skip `delivered`, a replayed or late
# `sent` never undoes `delivered`, `failed` only overrides queued/sent, and a later `delivered`/`read` from another
# device beats `failed`). The order does not depend on the order statuses arrive in. Statuses that arrive before
# the sender stored the wamid wait in `whatsapp_statuses`; the sender applies them (mark_sent above).
STATUS_ORDER = ("queued", "sent", "failed", "delivered", "read")
_RANK = "array_position(ARRAY['queued', 'sent', 'failed', 'delivered', 'read'], {})"


def record_and_apply_status(*, wamid: str, status: str, occurred_at: datetime, error_code: int | None,
                            error_title: str | None, message_id: str | None) -> str:
    """One status, in one statement: kept in ``whatsapp_statuses`` (deduplicated by (wamid, status); ``message_id``,
    our id from ``biz_opaque_callback_data``, only when such a message exists), then applied to the outbound message
    it is about (by wamid, else by our id) with the precedence of :data:`STATUS_ORDER`.

    The outcome: ``duplicate`` (kept before: nothing done), ``waiting`` (no message carries this wamid yet: the
    sender applies it when it stores the wamid), ``applied`` (the message's status moved) or ``kept`` (it did not;
    the matching ``*_at`` is filled once, and ``failed`` records its time and Meta's code and title even when a
    success already outranks it, as :func:`mark_sent` does).

    The message is locked first (``target``): a sender still storing its wamid holds that lock, so this waits, then
    reads the row as the sender committed it. The UPDATE therefore tests the wamid on ``target`` (the locked row),
    never on its own scan, which sees the statement's snapshot.
    """
    new, old = _RANK.format("CAST(:status AS text)"), _RANK.format("status")
    row = db.one(
        "WITH recorded AS (INSERT INTO whatsapp_statuses (provider_message_id, status, occurred_at, error_code, "
        " error_title, message_id) VALUES (:wamid, :status, :at, :code, :title, "
        " (SELECT id FROM messages WHERE id = CAST(:mid AS uuid))) "
        " ON CONFLICT (provider_message_id, status) DO NOTHING RETURNING 1), "
        "target AS (SELECT id AS target_id, provider_message_id AS target_wamid, status AS before FROM messages "
        " WHERE EXISTS (SELECT 1 FROM recorded) AND direction = 'outbound' "
        " AND (provider_message_id = :wamid OR id = CAST(:mid AS uuid)) "
        " ORDER BY (provider_message_id = :wamid) DESC NULLS LAST LIMIT 1 FOR UPDATE), "
        "moved AS (UPDATE messages SET "
        f" status = CASE WHEN {new} > {old} THEN CAST(:status AS text) ELSE status END, "
        " sent_at = CASE WHEN :status IN ('sent', 'delivered', 'read') THEN coalesce(sent_at, :at) ELSE sent_at END, "
        " delivered_at = CASE WHEN :status = 'delivered' THEN coalesce(delivered_at, :at) ELSE delivered_at END, "
        " read_at = CASE WHEN :status = 'read' THEN coalesce(read_at, :at) ELSE read_at END, "
        " failed_at = CASE WHEN :status = 'failed' THEN coalesce(failed_at, :at) ELSE failed_at END, "
        " error_code = CASE WHEN :status = 'failed' THEN coalesce(error_code, CAST(:code AS integer)) "
        " ELSE error_code END, "
        " error = CASE WHEN :status = 'failed' THEN coalesce(error, CAST(:title AS text)) ELSE error END, "
        " updated_at = now() "
        f" FROM target WHERE id = target_id AND target_wamid = :wamid AND {old} IS NOT NULL "
        " RETURNING status <> before AS moved) "
        "SELECT EXISTS (SELECT 1 FROM recorded) AS recorded, "
        "EXISTS (SELECT 1 FROM target WHERE target_wamid = :wamid) AS matched, "
        "coalesce((SELECT moved FROM moved), false) AS moved",
        wamid=wamid, status=status, at=occurred_at, code=error_code if status == "failed" else None,
        title=error_title if status == "failed" else None, mid=message_id)
    assert row is not None
    if not row["recorded"]:
        return "duplicate"
    if not row["matched"]:
        return "waiting"
    return "applied" if row["moved"] else "kept"


# Webhook: inbound messages --------------------------------------------------------------------------------------

def clients_for_sender(*, wa_id: str | None, wa_user_id: str | None,
                       phones: list[str]) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Every client (of any professional) this WhatsApp sender is: by stored ``wa_id``, by Meta's ``user_id``,
    or by phone (``phones``: the E.164 variants) unless that client is known under another ``wa_id``; and, in the
    same statement, the latest message that went out to any of them (:data:`REPLY_COLUMNS`, the conversation an
    unquoted reply answers), or None."""
    rows = db.all(
        "WITH c AS (SELECT id, professional_id, name, phone, wa_id, whatsapp_opted_out_at, created_at FROM clients "
        " WHERE wa_id = :wa OR wa_user_id = :uid "
        " OR (phone = ANY(CAST(:phones AS text[])) AND (wa_id IS NULL OR wa_id = :wa)) "
        " ORDER BY created_at DESC, id DESC LIMIT 50) "
        "SELECT c.id::text, c.professional_id::text, c.name, c.phone, c.wa_id, c.whatsapp_opted_out_at, "
        "latest.id AS latest_id, latest.professional_id AS latest_professional_id, "
        "latest.client_id AS latest_client_id, latest.appointment_id AS latest_appointment_id, "
        "latest.locale AS latest_locale "
        "FROM c LEFT JOIN LATERAL (SELECT id::text, professional_id::text, client_id::text, appointment_id::text, "
        " locale FROM messages WHERE client_id IN (SELECT id FROM c) AND direction = 'outbound' "
        " AND recipient = 'client' AND status NOT IN ('queued', 'skipped') "
        " ORDER BY created_at DESC, id DESC LIMIT 1) latest ON true "
        "ORDER BY c.created_at DESC, c.id DESC",
        wa=wa_id, uid=wa_user_id, phones=phones)
    latest_keys = ("id", "professional_id", "client_id", "appointment_id", "locale")
    latest = {k: rows[0][f"latest_{k}"] for k in latest_keys} if rows and rows[0]["latest_id"] else None
    return [{k: v for k, v in r.items() if not k.startswith("latest_")} for r in rows], latest


REPLY_COLUMNS = "id::text, professional_id::text, client_id::text, appointment_id::text, locale"


def outbound_by_provider_id(wamid: str) -> dict[str, Any] | None:
    """The outbound client message Meta knows as ``wamid`` (what an inbound ``context.id`` quotes). A notice sent
    to the professional about a client is not one: their reply is not the client's."""
    return db.one(f"SELECT {REPLY_COLUMNS} FROM messages WHERE provider_message_id = :wamid "
                  "AND direction = 'outbound' AND recipient = 'client'", wamid=wamid)


def outbound_message(message_id: str) -> dict[str, Any] | None:
    """One outbound client message by our id (the message a quick-reply payload names)."""
    return db.one(f"SELECT {REPLY_COLUMNS} FROM messages WHERE id = CAST(:id AS uuid) AND direction = 'outbound' "
                  "AND recipient = 'client'", id=message_id)


def insert_inbound(*, professional_id: str, client_id: str, wamid: str, body: str, wa_id: str | None,
                   context_id: str | None, received_at: datetime, remember: list[str] | None = None,
                   wa_user_id: str | None = None,
                   notice: dict[str, str] | None = None) -> dict[str, Any] | None:
    """Store a ``received`` message; None when this wamid was stored already (Meta redelivers), else its client
    (``id``, ``name``, ``phone``). Only when it is stored, and in the same statement: the WhatsApp ids it carried
    (``wa_id``, ``wa_user_id``) are kept on the clients ``remember``, and with ``notice`` (``kind``, ``title``,
    ``body``: a ``format()`` pattern whose ``%s`` is the client's name) the professional is notified about the
    client in-app. :class:`NotFound` ("client") when the client (or the professional) was deleted meanwhile."""
    told = ""
    if notice is not None:
        told = ", told AS ({})".format(notifications.insert_sql(
            client="stored.client_id", body="format(:body_format, c.name)",
            source="FROM stored JOIN clients c ON c.id = stored.client_id"))
    try:
        return db.one(
            "WITH stored AS (INSERT INTO messages (professional_id, client_id, direction, channel, body, status, "
            " provider_message_id, wa_id, context_provider_id, created_at, updated_at) VALUES (:pid, :cid, "
            " 'inbound', 'whatsapp', :body, 'received', :wamid, :wa, :context, :at, :at) "
            " ON CONFLICT (provider_message_id) DO NOTHING RETURNING client_id), "
            "ids AS (UPDATE clients SET wa_id = coalesce(CAST(:wa AS text), wa_id), "
            " wa_user_id = coalesce(CAST(:uid AS text), wa_user_id), updated_at = now() "
            " WHERE id = ANY(CAST(:ids AS uuid[])) AND EXISTS (SELECT 1 FROM stored) "
            " AND (wa_id IS DISTINCT FROM coalesce(CAST(:wa AS text), wa_id) "
            " OR wa_user_id IS DISTINCT FROM coalesce(CAST(:uid AS text), wa_user_id)))"
            f"{told} "
            "SELECT c.id::text, c.name, c.phone FROM stored JOIN clients c ON c.id = stored.client_id",
            pid=professional_id, cid=client_id, body=body, wamid=wamid, wa=wa_id, context=context_id, at=received_at,
            uid=wa_user_id, ids=remember or [], **({"rid": professional_id, "kind": notice["kind"],
                                                    "title": notice["title"], "body_format": notice["body"],
                                                    "dedupe": None} if notice else {}))
    except db.DatabaseError as error:
        if db.sqlstate(error)[0] == "23503":  # a foreign key: the client or the professional is gone
            raise NotFound("client") from None
        raise


def opt_out(client_ids: list[str], *, at: datetime) -> list[str]:
    """Opt these clients out of automatic WhatsApp messages; the ids that were not opted out yet."""
    if not client_ids:
        return []
    rows = db.run("UPDATE clients SET whatsapp_opted_out_at = :at, updated_at = now() "
                  "WHERE id = ANY(CAST(:ids AS uuid[])) AND whatsapp_opted_out_at IS NULL RETURNING id::text",
                  ids=client_ids, at=at)
    return [row[0] for row in rows]


def record_quick_reply_use(*, use_id: str, professional_id: str, appointment_id: str, action: str,
                           at: datetime) -> bool:
    """A quick-reply payload acts once: False when it was used already."""
    return bool(db.run(
        "INSERT INTO quick_reply_uses (payload_id, professional_id, appointment_id, action, used_at) "
        "VALUES (:use_id, :pid, :aid, :action, :at) ON CONFLICT (payload_id) DO NOTHING RETURNING 1",
        use_id=use_id, pid=professional_id, aid=appointment_id, action=action, at=at))
