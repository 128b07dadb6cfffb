"""SQL for an appointment's PIX code: who may see it, and its txid (assigned once).

    row = appointment_pix.visible_to(appointment_id, user_id)   # owning professional or the appointment's client
    txid = appointment_pix.claim_txid(appointment_id, pix.new_txid())
"""

from __future__ import annotations

from typing import Any

from odys import db


def visible_to(appointment_id: str, user_id: str) -> dict[str, Any] | None:
    """The appointment with its professional's PIX data, when ``user_id`` is its professional or its client."""
    return db.one(
        "SELECT a.professional_id, a.price, a.pix_txid, a.payment_status, p.name AS professional_name, p.slug, p.city, p.pix_key "
        "FROM appointments a JOIN professionals p ON p.id = a.professional_id "
        "JOIN clients c ON c.id = a.client_id AND c.professional_id = a.professional_id "
        "WHERE a.id = :id AND (p.user_id = :uid OR c.user_id = :uid)",
        id=appointment_id, uid=user_id)


def claim_txid(appointment_id: str, txid: str) -> str | None:
    """Store ``txid`` unless the appointment has one; returns the txid it has now (race-safe, first one wins).

    Raises ``db.DatabaseError`` (23505) in the astronomically unlikely case the txid is already used elsewhere.
    """
    rows = db.run("UPDATE appointments SET pix_txid = :txid WHERE id = :id AND pix_txid IS NULL RETURNING pix_txid",
                  id=appointment_id, txid=txid)
    if rows:
        return rows[0][0]
    return db.scalar("SELECT pix_txid FROM appointments WHERE id = :id", id=appointment_id)
