"""SQL for a professional's private notes about a client (always scoped to the professional)."""

from __future__ import annotations

from typing import Any

from odys import db
from odys.store import domain_errors

COLUMNS = "id, professional_id, client_id, body, created_at, updated_at"


def page(professional_id: str, client_id: str, *, limit: int, offset: int) -> list[dict[str, Any]]:
    """Notes of one client, newest first."""
    return db.all(f"SELECT {COLUMNS} FROM client_notes WHERE professional_id = :pid AND client_id = :cid "
                  f"ORDER BY created_at DESC, id DESC LIMIT :limit OFFSET :offset",
                  pid=professional_id, cid=client_id, limit=limit, offset=offset)


def insert(professional_id: str, client_id: str, body: str) -> dict[str, Any]:
    """A new note; 404 (``NotFound``) when the client was deleted meanwhile."""
    with domain_errors():
        row = db.one(f"INSERT INTO client_notes (professional_id, client_id, body) VALUES (:pid, :cid, :body) "
                     f"RETURNING {COLUMNS}", pid=professional_id, cid=client_id, body=body)
    assert row is not None
    return row


def update_body(professional_id: str, note_id: str, body: str) -> dict[str, Any] | None:
    return db.one(f"UPDATE client_notes SET body = :body, updated_at = now() WHERE professional_id = :pid "
                  f"AND id = :id RETURNING {COLUMNS}", pid=professional_id, id=note_id, body=body)


def delete_one(professional_id: str, note_id: str) -> bool:
    return bool(db.run("DELETE FROM client_notes WHERE professional_id = :pid AND id = :id RETURNING id",
                       pid=professional_id, id=note_id))
