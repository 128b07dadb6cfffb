"""Private notes a professional keeps about a client (never shown to the client).

    client_notes.list_page(user_id, client_id, NoteQuery())      # -> {"notes": [...newest first], "nextCursor"}
    client_notes.create(user_id, client_id, NoteIn(body="Prefers mornings"))
    client_notes.update(user_id, note_id, NoteIn(body="..."))
    client_notes.delete(user_id, note_id)

Notes of another professional's client, or another professional's note, are 404 like unknown ids.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from odys import caller, pagination
from odys.errors import NotFound
from odys.fields import ApiModel
from odys.log import logger
from odys.store import client_notes as store
from odys.store import clients as clients_store


class NoteIn(ApiModel):
    body: str = Field(min_length=1, max_length=10_000)


class NoteQuery(ApiModel):
    """``limit`` (1-200, default 50) and ``cursor`` (the previous page's ``nextCursor``)."""

    limit: int = Field(default=pagination.DEFAULT_LIMIT, ge=1, le=pagination.MAX_LIMIT)
    cursor: str | None = Field(default=None, max_length=200)


def view(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": str(row["id"]), "clientId": str(row["client_id"]), "body": row["body"],
            "createdAt": row["created_at"], "updatedAt": row["updated_at"]}


def _own_client(user_id: str, client_id: str) -> str:
    """The caller's professional id, after checking the client is theirs (404 otherwise)."""
    pid = str(caller.professional(user_id)["id"])
    if clients_store.get(pid, client_id) is None:
        raise NotFound("client")
    return pid


def list_page(user_id: str, client_id: str, query: NoteQuery) -> dict[str, Any]:
    pid = _own_client(user_id, client_id)
    offset = pagination.offset_of("notes", query.cursor)
    rows = store.page(pid, client_id, limit=query.limit + 1, offset=offset)
    items, more = pagination.split(rows, query.limit)
    return {"notes": [view(r) for r in items],
            "nextCursor": pagination.offset_cursor("notes", offset + query.limit) if more else None}


def create(user_id: str, client_id: str, data: NoteIn) -> dict[str, Any]:
    pid = _own_client(user_id, client_id)
    row = store.insert(pid, client_id, data.body)  # 404 if the client was deleted meanwhile
    logger.info("client note created", extra={"note_id": str(row["id"])})
    return view(row)


def update(user_id: str, note_id: str, data: NoteIn) -> dict[str, Any]:
    row = store.update_body(str(caller.professional(user_id)["id"]), note_id, data.body)
    if row is None:
        raise NotFound("note")
    return view(row)


def delete(user_id: str, note_id: str) -> None:
    if not store.delete_one(str(caller.professional(user_id)["id"]), note_id):
        raise NotFound("note")
