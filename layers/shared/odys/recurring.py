"""Recurring schedules: a client's weekly (or every 2 or 4 weeks) session, materialised as appointments.

    recurring.create(user_id, ScheduleCreate(client_id=cid, day_of_week=1, start_time="10:00",
                                             starts_on=dt.date(2026, 11, 2)))
    # -> {"id", ..., "appointments": [upcoming occurrences], "skipped": [{"startsAt", "reason": "slot_taken"}]}
    recurring.update(user_id, schedule_id, ScheduleUpdate(start_time="11:00"))   # future occurrences follow
    recurring.stop(user_id, schedule_id)                                        # DELETE: ends the series
    recurring.extend_horizons(now)                                              # the daily cron (and lazily)

How occurrences work:

- A series is a local weekday and time in the **professional's timezone**: each occurrence is computed with
  ``zoneinfo`` for its own date, so 10:00 stays 10:00 across DST changes (its UTC instant moves). A start time
  that does not exist on a spring-forward day lands after the gap; an ambiguous one takes the first instant.
- The first occurrence is the first ``dayOfWeek`` on or after ``startsOn``; then every ``intervalWeeks`` weeks
  until ``endsOn`` (inclusive) if set.
- Occurrences exist as ``confirmed`` appointments up to :data:`HORIZON_DAYS` (8 weeks) ahead of the local date;
  ``materialized_until`` records how far. :func:`extend_horizons` moves the horizon forward (cron, and lazily on
  the list routes); a date is never created twice (the unique index on (series, start) backs this up).
- Only future occurrences (start after now) are created. A date that collides with another active appointment,
  or that is over the plan's monthly appointment limit, is skipped and reported
  (``skipped: [{startsAt, reason: "slot_taken" | "plan_limit"}]``), never retried.
- Creating or changing a series needs the plan feature ``recurring_schedules`` (pro, or the trial): 402
  otherwise. Existing series keep extending after a downgrade, within the plan's monthly limits.
- **PATCH** changes only the future: the series' future occurrences that are still pending or confirmed and
  unpaid are deleted and re-materialised with the new rule. Past, completed, cancelled, no-show occurrences and
  any with a payment recorded are kept as they are.
- **DELETE** stops the series: it becomes inactive and ends today; its future pending/confirmed unpaid
  occurrences are deleted; everything else (history, payments) stays. The series remains listed, ``active:
  false``; deleting it again is a no-op.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, Field, model_validator

from odys import appointments, clock, db, limits, plans
from odys.account import current
from odys.appointments import Minutes, local_instant
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
    """What one materialisation did: ids created, dates skipped."""

    created: list[str] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)


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


def local_today(now: dt.datetime, timezone: str) -> dt.date:
    return now.astimezone(ZoneInfo(timezone)).date()


def horizon(now: dt.datetime, timezone: str) -> dt.date:
    """The last local date occurrences are materialised for."""
    return local_today(now, timezone) + dt.timedelta(days=HORIZON_DAYS)


# --- materialisation -------------------------------------------------------------------------------------------

def _skip(starts_at: dt.datetime, reason: SkipReason) -> dict[str, Any]:
    return {"startsAt": starts_at, "reason": reason}


def _materialise(professional: dict[str, Any], schedule: dict[str, Any], first_day: dt.date, last_day: dt.date,
                 now: dt.datetime) -> Outcome:
    """Create the series' missing future occurrences dated [first_day, last_day]; call inside the transaction
    that locked the professional. Dates the series already has (any status) are left alone."""
    outcome = Outcome()
    timezone = professional["timezone"]
    dates = occurrence_dates(schedule["starts_on"], schedule["day_of_week"], schedule["interval_weeks"],
                             schedule["ends_on"], first_day, last_day)
    instants = [s for s in (local_instant(d, schedule["start_time"], timezone) for d in dates) if s > now]
    if not instants:
        return outcome
    existing = appointments_store.series_starts(str(professional["id"]), str(schedule["id"]), instants[0],
                                                instants[-1] + dt.timedelta(seconds=1))
    duration = dt.timedelta(minutes=schedule["duration_minutes"])
    price = schedule["price"] if schedule["price"] is not None else professional["session_price"]
    for starts_at in instants:
        if starts_at in existing:
            continue
        try:
            limits.ensure_appointment_capacity(professional, starts_at, now)
        except PlanLimitReached:  # the notice is still recorded, after the transaction
            outcome.skipped.append(_skip(starts_at, "plan_limit"))
            continue
        row = appointments_store.insert_in_savepoint(
            str(professional["id"]), str(schedule["client_id"]), starts_at, starts_at + duration,
            status="confirmed", price=price, recurring_schedule_id=str(schedule["id"]))
        if row is None:
            outcome.skipped.append(_skip(starts_at, "slot_taken"))
        else:
            outcome.created.append(str(row["id"]))
    return outcome


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
    return {**view(row), "appointments": [appointments.view(r) for r in upcoming], "skipped": outcome.skipped}


def _log(event: str, schedule_id: str, outcome: Outcome) -> None:
    logger.info(event, extra={"recurring_schedule_id": schedule_id, "created": len(outcome.created),
                              "skipped": len(outcome.skipped)})


# --- use cases -------------------------------------------------------------------------------------------------

def list_all(user_id: str, query: ScheduleQuery, now: dt.datetime | None = None) -> dict[str, Any]:
    """Every series of the professional (active first); extends their horizons first."""
    pid = str(current(user_id)["id"])
    extend_horizons(now or clock.now(), professional_id=pid)
    rows = store.list_views(pid, client_id=str(query.client_id) if query.client_id else None, active=query.active)
    return {"recurringSchedules": [view(r) for r in rows]}


def create(user_id: str, data: ScheduleCreate, now: dt.datetime | None = None) -> dict[str, Any]:
    """Create a series and materialise its occurrences up to the horizon, in one transaction."""
    now = now or clock.now()
    pid = str(current(user_id)["id"])
    with db.transaction():
        professional = limits.lock_professional(pid)
        _require_feature(professional, now)
        if clients_store.get(pid, str(data.client_id)) is None:
            raise NotFound("client")
        until = horizon(now, professional["timezone"])
        schedule = store.insert(
            pid, str(data.client_id), day_of_week=data.day_of_week, start_time=data.start_time,
            duration_minutes=data.duration_minutes or professional["session_duration_minutes"],
            interval_weeks=data.interval_weeks, starts_on=data.starts_on, ends_on=data.ends_on,
            price=data.price if data.price is not None else professional["session_price"])
        outcome = _materialise(professional, schedule, local_today(now, professional["timezone"]), until, now)
        store.update_fields(pid, str(schedule["id"]), {"materialized_until": until})
    _log("recurring schedule created", str(schedule["id"]), outcome)
    return _result(pid, str(schedule["id"]), outcome, now)


def _locked_schedule(professional_id: str, schedule_id: str) -> dict[str, Any]:
    row = store.for_update(professional_id, schedule_id)
    if row is None:
        raise NotFound("recurring schedule")
    return row


def update(user_id: str, schedule_id: str, data: ScheduleUpdate, now: dt.datetime | None = None) -> dict[str, Any]:
    """Change the rule; the future (unpaid, still active) occurrences are replaced by ones following it."""
    now = now or clock.now()
    changes = data.model_dump(include=data.model_fields_set)
    reject_nulls(changes, NOT_NULL)
    pid = str(current(user_id)["id"])
    with db.transaction():
        professional = limits.lock_professional(pid)
        schedule = _locked_schedule(pid, schedule_id)
        if not schedule["active"]:
            raise Conflict("schedule_stopped", "This recurring schedule was stopped; create a new one instead.")
        _require_feature(professional, now)
        if changes.get("ends_on") is not None and changes["ends_on"] < schedule["starts_on"]:
            raise ValidationFailed("endsOn must not be before startsOn.", errors=[
                {"field": "endsOn", "message": f"must be on or after {schedule['starts_on']}",
                 "code": "invalid_range"}])
        outcome = Outcome()
        if changes:
            until = horizon(now, professional["timezone"])
            schedule = store.update_fields(pid, schedule_id, {**changes, "materialized_until": until})
            appointments_store.delete_future_replaceable(pid, schedule_id, now)
            outcome = _materialise(professional, schedule, local_today(now, professional["timezone"]), until, now)
    _log("recurring schedule changed", schedule_id, outcome)
    return _result(pid, schedule_id, outcome, now)


def _stop_date(schedule: dict[str, Any], today: dt.date) -> dt.date | None:
    """The end date a stopped series gets: today, unless it already ends earlier or has not started yet."""
    end = min(schedule["ends_on"] or today, today)
    return end if end >= schedule["starts_on"] else None


def stop(user_id: str, schedule_id: str, now: dt.datetime | None = None) -> None:
    """Stop the series (DELETE): inactive, ends today; future unpaid active occurrences are deleted."""
    now = now or clock.now()
    pid = str(current(user_id)["id"])
    with db.transaction():
        professional = limits.lock_professional(pid)
        schedule = _locked_schedule(pid, schedule_id)
        if not schedule["active"]:
            return
        removed = appointments_store.delete_future_replaceable(pid, schedule_id, now)
        store.stop(pid, schedule_id, _stop_date(schedule, local_today(now, professional["timezone"])))
    logger.info("recurring schedule stopped", extra={"recurring_schedule_id": schedule_id, "removed": removed})


def _extend_one(professional_id: str, schedule_id: str, now: dt.datetime) -> Outcome:
    with db.transaction():
        professional = limits.lock_professional(professional_id)
        schedule = store.for_update(professional_id, schedule_id)
        if schedule is None or not schedule["active"]:
            return Outcome()
        until = horizon(now, professional["timezone"])
        done = schedule["materialized_until"] or schedule["starts_on"] - dt.timedelta(days=1)
        if done >= until:  # extended meanwhile by another run
            return Outcome()
        outcome = _materialise(professional, schedule, done + dt.timedelta(days=1), until, now)
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
        logger.info("recurring horizons extended", extra={"schedules": summary["schedules"],
                    "created": summary["created"], "skipped": len(summary["skipped"]), "failed": summary["failed"]})
    return summary
