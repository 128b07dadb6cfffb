"""The current time, in one replaceable place (tests freeze it with ``monkeypatch.setattr(clock, "now", ...)``).

    from odys import clock
    clock.now()        # -> datetime.datetime(2026, 11, 21, 16, 39, tzinfo=datetime.timezone.utc)
"""

from __future__ import annotations

import datetime as dt


def now() -> dt.datetime:
    """The current instant, timezone-aware, in UTC."""
    return dt.datetime.now(dt.timezone.utc)
