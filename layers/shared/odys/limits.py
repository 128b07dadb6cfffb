"""Plan-limit checks, called by the professional's unit of work (:mod:`odys.agenda`) wherever a client is added or
an appointment starts counting in a month (booking, manual, link or professional reschedule, re-activation,
recurring occurrences).

    with agenda.for_professional(pid) as work:            # holds the professional's row lock
        limits.ensure_client_capacity(work.professional)  # 402 plan_limit_reached when full
        limits.ensure_appointment_capacity(work.professional, starts_at)

The agenda's lock on the professional's row makes the count-then-insert exact under concurrency: two bookings
racing for the last free place of the month cannot both pass. Reaching a limit also leaves the professional an in-app notice,
once per month (``msgPlanLimitReached``), written after the transaction so the refusal's rollback keeps it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal
from zoneinfo import ZoneInfo

from odys import clock, db, plans
from odys.errors import PlanLimitReached
from odys.store import appointments, clients


_LIMIT_LABELS_PT = {"clients": "clientes", "appointments_per_month": "agendamentos do mês"}  # in the message


def _refuse(professional: dict[str, Any], limit: Literal["clients", "appointments_per_month"], count: int,
            month_key: str) -> None:
    current = plans.effective_plan(professional["plan"], professional["trial_ends_at"])
    required = plans.plan_allowing(limit, count + 1)
    label = "clients" if limit == "clients" else "appointments this month"

    def tell() -> None:  # once a month and limit: in-app and on WhatsApp (one transaction of its own)
        from odys import messaging  # here: the notice's modules are loaded only when a limit is reached
        from odys.notifications import notify_professional

        with db.transaction():
            first = notify_professional(
                professional["id"], "plan_limit_reached", "Limite do plano atingido",
                f"Seu plano {plans.PLANS[current].label} chegou ao limite de {label}. "
                f"Faça upgrade para continuar recebendo agendamentos.",
                dedupe_key=f"plan-limit:{professional['id']}:{limit}:{month_key}")
            if first:
                messaging.plan_limit_reached(professional, limit=_LIMIT_LABELS_PT[limit], plan=current,
                                             month=month_key)

    # Written after the caller's transaction ends: the refusal rolls that transaction back, the notice stays.
    db.after_transaction(tell)
    raise PlanLimitReached(label, current_plan=current, required_plan=required)


def ensure_client_capacity(professional: dict[str, Any], now: dt.datetime | None = None, *,
                           count: int | None = None) -> None:
    """402 when the plan's client limit is reached; ``count``: the clients on file, when the caller has read it
    under the professional's lock (else it is counted here)."""
    now = now or clock.now()
    plan = plans.effective_plan(professional["plan"], professional["trial_ends_at"], now)
    allowed = plans.limit_of(plan, "clients")
    if allowed is None:
        return
    if count is None:
        count = clients.count(professional["id"])
    if count >= allowed:
        _refuse(professional, "clients", count, now.astimezone(ZoneInfo(professional["timezone"])).strftime("%Y-%m"))


def ensure_appointment_capacity(professional: dict[str, Any], starts_at: dt.datetime,
                                now: dt.datetime | None = None, *, count: int | None = None) -> None:
    """402 when the month of ``starts_at`` is full for the plan; ``count``: that month's appointments, when the
    caller has read it under the professional's lock (else it is counted here)."""
    now = now or clock.now()
    plan = plans.effective_plan(professional["plan"], professional["trial_ends_at"], now)
    allowed = plans.limit_of(plan, "appointments_per_month")
    if allowed is None:
        return
    if count is None:
        count = appointments.count_in_month(professional["id"], professional["timezone"], starts_at)
    if count >= allowed:
        month = starts_at.astimezone(ZoneInfo(professional["timezone"])).strftime("%Y-%m")
        _refuse(professional, "appointments_per_month", count, month)
