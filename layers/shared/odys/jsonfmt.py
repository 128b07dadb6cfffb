"""Odys's JSON text: compact, UTF-8 as is, and the types the services hand back (instants, dates, UUIDs,
pydantic models) written as the API writes them. Neutral ground: the HTTP edge (:mod:`odys.http`) answers with
it and services that write files (:mod:`odys.account_export`) use it without seeing HTTP.

    >>> import datetime as dt, uuid
    >>> to_json({"at": dt.datetime(2026, 12, 2, 15, 0, tzinfo=dt.timezone.utc), "on": dt.date(2026, 12, 3),
    ...          "id": uuid.UUID(int=1), "name": "Conceição", 7: True})
    '{"at":"2026-12-02T15:00:00+00:00","on":"2026-12-03","id":"00000000-0000-0000-0000-000000000001","name":"Conceição","7":true}'
    >>> to_json({"half": "\\ud800", "big": 2 ** 70})    # refused by orjson: the standard encoder writes them
    '{"half":"\\ud800","big":1180591620717411303424}'

Written by orjson (instants, dates and UUIDs natively, in the text ``isoformat``/``str`` give; an answer of 27 keys
in ~3.5 µs against ~18 µs for the standard library's C encoder with a ``default``): the edge's largest piece of
work per request. A wall-clock ``time`` is written by the view that shows it (``"09:30"``, as the API documents
it), never left to the encoder (which would write ``"09:30:00"``). What orjson refuses and ``json`` writes (a
lone surrogate in a string, an integer beyond 64 bits) is written by the standard library's encoder instead.
"""

from __future__ import annotations

import datetime as dt
import uuid
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import Any

import orjson
from pydantic import BaseModel


def _model(value: BaseModel) -> Any:
    return value.model_dump(mode="json", by_alias=True)


def _default(value: Any) -> Any:
    """What orjson does not write itself: pydantic models; and, for the standard encoder, the native types."""
    if isinstance(value, BaseModel):
        return _model(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


_OPTIONS = orjson.OPT_NON_STR_KEYS  # {7: ...} -> {"7": ...}, as json writes it
# The standard library's C encoder, built once (json.dumps builds one per call): only for what orjson refuses.
_encode = c_make_encoder(None, _default, encode_basestring, None, ":", ",", False, False, True)


def to_json(data: Any) -> str:
    try:
        return orjson.dumps(data, default=_default, option=_OPTIONS).decode()
    except orjson.JSONEncodeError:
        return "".join(_encode(data, 0))
