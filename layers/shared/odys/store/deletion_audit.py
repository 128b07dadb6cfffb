"""SQL of :mod:`odys.deletion_audit`: one row per deletion, no personal data (ids and counts only)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from odys import db

# What a professional's account holds, counted just before it goes (each table has a professional_id).
ACCOUNT_TABLES = ("clients", "appointments", "recurring_schedules", "client_notes", "messages", "availability",
                  "reviews", "follows", "notifications", "message_templates")
# What one client's record holds at their professional (each table has a client_id).
CLIENT_TABLES = ("appointments", "recurring_schedules", "client_notes", "messages", "reviews")


def count_account(professional_id: str) -> dict[str, int]:
    selects = ", ".join(f"(SELECT count(*) FROM {t} WHERE professional_id = :pid) AS {t}" for t in ACCOUNT_TABLES)
    return {k: int(v) for k, v in (db.one(f"SELECT {selects}", pid=professional_id) or {}).items()}


def count_client(professional_id: str, client_id: str) -> dict[str, int]:
    selects = ", ".join(f"(SELECT count(*) FROM {t} WHERE professional_id = :pid AND client_id = :cid) AS {t}"
                        for t in CLIENT_TABLES)
    return {k: int(v) for k, v in (db.one(f"SELECT {selects}", pid=professional_id, cid=client_id) or {}).items()}


def insert(professional_id: str, *, actor: str, action: str, counts: dict[str, int]) -> None:
    db.run("INSERT INTO deletion_audit (professional_id, actor, action, counts) "
           "VALUES (:pid, :actor, :action, CAST(:counts AS jsonb))",
           pid=professional_id, actor=actor, action=action, counts=json.dumps(counts, sort_keys=True))


def for_professional(professional_id: str) -> list[dict[str, Any]]:
    return db.all("SELECT actor, action, counts, created_at FROM deletion_audit WHERE professional_id = :pid "
                  "ORDER BY created_at, id", pid=professional_id)


def delete_before(cutoff: dt.datetime) -> int:
    return len(db.run("DELETE FROM deletion_audit WHERE created_at < :cutoff RETURNING 1", cutoff=cutoff))
