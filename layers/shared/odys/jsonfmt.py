"""Odys's JSON text: compact, UTF-8 as is, and the types the services hand back (instants, dates, wall-clock
times, UUIDs, pydantic models) written as the API writes them. Neutral ground: the HTTP edge (:mod:`odys.http`)
answers with it and services that write files (:mod:`odys.account_export`) use it without seeing HTTP.

    >>> import datetime as dt, uuid
    >>> to_json({"at": dt.datetime(2026, 12, 2, 15, 0, tzinfo=dt.timezone.utc), "start": dt.time(9, 30),
    ...          "on": dt.date(2026, 12, 3), "id": uuid.UUID(int=1), "name": "Conceição"})
    '{"at":"2026-12-02T15:00:00+00:00","start":"09:30","on":"2026-12-03","id":"00000000-0000-0000-0000-000000000001","name":"Conceição"}'
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from pydantic import BaseModel


def _default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.time):
        return value.isoformat(timespec="minutes")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def to_json(data: Any) -> str:
    return json.dumps(data, default=_default, separators=(",", ":"), ensure_ascii=False)
