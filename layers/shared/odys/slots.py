"""Bookable slots of a professional: weekly availability minus active appointments, in the professional's zone.

    slots.offered("ana-psi", dt.date(2026, 12, 1), dt.date(2026, 12, 7))
    # -> {"timezone": "America/Sao_Paulo",
    #     "slots": [{"startsAt": "2026-12-01T12:00:00+00:00", "endsAt": "2026-12-01T12:50:00+00:00",
    #                "localStart": "2026-12-01T09:00:00-03:00"}, ...]}

The rules, all in the professional's IANA time zone (``professionals.timezone``):

* **Range.** ``from`` and ``to`` are local calendar dates, both included, at most :data:`MAX_RANGE_DAYS` days.
* **Grid.** In each availability window (``availability``: ``day_of_week`` 0 = Sunday, local ``start_time`` /
  ``end_time``) a slot starts at the window start and then every ``session_duration_minutes + buffer_minutes``
  of *wall-clock* time (09:00, 10:00, 11:00 … for 50 + 10). A slot lasts ``session_duration_minutes`` of real
  time and must end inside its window.
* **Daylight saving.** Wall times are built with :mod:`zoneinfo` and converted to UTC. A wall time that does not
  exist (the spring-forward gap) is skipped; an ambiguous one (the fall-back fold) is offered once, at its first
  occurrence. Because the grid is wall-clock, a slot is also dropped when, on a short day, it would start less
  than ``buffer_minutes`` after the previous slot of its window ends.
* **Notice and window.** No slot starts before ``now + min_notice_minutes`` or after
  ``now + booking_window_days``.
* **Appointments.** Active appointments (``pending`` / ``confirmed``) block every slot that starts within
  ``buffer_minutes`` after one ends or ends within ``buffer_minutes`` before one starts (or overlaps it).

Only the active appointments' ``(starts_at, ends_at)`` of the candidate span are read, as epoch seconds in one
aggregated text value: pg8000 decodes ``timestamptz`` rows slowly in pure Python (benchmarks/README.md).
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any, NamedTuple
from zoneinfo import ZoneInfo

from pydantic import BeforeValidator, Field

from odys import clock
from odys.errors import NotFound, SlotTaken, ValidationFailed
from odys.fields import ApiModel
from odys.store import availability as availability_store
from odys.store import booking as store
from odys.store import professionals

MAX_RANGE_DAYS = 62
UTC = dt.timezone.utc
ONE_DAY = dt.timedelta(days=1)

_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _local_date(value: object) -> dt.date:
    """``YYYY-MM-DD`` and nothing else (no times, no week dates).

    >>> _local_date("2026-03-08")
    datetime.date(2026, 3, 8)
    """
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if not isinstance(value, str) or not _DATE_RE.fullmatch(value):
        raise ValueError("must be a date as YYYY-MM-DD, e.g. 2026-12-01")
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError("not a calendar date (YYYY-MM-DD)") from None


LocalDate = Annotated[dt.date, BeforeValidator(_local_date)]


class SlotsQuery(ApiModel):
    """``?from=YYYY-MM-DD&to=YYYY-MM-DD`` (local dates of the professional, both included)."""

    from_: LocalDate = Field(alias="from")
    to: LocalDate


@dataclass(frozen=True)
class Rules:
    """The professional's scheduling settings that shape the slots."""

    timezone: str
    duration_minutes: int
    buffer_minutes: int
    min_notice_minutes: int
    booking_window_days: int

    @classmethod
    def of(cls, professional: dict[str, Any]) -> "Rules":
        """From a ``professionals`` row.

        >>> Rules.of({"timezone": "America/Sao_Paulo", "session_duration_minutes": 50, "buffer_minutes": 10,
        ...           "min_notice_minutes": 120, "booking_window_days": 60}).buffer_seconds
        600
        """
        return cls(professional["timezone"], professional["session_duration_minutes"],
                   professional["buffer_minutes"], professional["min_notice_minutes"],
                   professional["booking_window_days"])

    @property
    def buffer_seconds(self) -> int:
        return self.buffer_minutes * 60


class Slot(NamedTuple):
    """A bookable interval: ``start``/``end`` in epoch seconds (UTC); ``offset``: the local UTC offset in seconds.

    A named tuple: a 62-day grid builds about a thousand of them per request (a frozen dataclass is ~3× slower to
    create)."""

    start: int
    end: int
    offset: int

    @property
    def starts_at(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.start, UTC)

    @property
    def ends_at(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.end, UTC)

    @property
    def local_start(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.start, dt.timezone(dt.timedelta(seconds=self.offset)))

    def view(self) -> dict[str, str]:
        """JSON shape of the contract (formatted without tz objects: this runs for every slot). A copy of
        :func:`_view`'s: the same slots are asked for again and again (every visitor of a booking page).

        >>> Slot(1796126400, 1796129400, -10800).view()
        {'startsAt': '2026-12-01T12:00:00+00:00', 'endsAt': '2026-12-01T12:50:00+00:00', \
'localStart': '2026-12-01T09:00:00-03:00'}
        """
        return _view(self).copy()


_NAIVE_EPOCH = dt.datetime(1970, 1, 1)
_EPOCH_ORDINAL = _NAIVE_EPOCH.toordinal()


@functools.lru_cache(maxsize=64)
def _offset_text(offset: int) -> str:
    """``+00:00`` / ``-03:00`` (what ``datetime.isoformat`` writes for whole-minute offsets)."""
    sign = "-" if offset < 0 else "+"
    hours, minutes = divmod(abs(offset) // 60, 60)
    return f"{sign}{hours:02d}:{minutes:02d}"


@functools.lru_cache(maxsize=1024)
def _date_text(days: int) -> str:
    return dt.date.fromordinal(_EPOCH_ORDINAL + days).isoformat()


@functools.lru_cache(maxsize=8192)  # ~2 MB at most; a 62-day page of one professional is ~900 slots
def _view(slot: Slot) -> dict[str, str]:
    return {"startsAt": _iso(slot.start, 0), "endsAt": _iso(slot.end, 0), "localStart": _iso(slot.start, slot.offset)}


_MINUTE_TEXTS = tuple(f"{h:02d}:{m:02d}" for h in range(24) for m in range(60))  # "HH:MM" by minute of the day


def _iso(epoch: int, offset: int) -> str:
    """ISO 8601 of an instant at a UTC offset, as ``datetime.isoformat`` writes it.

    >>> _iso(1796126400, -10800) == dt.datetime.fromtimestamp(1796126400, dt.timezone(dt.timedelta(hours=-3))).isoformat()
    True
    >>> _iso(1796126407, 0)
    '2026-12-01T12:00:07+00:00'
    """
    days, rest = divmod(epoch + offset, 86400)
    minute, seconds = divmod(rest, 60)
    return f"{_date_text(days)}T{_MINUTE_TEXTS[minute]}:{seconds:02d}{_offset_text(offset)}"


Window = tuple[int, dt.time, dt.time]  # (day_of_week 0=Sunday, local start, local end)


def day_of_week(day: dt.date) -> int:
    """0 = Sunday … 6 = Saturday (the ``availability.day_of_week`` convention).

    >>> day_of_week(dt.date(2026, 3, 8))   # a Sunday
    0
    """
    return day.isoweekday() % 7


def _offsets(wall: dt.datetime, tz: ZoneInfo) -> tuple[int, int]:
    """UTC offsets (seconds) of a local wall time read as its first (fold=0) and second (fold=1) occurrence.

    Equal for an ordinary time; first > second inside a fall-back fold (the time happens twice); first < second
    inside a spring-forward gap (the time does not exist), per PEP 495.

    >>> ny = ZoneInfo("America/New_York")
    >>> _offsets(dt.datetime(2026, 3, 8, 2, 30), ny), _offsets(dt.datetime(2026, 11, 1, 1, 30), ny)
    ((-18000, -14400), (-14400, -18000))
    """
    first, second = tz.utcoffset(wall), tz.utcoffset(wall.replace(fold=1))
    return int(first.total_seconds()), int(second.total_seconds())  # type: ignore[union-attr]


def _seconds(day: dt.date, at: dt.time) -> int:
    """The wall time as if it were UTC, in epoch seconds (subtract the UTC offset to get the instant)."""
    return (day.toordinal() - _EPOCH_ORDINAL) * 86400 + at.hour * 3600 + at.minute * 60


@functools.lru_cache(maxsize=4096)  # every visitor of a booking page asks for the same days: ~1 MB at most
def _day_slots(day: dt.date, start: dt.time, end: dt.time, rules: Rules) -> tuple[Slot, ...]:
    """:func:`_window_slots` of a window on a date, kept: it depends on nothing else (the zone's rules are data)."""
    return tuple(_window_slots(day, start, end, ZoneInfo(rules.timezone), rules))


def _window_slots(day: dt.date, start: dt.time, end: dt.time, tz: ZoneInfo, rules: Rules) -> Iterator[Slot]:
    """The grid of one window on one local date (before notice, booking window and appointments).

    Fast path: the same offset at both ends (no transition inside; real zones change at most once a day) makes
    every slot plain integer arithmetic. Otherwise each wall time is checked: skipped in a gap, first occurrence
    in a fold, and dropped if it would start less than the buffer after the previous slot ends.
    """
    length = rules.duration_minutes * 60
    step = length + rules.buffer_seconds
    first_wall, last_wall = _seconds(day, start), _seconds(day, end) - length
    at_start = _offsets(dt.datetime.combine(day, start), tz)
    at_end = _offsets(dt.datetime.combine(day, end), tz)
    if at_start[0] == at_start[1] == at_end[0] == at_end[1]:
        offset = at_start[0]
        yield from [Slot(wall - offset, wall - offset + length, offset)
                    for wall in range(first_wall, last_wall + 1, step)]
        return
    limit = _seconds(day, end) - max(at_end)  # the earliest instant the window end can mean
    previous_end: int | None = None
    for wall in range(first_wall, last_wall + 1, step):
        first, second = _offsets(_NAIVE_EPOCH + dt.timedelta(seconds=wall), tz)
        if first < second:  # does not exist
            continue
        begin = wall - first
        if begin + length <= limit and (previous_end is None or begin >= previous_end + rules.buffer_seconds):
            previous_end = begin + length
            yield Slot(begin, begin + length, first)


def grid(rules: Rules, windows: Iterable[Window], first_day: dt.date, last_day: dt.date,
         now: dt.datetime) -> list[Slot]:
    """Slots the schedule offers on local dates ``first_day``..``last_day``, inside notice and booking window.

    Appointments are not considered here (see :func:`without_busy`). Sorted by start.

    >>> rules = Rules("America/Sao_Paulo", 50, 10, 0, 60)
    >>> now = dt.datetime(2026, 11, 30, tzinfo=UTC)
    >>> [s.view()["localStart"] for s in grid(rules, [(2, dt.time(9), dt.time(11))], dt.date(2026, 12, 1),
    ...                                       dt.date(2026, 12, 1), now)]
    ['2026-12-01T09:00:00-03:00', '2026-12-01T10:00:00-03:00']
    """
    tz = ZoneInfo(rules.timezone)
    earliest = int(now.timestamp()) + rules.min_notice_minutes * 60
    latest = int(now.timestamp()) + rules.booking_window_days * 86400
    by_day: dict[int, list[tuple[dt.time, dt.time]]] = {}
    for dow, start, end in sorted(windows, key=lambda w: (w[0], w[1])):
        by_day.setdefault(dow, []).append((start, end))
    day = max(first_day, dt.datetime.fromtimestamp(earliest, tz).date())
    last = min(last_day, dt.datetime.fromtimestamp(latest, tz).date())
    out: list[Slot] = []
    while day <= last:
        for start, end in by_day.get(day_of_week(day), ()):
            day_slots = _day_slots(day, start, end, rules)
            if day_slots and not (earliest <= day_slots[0].start and day_slots[-1].start <= latest):  # first/last day
                day_slots = tuple(slot for slot in day_slots if earliest <= slot.start <= latest)
            out.extend(day_slots)
        day += ONE_DAY
    return out


def _merged(busy: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted, non-overlapping intervals (so that their ends are sorted too).

    >>> _merged([(5, 9), (1, 3), (2, 4)])
    [(1, 4), (5, 9)]
    """
    out: list[tuple[int, int]] = []
    for start, end in sorted(busy):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def without_busy(slots: list[Slot], busy: Iterable[tuple[int, int]], buffer_seconds: int) -> list[Slot]:
    """Drop slots that overlap an appointment or come within ``buffer_seconds`` of one (either side).

    >>> s = [Slot(0, 50, 0), Slot(60, 110, 0), Slot(120, 170, 0)]
    >>> [x.start for x in without_busy(s, [(115, 200)], 10)]    # 60..110 ends 5 s before 115: blocked
    [0]
    """
    intervals = _merged(busy)
    ends = [end for _, end in intervals]
    free = []
    for slot in slots:
        i = bisect.bisect_right(ends, slot.start - buffer_seconds)  # first appointment ending after start - buffer
        if i == len(intervals) or intervals[i][0] >= slot.end + buffer_seconds:
            free.append(slot)
    return free


def _windows(professional_id: str) -> list[Window]:
    return [(r["day_of_week"], r["start_time"], r["end_time"]) for r in availability_store.list_for(professional_id)]


def compute(professional: dict[str, Any], first_day: dt.date, last_day: dt.date, now: dt.datetime, *,
            exclude_appointment: str | None = None) -> list[Slot]:
    """Free slots of ``professional`` (a ``professionals`` row) on local dates ``first_day``..``last_day``."""
    rules = Rules.of(professional)
    candidates = grid(rules, _windows(professional["id"]), first_day, last_day, now)
    if not candidates:
        return []
    busy = store.busy_intervals(professional["id"], candidates[0].start - rules.buffer_seconds,
                                candidates[-1].end + rules.buffer_seconds, exclude_appointment)
    return without_busy(candidates, busy, rules.buffer_seconds)


def _professional(slug: str) -> dict[str, Any]:
    row = professionals.by_slug(slug.strip().lower())
    if row is None:
        raise NotFound("professional", detail=f"No professional at /{slug}.")
    return row


def _check_range(first_day: dt.date, last_day: dt.date) -> None:
    if last_day < first_day:
        raise ValidationFailed("'to' is before 'from'.", code="invalid_range",
                               errors=[{"field": "to", "message": "must be on or after 'from'", "code": "invalid_range"}])
    if (last_day - first_day).days + 1 > MAX_RANGE_DAYS:
        raise ValidationFailed(f"Ask for at most {MAX_RANGE_DAYS} days at a time.", code="range_too_long",
                               errors=[{"field": "to", "code": "range_too_long",
                                        "message": f"from..to may span at most {MAX_RANGE_DAYS} days, both "
                                                   "included"}])


def offered(slug: str, first_day: dt.date, last_day: dt.date, now: dt.datetime | None = None) -> dict[str, Any]:
    """``{timezone, slots}`` of the professional at ``slug`` for local dates ``first_day``..``last_day``.

    404 for an unknown slug; 422 ``invalid_range`` (to < from) or ``range_too_long`` (> 62 days).
    """
    _check_range(first_day, last_day)
    professional = _professional(slug)
    now = now or clock.now()
    return {"timezone": professional["timezone"],
            "slots": [slot.view() for slot in compute(professional, first_day, last_day, now)]}


def slot_taken() -> SlotTaken:
    """409 ``slot_taken``, worded for the public booking page."""
    return SlotTaken("That time was just booked by someone else. Please choose another slot.")


def offered_slot(professional: dict[str, Any], windows: Iterable[Window], starts_at: dt.datetime,
                 now: dt.datetime) -> Slot:
    """The slot of ``windows`` starting exactly at ``starts_at``, or 422 ``slot_unavailable`` (off the grid, outside
    availability, inside the minimum notice or beyond the booking window). With :func:`require_free`, the check of
    a booking or a move, on what the caller read under the professional's lock (:mod:`odys.agenda`), so that it is
    exact against concurrent bookings."""
    rules = Rules.of(professional)
    local_day = starts_at.astimezone(ZoneInfo(rules.timezone)).date()
    wanted = starts_at.timestamp()
    match = next((s for s in grid(rules, windows, local_day, local_day, now) if s.start == wanted), None)
    if match is None:
        raise ValidationFailed(
            "That time is not bookable: it is not one of the professional's slots, or it is inside the minimum "
            "notice or beyond the booking window. Pick one from GET /api/professionals/{slug}/slots.",
            code="slot_unavailable",
            errors=[{"field": "startsAt", "message": "not an offered slot", "code": "slot_unavailable"}])
    return match


def require_free(professional: dict[str, Any], slot: Slot, busy: Iterable[tuple[int, int]]) -> Slot:
    """``slot`` when no ``busy`` interval (epoch pairs around it) holds it or its buffer, else 409 ``slot_taken``."""
    if not without_busy([slot], busy, Rules.of(professional).buffer_seconds):
        raise slot_taken()
    return slot
