"""Pagination of list routes: ``limit`` plus an opaque ``cursor``, answered with ``nextCursor``.

    rows = store_query(limit=2 + 1, ...)                     # ask one more row than the page holds
    items, more = split(rows, 2)                             # -> (first 2 rows, True)
    cursor = encode("clients", {"o": 2}) if more else None   # -> "eyJrIjoiY2xpZW50cyIsIm8iOjJ9"
    decode("clients", cursor)                                # -> {"k": "clients", "o": 2}

Lists ordered by an instant then an id page by keyset: ``keyset_page(kind, rows, limit)`` -> ``(page, nextCursor)``
(the cursor is ``keyset_cursor(kind, last["created_at"], last["id"])``) and ``keyset_after(kind, cursor)`` ->
``(instant, id)`` for the next query.

A cursor is base64url JSON tagged with the list it belongs to; clients must treat it as opaque and pass it back
unchanged. A cursor that was tampered with, or that belongs to another list, is a 400 ``invalid_cursor``.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import uuid
from typing import Any, TypeVar

from odys import clock
from odys.errors import BadRequest

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
MAX_OFFSET = 2**63 - 1  # PostgreSQL's OFFSET is a bigint
T = TypeVar("T")


def encode(kind: str, values: dict[str, Any]) -> str:
    """An opaque cursor for list ``kind`` carrying ``values`` (JSON-serialisable)."""
    raw = json.dumps({"k": kind, **values}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(kind: str, cursor: str) -> dict[str, Any]:
    """The values of a cursor made by :func:`encode` for the same ``kind``; 400 ``invalid_cursor`` otherwise."""
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        data = None
    if not isinstance(data, dict) or data.get("k") != kind:
        raise invalid_cursor()
    return data


def invalid_cursor() -> BadRequest:
    return BadRequest("The cursor is not one this list handed out; start again without it.", code="invalid_cursor")


def split(rows: list[T], limit: int) -> tuple[list[T], bool]:
    """(the page, whether more rows follow) from a query that fetched ``limit + 1`` rows.

    >>> split([1, 2, 3], 2)
    ([1, 2], True)
    """
    return rows[:limit], len(rows) > limit


def offset_cursor(kind: str, offset: int) -> str:
    return encode(kind, {"o": offset})


def offset_of(kind: str, cursor: str | None) -> int:
    """The row offset an offset cursor points at (0 without a cursor)."""
    if cursor is None:
        return 0
    offset = decode(kind, cursor).get("o")
    if not isinstance(offset, int) or isinstance(offset, bool) or not 0 <= offset <= MAX_OFFSET:
        raise invalid_cursor()
    return offset


def keyset_cursor(kind: str, at: dt.datetime, row_id: Any) -> str:
    """The cursor after a row of a list ordered by (instant, id): its instant (UTC, with offset) and id.

    >>> import datetime as dt
    >>> at = dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc)
    >>> keyset_after("notes", keyset_cursor("notes", at, "6f1c2b7a-1234-4567-8901-123456789012"))[1]
    '6f1c2b7a-1234-4567-8901-123456789012'
    """
    return encode(kind, {"t": at.astimezone(dt.timezone.utc).isoformat(), "i": str(row_id)})


def keyset_page(kind: str, rows: list[dict[str, Any]], limit: int, *, at: str = "created_at"
                ) -> tuple[list[dict[str, Any]], str | None]:
    """(the page, the cursor after its last row or None) from a keyset query that fetched ``limit + 1`` rows
    ordered by (``at``, id).

    >>> import datetime as dt
    >>> t, a, b = dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc), "6f1c2b7a-0000-4000-8000-00000000000a", "b"
    >>> page, cursor = keyset_page("notes", [{"created_at": t, "id": a}, {"created_at": t, "id": b}], 1)
    >>> [row["id"] for row in page], keyset_after("notes", cursor)[1] == a
    (['6f1c2b7a-0000-4000-8000-00000000000a'], True)
    """
    items, more = split(rows, limit)
    return items, keyset_cursor(kind, items[-1][at], items[-1]["id"]) if more else None


def keyset_after(kind: str, cursor: str | None) -> tuple[dt.datetime, str] | None:
    """(instant, id) written by :func:`keyset_cursor`; None without a cursor; 400 ``invalid_cursor`` when tampered."""
    if cursor is None:
        return None
    data = decode(kind, cursor)
    try:
        after = clock.supported(dt.datetime.fromisoformat(data.get("t"))), str(uuid.UUID(data.get("i")))
    except (AttributeError, TypeError, ValueError):  # missing, not strings, not an instant or not a UUID
        raise invalid_cursor() from None
    if after[0].tzinfo is None:
        raise invalid_cursor()
    return after
