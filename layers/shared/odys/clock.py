"""The current time, in one replaceable place (tests freeze it with ``monkeypatch.setattr(clock, "now", ...)``),
and the range of dates a request may carry.

    from odys import clock
    clock.now()        # -> datetime.datetime(2026, 11, 21, 16, 39, tzinfo=datetime.timezone.utc)
"""

from __future__ import annotations

import datetime as dt
from typing import TypeVar

D = TypeVar("D", bound=dt.date)

FIRST_YEAR = dt.MINYEAR + 1
LAST_YEAR = dt.MAXYEAR - 1


def now() -> dt.datetime:
    """The current instant, timezone-aware, in UTC."""
    return dt.datetime.now(dt.timezone.utc)


def supported(value: D) -> D:
    """``value`` (a date or date-time from a request) when its year is FIRST_YEAR..LAST_YEAR; ValueError otherwise.

    A year of margin inside :mod:`datetime`'s range: what the services do with a requested time (convert it to a
    time zone, take the end of its day, add a session's length, find a series' first weekday) then cannot overflow.

    >>> supported(dt.date(2026, 12, 1))
    datetime.date(2026, 12, 1)
    """
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValueError(f"must be between the years {FIRST_YEAR} and {LAST_YEAR}")
    return value
