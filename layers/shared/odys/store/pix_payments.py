"""SQL for the PIX payments a PSP confirmed (one row per endToEndId) and the appointment they pay.

    record(pid, appointment_id, end_to_end_id="E…", txid="…", amount_cents=15000, paid_at=when,
           payer_name_masked="Fu*** de T**", source="webhook")     # True only the first time
    record_refund(pid, end_to_end_id, refunded_cents)               # the total refunded so far
    kept_cents(pid, appointment_id)                                 # what its payments hold after refunds
    static_appointment(pid, txid)                                   # the appointment a static code's txid names
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from odys import db


def record(professional_id: str, appointment_id: str | None, *, end_to_end_id: str, txid: str, amount_cents: int,
           paid_at: dt.datetime, payer_name_masked: str | None, source: str) -> bool:
    return bool(db.run(
        "INSERT INTO pix_payments (end_to_end_id, professional_id, appointment_id, txid, amount_cents, paid_at, "
        "payer_name_masked, source) VALUES (:e2e, :pid, :aid, :txid, :amount, :paid_at, :payer, :source) "
        "ON CONFLICT (end_to_end_id) DO NOTHING RETURNING end_to_end_id",
        e2e=end_to_end_id, pid=professional_id, aid=appointment_id, txid=txid, amount=amount_cents, paid_at=paid_at,
        payer=payer_name_masked, source=source))


def get(professional_id: str, end_to_end_id: str) -> dict[str, Any] | None:
    return db.one("SELECT end_to_end_id, appointment_id, txid, amount_cents, refunded_cents FROM pix_payments "
                  "WHERE professional_id = :pid AND end_to_end_id = :e2e", pid=professional_id, e2e=end_to_end_id)


def record_refund(professional_id: str, end_to_end_id: str, refunded_cents: int) -> bool:
    """Store the refunded total when it grew; True when it did."""
    return bool(db.run("UPDATE pix_payments SET refunded_cents = :cents WHERE professional_id = :pid "
                       "AND end_to_end_id = :e2e AND refunded_cents < :cents RETURNING end_to_end_id",
                       pid=professional_id, e2e=end_to_end_id, cents=refunded_cents))


def kept_cents(professional_id: str, appointment_id: str) -> int:
    """What the PIX payments recorded for the appointment still hold after their refunds (0: all came back)."""
    return int(db.scalar("SELECT coalesce(sum(amount_cents - refunded_cents), 0) FROM pix_payments "
                         "WHERE professional_id = :pid AND appointment_id = :aid",
                         pid=professional_id, aid=appointment_id))


def for_appointment(professional_id: str, appointment_id: str) -> list[dict[str, Any]]:
    return db.all("SELECT end_to_end_id, txid, amount_cents, refunded_cents, paid_at, payer_name_masked, source "
                  "FROM pix_payments WHERE professional_id = :pid AND appointment_id = :aid ORDER BY paid_at",
                  pid=professional_id, aid=appointment_id)


def static_appointment(professional_id: str, txid: str) -> dict[str, Any] | None:
    """The professional's appointment whose static BR Code carries ``txid`` (appointments.pix_txid)."""
    return db.one("SELECT id, price FROM appointments WHERE professional_id = :pid AND pix_txid = :txid",
                  pid=professional_id, txid=txid)
