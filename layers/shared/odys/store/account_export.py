"""SQL of :mod:`odys.account_export`: what a professional's export holds, table by table, column by column.

    with db.transaction():
        snapshot()                                          # one consistent, read-only view of every table
        profile(pid); follower_count(pid)
        for section in SECTIONS:
            for texts in json_batches(section, pid):        # server-side cursor, BATCH rows per FETCH, as JSON
                ...
        for batch in csv_batches("appointments", pid, timezone="America/Sao_Paulo"):
            ...

Every column that leaves is named here (``Section.columns``), so the document's shape changes only when this file
does; a column left out is listed with the reason in ``EXCLUDED_COLUMNS``, and a table holding a professional's
rows (a ``professional_id`` column, or a chain of foreign keys to ``professionals``) that is not exported is listed
in ``EXCLUDED_TABLES`` (tests/test_account_export.py fails on a table or column in neither). Booking links in
messages leave without their token (``REDACTED_TOKEN``): it is the client's key to their booking.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from odys import db

BATCH = 1000  # rows per FETCH: ~0.6 MB of JSON for notes of 600 characters, 10 MB at worst (10,000 each)
CURSOR = "account_export_rows"


@dataclass(frozen=True)
class Section:
    """One array of the document: ``key`` <- ``table``'s ``columns`` of the professional, ``order``ed; each row an
    object of the columns in camelCase (``client_id`` -> ``clientId``)."""

    key: str
    table: str
    columns: tuple[str, ...]
    order: str = "created_at, id"
    expressions: tuple[tuple[str, str], ...] = ()  # (column, the SQL that writes it) where it is not the column

    def json_row(self) -> str:
        """The SQL rendering a row as JSON text: PostgreSQL writes it (ISO 8601 times, nested jsonb, escapes), so
        no value is parsed into Python and printed again."""
        written = {**_JSON_EXPRESSIONS, **dict(self.expressions)}
        pairs = ", ".join(f"'{camel(c)}', {written.get(c, c)}" for c in self.columns)
        return f"CAST(json_build_object({pairs}) AS text)"


def camel(column: str) -> str:
    """
    >>> camel("recurring_schedule_id")
    'recurringScheduleId'
    """
    first, *rest = column.split("_")
    return first + "".join(word.capitalize() for word in rest)


# A booking link's token (odys.booking_tokens: 28 + "." + 22 URL-safe characters after "/b/") is the client's key to
# their booking: messages keep it in their text and parameters, the export leaves it out ("/b/" + REDACTED_TOKEN).
REDACTED_TOKEN = "token-removido"
_BOOKING_TOKEN = r"/b/[A-Za-z0-9_-]{28}\.[A-Za-z0-9_-]{22}"


def _without_booking_tokens(sql_text: str) -> str:
    return f"regexp_replace({sql_text}, '{_BOOKING_TOKEN}', '/b/{REDACTED_TOKEN}', 'g')"


# Columns whose JSON is not PostgreSQL's own: wall-clock times as "HH:MM", as the API writes them.
_JSON_EXPRESSIONS = {"start_time": "to_char(start_time, 'HH24:MI')", "end_time": "to_char(end_time, 'HH24:MI')"}
# A message's text and parameters without booking tokens (a token's characters need no escaping in JSON:
# replacing them in the jsonb's text keeps it valid).
_MESSAGE_EXPRESSIONS = {"body": _without_booking_tokens("body"),
                        "params": f"CAST({_without_booking_tokens('CAST(params AS text)')} AS jsonb)"}


# The professional's own row: profile and settings (the subscription columns are SUBSCRIPTION_COLUMNS).
PROFILE_COLUMNS = (
    "id", "user_id", "name", "slug", "phone", "email", "profession", "bio", "avatar_url", "city", "timezone",
    "session_price", "session_duration_minutes", "buffer_minutes", "min_notice_minutes", "booking_window_days",
    "cancellation_notice_hours", "auto_confirm", "payment_type", "pix_key_type", "pix_key", "whatsapp_enabled",
    "created_at", "updated_at")
SUBSCRIPTION_COLUMNS = ("plan", "trial_ends_at", "stripe_customer_id", "stripe_subscription_id")

SECTIONS: tuple[Section, ...] = (
    Section("availability", "availability", ("id", "day_of_week", "start_time", "end_time"),
            order="day_of_week, start_time, id"),
    Section("clients", "clients", ("id", "name", "phone", "email", "whatsapp_opted_out_at", "link_erased_at",
                                   "created_at", "updated_at")),
    Section("recurringSchedules", "recurring_schedules", (
        "id", "client_id", "day_of_week", "start_time", "duration_minutes", "interval_weeks", "starts_on", "ends_on",
        "price", "active", "created_at", "updated_at")),
    Section("appointments", "appointments", (
        "id", "client_id", "recurring_schedule_id", "occurrence_date", "starts_at", "ends_at", "status",
        "payment_status", "price", "pix_txid", "notes", "client_notes", "reminder_sent_at", "created_at",
        "updated_at"), order="starts_at, id"),
    Section("clientNotes", "client_notes", ("id", "client_id", "body", "created_at", "updated_at")),
    Section("messages", "messages", (
        "id", "client_id", "appointment_id", "direction", "channel", "recipient", "to_phone", "template", "locale",
        "params", "body", "status", "automatic", "skip_reason", "error_code", "error", "created_at", "sent_at",
        "delivered_at", "read_at", "failed_at", "updated_at"), expressions=tuple(_MESSAGE_EXPRESSIONS.items())),
    Section("notifications", "notifications", (
        "id", "client_id", "recipient_type", "kind", "title", "body", "read_at", "created_at")),
    Section("reviews", "reviews", ("id", "client_id", "appointment_id", "rating", "comment", "hidden_at",
                                   "created_at")),
    Section("messageTemplates", "message_templates", (
        "id", "key", "locale", "body", "enabled", "created_at", "updated_at"), order="key, locale, id"),
    Section("deletionAudit", "deletion_audit", ("id", "actor", "action", "counts", "created_at")),
    Section("pixConnections", "pix_connections", (
        "provider", "pix_key", "api_base_url", "token_url", "status", "certificate_expires_at", "last_checked_at",
        "last_error", "created_at", "updated_at"), order="created_at"),
    Section("pixCharges", "pix_charges", (
        "txid", "appointment_id", "status", "amount_cents", "expires_at", "copy_and_paste", "created_at",
        "updated_at"), order="created_at, txid"),
    Section("pixPayments", "pix_payments", (
        "end_to_end_id", "appointment_id", "txid", "amount_cents", "refunded_cents", "paid_at", "payer_name_masked",
        "source", "created_at"), order="paid_at, end_to_end_id"),
)

# Tables a professional owns that the export leaves out, and why.
EXCLUDED_TABLES: dict[str, str] = {
    "follows": "the followers' own data (who follows is theirs): only their number is exported, followers.count",
    "idempotency_keys": "a 24-72 h replay guard of public bookings (hashes and the appointment it created)",
    "quick_reply_uses": "single-use guard of WhatsApp buttons; what a tap did is on its appointment",
    "whatsapp_statuses": "Meta's delivery receipts by wamid: their outcome is each message's sentAt, deliveredAt, "
                         "readAt, failedAt, errorCode and error",
}

# Columns of exported tables that stay out, and why (professional_id: the document is one professional's).
EXCLUDED_COLUMNS: dict[str, dict[str, str]] = {
    "professionals": {
        "stripe_checkout_session_id": "an open Stripe Checkout page, expired when a new one opens",
        "stripe_state_at": "internal ordering guard of Stripe events",
    },
    "clients": {
        "professional_id": "the document's professional",
        "user_id": "the client's own sign-in account (theirs; relinked from their verified phone or e-mail)",
        "wa_id": "WhatsApp's id of the phone number (the phone is exported)",
        "wa_user_id": "Meta's business-scoped id of the WhatsApp user",
    },
    "recurring_schedules": {
        "professional_id": "the document's professional",
        "materialized_until": "how far ahead occurrences were created (internal horizon)",
    },
    "appointments": {
        "professional_id": "the document's professional",
        "stripe_payment_intent_id": "not used: payments from clients are PIX, recorded in payment_status",
    },
    "client_notes": {"professional_id": "the document's professional"},
    "messages": {
        "professional_id": "the document's professional",
        "provider_message_id": "Meta's wamid (delivery tracking)",
        "dedupe_key": "internal: one message per event",
        "appointment_starts_at": "internal: a moved appointment's stale reminder is skipped",
        "attempts": "internal send attempts",
        "wa_id": "WhatsApp's id of the phone number (to_phone is exported)",
        "context_provider_id": "Meta's wamid of the message a reply answers",
        "enqueued_at": "internal queue bookkeeping",
    },
    "notifications": {
        "professional_id": "the document's professional",
        "recipient_id": "the professional's or the client's id (recipient_type and client_id say which)",
        "dedupe_key": "internal: one notice per event",
    },
    "reviews": {"professional_id": "the document's professional",
                "hidden_by": "the professional's own sign-in account (who hid it; hidden_at is exported)"},
    "message_templates": {"professional_id": "the document's professional"},
    "availability": {"professional_id": "the document's professional"},
    "deletion_audit": {"professional_id": "the document's professional"},
    "pix_connections": {
        "professional_id": "the document's professional",
        "credentials": "secret: the PSP client secret and certificate (sealed with KMS)",
        "webhook_token_hash": "secret: hash of the callback URL's token",
    },
    "pix_charges": {
        "professional_id": "the document's professional",
        "revision": "internal: the PSP charge's revision counter",
        "recheck_requested": "internal reconciliation bookkeeping",
        "checked_at": "internal reconciliation bookkeeping",
    },
    "pix_payments": {"professional_id": "the document's professional"},
}


def snapshot() -> None:
    """Make the current transaction one read-only snapshot (its first statement): all sections agree. Times in
    the JSON PostgreSQL writes are UTC (``2026-12-02T15:00:00+00:00``)."""
    db.run("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
    db.run("SET LOCAL TimeZone = 'UTC'")


def profile(professional_id: str) -> dict[str, Any] | None:
    columns = ", ".join(PROFILE_COLUMNS + SUBSCRIPTION_COLUMNS)
    return db.one(f"SELECT {columns} FROM professionals WHERE id = :pid", pid=professional_id)


def follower_count(professional_id: str) -> int:
    return int(db.scalar("SELECT count(*) FROM follows WHERE professional_id = :pid", pid=professional_id))


def _fetch_all(sql: str, **params: Any) -> Iterator[list[dict[str, Any]]]:
    """``sql``'s rows, BATCH at a time, through a server-side cursor of the current transaction."""
    db.run(f"DECLARE {CURSOR} NO SCROLL CURSOR FOR {sql}", **params)
    while batch := db.all(f"FETCH FORWARD {BATCH} FROM {CURSOR}"):
        yield batch
    db.run(f"CLOSE {CURSOR}")  # (on an error, the transaction's end closes it)


def json_batches(section: Section, professional_id: str) -> Iterator[list[str]]:
    """The professional's rows of ``section`` as JSON texts, in batches (call inside a transaction)."""
    for batch in _fetch_all(f"SELECT {section.json_row()} AS row FROM {section.table} "
                            f"WHERE professional_id = :pid ORDER BY {section.order}", pid=professional_id):
        yield [r["row"] for r in batch]


# --- spreadsheets: one query per kind, times as local date and wall-clock time in the professional's zone --------

_LOCAL = """to_char(a.starts_at AT TIME ZONE :tz, 'YYYY-MM-DD') AS date,
    to_char(a.starts_at AT TIME ZONE :tz, 'HH24:MI') AS start_time,
    to_char(a.ends_at AT TIME ZONE :tz, 'HH24:MI') AS end_time"""
_APPOINTMENTS_FROM = "appointments a JOIN clients c ON c.id = a.client_id AND c.professional_id = a.professional_id"

CSV_QUERIES: dict[str, str] = {
    "appointments": f"""SELECT {_LOCAL}, c.name AS client_name, c.phone AS client_phone, a.status, a.price,
        a.payment_status, a.recurring_schedule_id IS NOT NULL AS recurring, a.notes, a.client_notes, a.id::text AS id
        FROM {_APPOINTMENTS_FROM} WHERE a.professional_id = :pid ORDER BY a.starts_at, a.id""",
    "clients": """SELECT c.name, c.phone, c.email,
        to_char(c.created_at AT TIME ZONE :tz, 'YYYY-MM-DD') AS created_on,
        (SELECT count(*) FROM appointments a WHERE a.client_id = c.id AND a.professional_id = c.professional_id
            AND a.status = 'completed') AS completed_appointments,
        (SELECT to_char(max(a.starts_at) AT TIME ZONE :tz, 'YYYY-MM-DD') FROM appointments a
            WHERE a.client_id = c.id AND a.professional_id = c.professional_id
            AND a.status IN ('completed', 'no_show')) AS last_appointment_on,
        c.whatsapp_opted_out_at IS NOT NULL AS whatsapp_opted_out, c.id::text AS id
        FROM clients c WHERE c.professional_id = :pid ORDER BY lower(c.name), c.id""",
    # What was charged: every appointment with a payment recorded (paid, pending, refunded, waived), and every
    # priced one that still counts (not cancelled) and is unpaid.
    "payments": f"""SELECT {_LOCAL}, c.name AS client_name, c.phone AS client_phone, a.price, a.payment_status,
        a.status, a.pix_txid, a.id::text AS id
        FROM {_APPOINTMENTS_FROM} WHERE a.professional_id = :pid
            AND (a.payment_status <> 'unpaid' OR (a.price > 0 AND a.status <> 'cancelled'))
        ORDER BY a.starts_at, a.id""",
}


def csv_batches(what: str, professional_id: str, *, timezone: str) -> Iterator[list[dict[str, Any]]]:
    """The rows of spreadsheet ``what`` (a key of CSV_QUERIES) in batches (call inside a transaction)."""
    yield from _fetch_all(CSV_QUERIES[what], pid=professional_id, tz=timezone)
