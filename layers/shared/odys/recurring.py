"""Recurring schedules: a client's weekly (or every 2 or 4 weeks) session, materialised as appointments.

    recurring.create(user_id, ScheduleCreate(client_id=cid, day_of_week=1, start_time="10:00",
                                             starts_on=dt.date(2026, 11, 2)))
    # -> {"id", ..., "appointments": [upcoming occurrences], "skipped": [{"startsAt", "reason": "slot_taken"}]}
    recurring.update(user_id, schedule_id, ScheduleUpdate(start_time="11:00"))   # future occurrences follow
    recurring.stop(user_id, schedule_id)                                        # DELETE: ends the series
    recurring.extend_horizons(now)                                              # the daily housekeeping

How occurrences work:

- A series is a local weekday and time in the **professional's timezone**: each occurrence is computed with
  ``zoneinfo`` for its own date, so 10:00 stays 10:00 across DST changes (its UTC instant moves). A start time
  that does not exist on a spring-forward day lands after the gap; an ambiguous one takes the first instant.
- The first occurrence is the first ``dayOfWeek`` on or after ``startsOn``; then every ``intervalWeeks`` weeks
  until ``endsOn`` (inclusive) if set. These are the series' **rule dates**.
- An occurrence is identified by its rule date (``appointments.occurrence_date``): a series has **at most one
  occurrence per rule date**, whatever its status or time (the unique index ``appointments_one_per_series_date``
  backs this up). Moving an occurrence, by hand or by a change of the rule, keeps its date.
- Occurrences exist as ``confirmed`` appointments up to :data:`HORIZON_DAYS` (8 weeks) ahead of the local date;
  ``materialized_until`` records how far. :func:`extend_horizons` moves the horizon forward (the daily
  housekeeping, :mod:`odys.housekeeping`; the GET routes never write). A rule date is created only if the series has no occurrence for it yet (a cancelled or paid
  one counts), and only when its start is in the future.
- A date that collides with another active appointment, or that is over the plan's monthly appointment limit,
  is skipped and reported (``skipped: [{startsAt, reason: "slot_taken" | "plan_limit"}]``), never retried.
- Creating or changing a series needs the plan feature ``recurring_schedules`` (pro, or the trial): 402
  otherwise. Existing series keep extending after a downgrade, within the plan's monthly limits.
- **PATCH** changes the rule for the future, **in place**. Only the series' *open* occurrences are touched —
  active (pending/confirmed) and starting after now; past, completed, cancelled and no-show ones never change.
  For each open occurrence, by its rule date:

  * the date is still a rule date: the occurrence keeps its id, status, notes, payment and PIX txid, and
    - takes the new ``startTime``/``durationMinutes`` if it was still at the time the *old* rule gave for its
      date. One that was rescheduled individually (by the professional or the client) keeps its time, and so
      does one whose new start would already be past (an earlier time on today's date).
    - takes a new ``price`` when the PATCH sets one and it is unpaid (``paymentStatus`` ``unpaid``); a
      payment recorded fixes its price.
    - a move that collides with another active appointment is not made: the occurrence keeps its time (the
      price still changes) and the move is reported in ``skipped`` with its ``appointmentId`` and reason
      ``slot_taken``. Afterwards it counts as individually placed (it no longer sits at the rule's time), so
      later changes leave its time alone too. A move keeps the local date, hence the month: it never meets
      the monthly plan limit.
  * the date is no longer a rule date (``dayOfWeek``, ``intervalWeeks`` or ``endsOn`` changed): deleted if
    unpaid, rescheduled individually or not; one with a payment recorded is kept as it is, still in the series
    (the professional decides what becomes of it).

  Then the new rule's missing dates are materialised up to the horizon, as above — only dates the *old* rule did
  not already give: an occurrence the professional deleted, or a date skipped as taken, does not come back with an
  unrelated change (a new price, say).
- **DELETE** stops the series: it becomes inactive and ends today; its future pending/confirmed unpaid
  occurrences are deleted; everything else (history, payments) stays. The series remains listed, ``active:
  false``; deleting it again is a no-op.
- Every write goes through :mod:`odys.agenda` (the professional's lock, the monthly limit, the overlap rule).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, Field, model_validator

from odys import agenda, caller, clock, plans
from odys.appointment_views import Minutes, local_instant
from odys.appointment_views import view as appointment_view
from odys.errors import Conflict, NotFound, PlanLimitReached, ValidationFailed
from odys.fields import HHMM, ApiModel, Cents, reject_nulls
from odys.log import logger
from odys.store import appointments as appointments_store
from odys.store import clients as clients_store
from odys.store import recurring_schedules as store

HORIZON_DAYS = 56  # occurrences exist up to 8 weeks after today (the professional's local date)
FEATURE = "recurring_schedules"
SkipReason = Literal["slot_taken", "plan_limit"]

Weekday = Annotated[int, Field(ge=0, le=6, strict=True)]


class ScheduleCreate(ApiModel):
    """``POST /api/recurring-schedules``: ``dayOfWeek`` 0 = Sunday; ``startTime`` local ``HH:MM``; duration and
    price default to the professional's session duration and price."""

    client_id: uuid.UUID
    day_of_week: Weekday
    start_time: HHMM
    duration_minutes: Minutes | None = None
    interval_weeks: Literal[1, 2, 4] = 1
    starts_on: Annotated[dt.date, AfterValidator(clock.supported)]
    ends_on: dt.date | None = None
    price: Cents | None = None

    @model_validator(mode="after")
    def _dates(self) -> "ScheduleCreate":
        if self.ends_on is not None and self.ends_on < self.starts_on:
            raise ValueError("endsOn must not be before startsOn")
        return self


class ScheduleUpdate(ApiModel):
    """``PATCH /api/recurring-schedules/{id}``: any subset; ``endsOn: null`` makes the series open-ended."""

    day_of_week: Weekday | None = None
    start_time: HHMM | None = None
    duration_minutes: Minutes | None = None
    interval_weeks: Literal[1, 2, 4] | None = None
    ends_on: dt.date | None = None
    price: Cents | None = None


class ScheduleQuery(ApiModel):
    """``GET /api/recurring-schedules``: optional ``clientId`` and ``active`` (true/false) filters."""

    client_id: uuid.UUID | None = None
    active: bool | None = None


NOT_NULL = frozenset({"day_of_week", "start_time", "duration_minutes", "interval_weeks", "price"})


@dataclass
class Outcome:
    """What one change did: occurrences created, moved (new time or duration) and removed, and what it skipped."""

    created: list[str] = field(default_factory=list)
    moved: list[str] = field(default_factory=list)
    removed: int = 0
    skipped: list[dict[str, Any]] = field(default_factory=list)

    def log_fields(self) -> dict[str, int]:
        """Counts for a log line (``created`` itself is a reserved ``LogRecord`` attribute).

        >>> Outcome(created=["a", "b"]).log_fields()
        {'created_count': 2, 'moved_count': 0, 'removed_count': 0, 'skipped_count': 0}
        """
        return {"created_count": len(self.created), "moved_count": len(self.moved),
                "removed_count": self.removed, "skipped_count": len(self.skipped)}


# --- the calendar (pure functions) -----------------------------------------------------------------------------

def occurrence_dates(starts_on: dt.date, day_of_week: int, interval_weeks: int, ends_on: dt.date | None,
                     first_day: dt.date, last_day: dt.date) -> Iterator[dt.date]:
    """Local dates of a series within [first_day, last_day] (0 = Sunday).

    >>> [d.isoformat() for d in occurrence_dates(dt.date(2026, 11, 4), 1, 2, None,
    ...                                          dt.date(2026, 11, 1), dt.date(2026, 12, 1))]
    ['2026-11-09', '2026-11-23']
    """
    anchor = starts_on + dt.timedelta(days=((day_of_week - 1) % 7 - starts_on.weekday()) % 7)
    step = 7 * interval_weeks
    low = max(first_day, anchor)
    high = last_day if ends_on is None else min(last_day, ends_on)
    day = anchor + dt.timedelta(days=-(-(low - anchor).days // step) * step)
    while day <= high:
        yield day
        day += dt.timedelta(days=step)


def rule_dates(schedule: dict[str, Any], first_day: dt.date, last_day: dt.date) -> list[dt.date]:
    """:func:`occurrence_dates` of a series row within [first_day, last_day]."""
    return list(occurrence_dates(schedule["starts_on"], schedule["day_of_week"], schedule["interval_weeks"],
                                 schedule["ends_on"], first_day, last_day))


def rule_times(schedule: dict[str, Any], day: dt.date, timezone: str) -> tuple[dt.datetime, dt.datetime]:
    """The (start, end) instants the series' rule gives for its rule date ``day``."""
    starts_at = local_instant(day, schedule["start_time"], timezone)
    return starts_at, starts_at + dt.timedelta(minutes=schedule["duration_minutes"])


def local_today(now: dt.datetime, timezone: str) -> dt.date:
    return now.astimezone(ZoneInfo(timezone)).date()


def horizon(now: dt.datetime, timezone: str) -> dt.date:
    """The last local date occurrences are materialised for."""
    return local_today(now, timezone) + dt.timedelta(days=HORIZON_DAYS)


# --- writing occurrences ---------------------------------------------------------------------------------------

def _skip(starts_at: dt.datetime, reason: SkipReason, appointment_id: str | None = None) -> dict[str, Any]:
    skipped: dict[str, Any] = {"startsAt": starts_at, "reason": reason}
    if appointment_id is not None:  # an occurrence that exists but was not moved
        skipped["appointmentId"] = appointment_id
    return skipped


def _price(work: agenda.Agenda, schedule: dict[str, Any]) -> int:
    return schedule["price"] if schedule["price"] is not None else work.professional["session_price"]


def _materialise(work: agenda.Agenda, schedule: dict[str, Any], first_day: dt.date, last_day: dt.date,
                 now: dt.datetime, outcome: Outcome, *, settled: frozenset[dt.date] = frozenset()) -> None:
    """Create the series' missing future occurrences of rule dates in [first_day, last_day]. A date the series
    already has an occurrence for (any status, any time) is left alone, and so is a date in ``settled`` (one the
    rule already gave before a change: an occurrence deleted by hand, or skipped, stays so)."""
    dates = [day for day in rule_dates(schedule, first_day, last_day) if day not in settled]
    if not dates:
        return
    schedule_id = str(schedule["id"])
    taken = appointments_store.series_dates(work.id, schedule_id, dates[0], dates[-1])
    for day in dates:
        starts_at, ends_at = rule_times(schedule, day, work.timezone)
        if day in taken or starts_at <= now:
            continue
        try:
            row = work.add_appointment(str(schedule["client_id"]), starts_at, ends_at, status="confirmed",
                                       price=_price(work, schedule), now=now, skip_if_taken=True,
                                       recurring_schedule_id=schedule_id, occurrence_date=day)
        except PlanLimitReached:  # the notice is still recorded, after the transaction
            outcome.skipped.append(_skip(starts_at, "plan_limit"))
            continue
        if row is None:
            outcome.skipped.append(_skip(starts_at, "slot_taken"))
        else:
            outcome.created.append(str(row["id"]))


def _follow(work: agenda.Agenda, old: dict[str, Any], new: dict[str, Any], reprice: bool, now: dt.datetime,
            outcome: Outcome) -> None:
    """Bring the series' open occurrences (active, starting after now) from rule ``old`` to rule ``new`` in place,
    as the module docstring describes; ``reprice`` when the change sets a price."""
    rows = appointments_store.series_future_active_for_update(work.id, str(new["id"]), now)
    kept: list[dict[str, Any]] = []
    for row in rows:  # dates the new rule no longer has go first, freeing their time for the moves
        day = row["occurrence_date"]
        if rule_dates(new, day, day):
            kept.append(row)
        elif row["payment_status"] == "unpaid":
            appointments_store.delete_one(work.id, str(row["id"]))
            outcome.removed += 1
    price = _price(work, new)
    for row in kept:
        columns: dict[str, Any] = {}
        if reprice and row["payment_status"] == "unpaid" and row["price"] != price:
            columns["price"] = price
        was = rule_times(old, row["occurrence_date"], work.timezone)
        will = rule_times(new, row["occurrence_date"], work.timezone)
        moves = (row["starts_at"], row["ends_at"]) == was and will != was and will[0] > now
        if moves:
            columns.update(starts_at=will[0], ends_at=will[1])
        # a move keeps the local date, hence the month: it never meets the monthly limit, only an overlap
        written = work.change_appointment(row, columns, now, skip_if_taken=moves)
        if written is None:  # the new time is taken: the time stays, the price still changes
            outcome.skipped.append(_skip(will[0], "slot_taken", str(row["id"])))
            work.change_appointment(row, {k: v for k, v in columns.items() if k == "price"}, now)
        elif moves:
            outcome.moved.append(str(row["id"]))


def _require_feature(professional: dict[str, Any], now: dt.datetime) -> None:
    plan = plans.effective_plan(professional["plan"], professional["trial_ends_at"], now)
    if not plans.has_feature(plan, FEATURE):
        raise PlanLimitReached("recurring_schedules", current_plan=plan, required_plan=plans.plan_with_feature(FEATURE),
                               detail="Recurring schedules are part of the Pro plan; upgrade to create or change them.")


# --- views -----------------------------------------------------------------------------------------------------

def view(row: dict[str, Any]) -> dict[str, Any]:
    """A series (a row of ``store.recurring_schedules.view``) as the professional sees it."""
    return {
        "id": str(row["id"]), "client": {"id": str(row["client_id"]), "name": row["client_name"]},
        "dayOfWeek": row["day_of_week"], "startTime": row["start_time"].strftime("%H:%M"),
        "durationMinutes": row["duration_minutes"], "intervalWeeks": row["interval_weeks"],
        "startsOn": row["starts_on"], "endsOn": row["ends_on"], "price": row["price"], "active": row["active"],
        "materializedUntil": row["materialized_until"], "createdAt": row["created_at"],
        "updatedAt": row["updated_at"],
    }


def _result(professional_id: str, schedule_id: str, outcome: Outcome, now: dt.datetime) -> dict[str, Any]:
    """The series, its upcoming occurrences and the dates skipped by this change."""
    row = store.view(professional_id, schedule_id)
    assert row is not None
    upcoming = appointments_store.series_upcoming(professional_id, schedule_id, now)
    return {**view(row), "appointments": [appointment_view(r) for r in upcoming], "skipped": outcome.skipped}


def _log(event: str, schedule_id: str, outcome: Outcome) -> None:
    logger.info(event, extra={"recurring_schedule_id": schedule_id, **outcome.log_fields()})


# --- use cases -------------------------------------------------------------------------------------------------

def list_all(user_id: str, query: ScheduleQuery) -> dict[str, Any]:
    """Every series of the professional (active first). Reads only: horizons move in the daily housekeeping."""
    pid = str(caller.professional(user_id)["id"])
    rows = store.list_views(pid, client_id=str(query.client_id) if query.client_id else None, active=query.active)
    return {"recurringSchedules": [view(r) for r in rows]}


def create(user_id: str, data: ScheduleCreate, now: dt.datetime | None = None) -> dict[str, Any]:
    """Create a series and materialise its occurrences up to the horizon, in one transaction."""
    from odys import messaging  # here: the only use case that sends a message (the outbox stays unloaded otherwise)

    now = now or clock.now()
    outcome = Outcome()
    with agenda.for_user(user_id) as work:
        _require_feature(work.professional, now)
        client = clients_store.get(work.id, str(data.client_id))
        if client is None:
            raise NotFound("client")
        until = horizon(now, work.timezone)
        schedule = store.insert(
            work.id, str(data.client_id), day_of_week=data.day_of_week, start_time=data.start_time,
            duration_minutes=data.duration_minutes or work.professional["session_duration_minutes"],
            interval_weeks=data.interval_weeks, starts_on=data.starts_on, ends_on=data.ends_on,
            price=data.price if data.price is not None else work.professional["session_price"])
        _materialise(work, schedule, local_today(now, work.timezone), until, now, outcome)
        store.update_fields(work.id, str(schedule["id"]), {"materialized_until": until})
        first = appointments_store.series_upcoming(work.id, str(schedule["id"]), now)
        if first:  # the client learns the rule and the first session
            messaging.recurring_created(work.professional, client, schedule, first[0]["starts_at"])
    _log("recurring schedule created", str(schedule["id"]), outcome)
    return _result(work.id, str(schedule["id"]), outcome, now)


def _locked_schedule(professional_id: str, schedule_id: str) -> dict[str, Any]:
    row = store.for_update(professional_id, schedule_id)
    if row is None:
        raise NotFound("recurring schedule")
    return row


def update(user_id: str, schedule_id: str, data: ScheduleUpdate, now: dt.datetime | None = None) -> dict[str, Any]:
    """Change the rule; the open occurrences follow it in place, then missing dates are materialised."""
    now = now or clock.now()
    changes = data.model_dump(include=data.model_fields_set)
    reject_nulls(changes, NOT_NULL)
    outcome = Outcome()
    with agenda.for_user(user_id) as work:
        old = _locked_schedule(work.id, schedule_id)
        if not old["active"]:
            raise Conflict("schedule_stopped", "This recurring schedule was stopped; create a new one instead.")
        _require_feature(work.professional, now)
        if changes.get("ends_on") is not None and changes["ends_on"] < old["starts_on"]:
            raise ValidationFailed("endsOn must not be before startsOn.", errors=[
                {"field": "endsOn", "message": f"must be on or after {old['starts_on']}",
                 "code": "invalid_range"}])
        if changes:
            until = horizon(now, work.timezone)
            new = store.update_fields(work.id, schedule_id, {**changes, "materialized_until": until})
            assert new is not None, "the series is locked"
            _follow(work, old, new, "price" in changes, now, outcome)
            today = local_today(now, work.timezone)
            done = old["materialized_until"] or old["starts_on"] - dt.timedelta(days=1)
            settled = frozenset(rule_dates(old, today, done))  # dates the old rule already materialised
            _materialise(work, new, today, until, now, outcome, settled=settled)
    _log("recurring schedule changed", schedule_id, outcome)
    return _result(work.id, schedule_id, outcome, now)


def _stop_date(schedule: dict[str, Any], today: dt.date) -> dt.date | None:
    """The end date a stopped series gets: today, unless it already ends earlier or has not started yet."""
    end = min(schedule["ends_on"] or today, today)
    return end if end >= schedule["starts_on"] else None


def stop(user_id: str, schedule_id: str, now: dt.datetime | None = None) -> None:
    """Stop the series (DELETE): inactive, ends today; future unpaid active occurrences are deleted."""
    now = now or clock.now()
    with agenda.for_user(user_id) as work:
        schedule = _locked_schedule(work.id, schedule_id)
        if not schedule["active"]:
            return
        removed = appointments_store.delete_future_replaceable(work.id, schedule_id, now)
        store.stop(work.id, schedule_id, _stop_date(schedule, local_today(now, work.timezone)))
    logger.info("recurring schedule stopped", extra={"recurring_schedule_id": schedule_id, "removed_count": removed})


def _extend_one(professional_id: str, schedule_id: str, now: dt.datetime) -> Outcome:
    outcome = Outcome()
    with agenda.for_professional(professional_id) as work:
        schedule = store.for_update(professional_id, schedule_id)
        if schedule is None or not schedule["active"]:
            return outcome
        until = horizon(now, work.timezone)
        done = schedule["materialized_until"] or schedule["starts_on"] - dt.timedelta(days=1)
        if done >= until:  # extended meanwhile by another run
            return outcome
        _materialise(work, schedule, done + dt.timedelta(days=1), until, now, outcome)
        store.update_fields(professional_id, schedule_id, {"materialized_until": until})
    return outcome


def extend_horizons(now: dt.datetime | None = None, professional_id: str | None = None) -> dict[str, Any]:
    """Materialise every active series (or one professional's) up to today + :data:`HORIZON_DAYS`.

    Idempotent: a second run the same day finds nothing to do. Each series is its own transaction, so one
    failure does not stop the others (it is logged). Returns a summary for the cron's log::

        {"schedules": 2, "created": 3, "skipped": [{"recurringScheduleId", "startsAt", "reason"}], "failed": 0}
    """
    now = now or clock.now()
    summary: dict[str, Any] = {"schedules": 0, "created": 0, "skipped": [], "failed": 0}
    for item in store.due_for_extension(now, HORIZON_DAYS, professional_id):
        schedule_id = str(item["id"])
        try:
            outcome = _extend_one(str(item["professional_id"]), schedule_id, now)
        except Exception:  # noqa: BLE001 - one broken series must not block the others
            logger.exception("recurring horizon extension failed", extra={"recurring_schedule_id": schedule_id})
            summary["failed"] += 1
            continue
        summary["schedules"] += 1
        summary["created"] += len(outcome.created)
        summary["skipped"] += [{"recurringScheduleId": schedule_id, **s} for s in outcome.skipped]
    if summary["schedules"] or summary["failed"]:
        logger.info("recurring horizons extended", extra={
            "schedules": summary["schedules"], "created_count": summary["created"],
            "skipped_count": len(summary["skipped"]), "failed": summary["failed"]})
    return summary
