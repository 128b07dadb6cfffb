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
import uuid
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import Any

from pydantic import BaseModel


def _time(value: dt.time) -> str:
    return value.isoformat(timespec="minutes")


def _model(value: BaseModel) -> Any:
    return value.model_dump(mode="json", by_alias=True)


_WRITERS: dict[type, Any] = {dt.datetime: dt.datetime.isoformat, dt.time: _time, dt.date: dt.date.isoformat,
                             uuid.UUID: str}  # by exact type: one dict lookup for what services hand back


def _default(value: Any) -> Any:
    writer = _WRITERS.get(type(value))
    if writer is not None:
        return writer(value)
    if isinstance(value, dt.datetime):  # subclasses (pendulum-like), checked in the order that tells them apart
        return value.isoformat()
    if isinstance(value, dt.time):
        return _time(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, BaseModel):
        return _model(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


# json.dumps(data, default=_default, separators=(",", ":"), ensure_ascii=False) builds an encoder on every call;
# this is its C encoder built once. No circular-reference bookkeeping (markers=None): services hand back trees, and
# a cycle fails all the same (RecursionError instead of ValueError).
_encode = c_make_encoder(None, _default, encode_basestring, None, ":", ",", False, False, True)


def to_json(data: Any) -> str:
    return "".join(_encode(data, 0))
