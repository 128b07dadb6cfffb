"""In-app notifications: the one place where the system tells a professional (or client) something happened.

    notify_professional(pid, "plan_limit_reached", "Limite do plano atingido", "...",
                        dedupe_key="plan-limit:pid:2026-11")
    notify_professional(pid, "booking_created", "Novo agendamento", "Bia agendou ...", client_id=cid)

A ``dedupe_key`` makes the notice at-most-once (e.g. once per month). A notice about a client names it with
``client_id``: deleting the client (or the professional) deletes the notice with everything else about them.
WhatsApp messages are separate (:mod:`odys.messaging`), queued by the events that cause them.

The professional reads them (``GET /api/notifications``) and marks them read (``PATCH``)::

    list_page(user_id, NotificationQuery(unread=True))
    # -> {"notifications": [{"id", "kind", "title", ...}], "unreadCount": 3, "nextCursor": None}
    mark_read(user_id, NotificationsRead(ids=[nid]))   # -> {"unreadCount": 2}; an id not theirs: 404, none marked
    mark_read(user_id, NotificationsRead(all=True))       # -> {"unreadCount": 0}

Lists are newest first, paginated by an opaque keyset ``cursor``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import Field, model_validator

from odys import caller, clock, db, pagination
from odys.errors import NotFound
from odys.fields import ApiModel
from odys.store import notifications as store

UTC = dt.timezone.utc
MAX_IDS = 200


def notify_professional(professional_id: str, kind: str, title: str, body: str = "", *,
                        client_id: str | None = None, dedupe_key: str | None = None, at_commit: bool = False) -> bool:
    """Record a notification; returns False when ``dedupe_key`` was already used (nothing written).

    ``at_commit`` (no ``dedupe_key``): written with the transaction's COMMIT, in its round trip (True).
    """
    if at_commit:
        assert dedupe_key is None, "a deferred notice cannot tell whether its dedupe key was used"
        store.insert_at_commit(professional_id, kind, title, body, client_id=client_id)
        return True
    return store.insert(professional_id, kind, title, body, client_id=client_id, dedupe_key=dedupe_key)


class NotificationQuery(ApiModel):
    """``GET /api/notifications``: ``unread=true`` (only unread ones), ``limit`` (1-200, default 50), ``cursor``."""

    unread: bool = False
    limit: int = Field(default=pagination.DEFAULT_LIMIT, ge=1, le=pagination.MAX_LIMIT)
    cursor: str | None = Field(default=None, max_length=200)


class NotificationsRead(ApiModel):
    """``PATCH /api/notifications``: ``{ids: [...]}`` (1-200 ids) or ``{all: true}``, not both."""

    ids: list[uuid.UUID] | None = Field(default=None, min_length=1, max_length=MAX_IDS)
    all_: Literal[True] | None = Field(default=None, alias="all")

    @model_validator(mode="after")
    def _one_of(self) -> NotificationsRead:
        if (self.ids is None) == (self.all_ is None):
            raise ValueError("give either ids (a list of notification ids) or all: true")
        return self


def view(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": str(row["id"]), "kind": row["kind"], "title": row["title"], "body": row["body"],
            "clientId": str(row["client_id"]) if row["client_id"] else None, "read": row["read_at"] is not None,
            "readAt": row["read_at"], "createdAt": row["created_at"]}


def list_page(user_id: str, query: NotificationQuery) -> dict[str, Any]:
    """A page of the professional's notices, newest first, with the number of unread ones."""
    pid = str(caller.professional(user_id)["id"])
    rows = store.page(pid, unread_only=query.unread, limit=query.limit + 1,
                      after=pagination.keyset_after("notifications", query.cursor))
    items, cursor = pagination.keyset_page("notifications", rows, query.limit)
    return {"notifications": [view(r) for r in items], "unreadCount": store.unread_count(pid), "nextCursor": cursor}


def mark_read(user_id: str, data: NotificationsRead, now: dt.datetime | None = None) -> dict[str, Any]:
    """Mark the given notices (or all) read. An id that is not one of the professional's notices, like an unknown
    one, is 404 and nothing is marked. Marking a notice read again keeps its first ``readAt``."""
    pid = str(caller.professional(user_id)["id"])
    now = now or clock.now()
    with db.transaction():
        if data.ids is None:
            store.mark_all_read(pid, now)
        else:
            ids = sorted({str(i) for i in data.ids})
            if store.owned_count(pid, ids) != len(ids):
                raise NotFound("notification")
            store.mark_read(pid, ids, now)
        return {"unreadCount": store.unread_count(pid)}
