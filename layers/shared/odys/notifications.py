"""In-app notifications: the one place where the system tells a professional (or client) something happened.

    notify_professional(pid, "plan_limit_reached", "Limite do plano atingido", "...", dedupe_key="plan-limit:pid:2026-11")
    notify_professional(pid, "booking_created", "Novo agendamento", "Bia agendou ...", client_id=cid)

A ``dedupe_key`` makes the notice at-most-once (e.g. once per month). A notice about a client names it with
``client_id``: deleting the client (or the professional) deletes the notice with everything else about them. Channels beyond in-app (WhatsApp templates)
hang off :func:`notify_professional`, so every caller gets them when they are added.
"""

from __future__ import annotations

from odys import db


def notify_professional(professional_id: str, kind: str, title: str, body: str = "", *,
                        client_id: str | None = None, dedupe_key: str | None = None) -> bool:
    """Record a notification; returns False when ``dedupe_key`` was already used (nothing written)."""
    rows = db.run(
        "INSERT INTO notifications (recipient_type, recipient_id, professional_id, client_id, kind, title, body, "
        "dedupe_key) VALUES ('professional', :rid, :rid, CAST(:cid AS uuid), :kind, :title, :body, :dedupe) "
        "ON CONFLICT (dedupe_key) DO NOTHING RETURNING id",
        rid=professional_id, cid=client_id, kind=kind, title=title, body=body, dedupe=dedupe_key)
    return bool(rows)
