"""Odys subscription plans: prices, limits, features, and the effective plan during the trial.

    effective_plan("free", trial_ends_at=now + timedelta(days=3))   # -> "pro" (the 14-day pro trial)
    PLANS["basic"].limits.clients                                  # -> 50
    plan_allowing("clients", 11)                                   # -> "basic" (cheapest plan with room)
    has_feature("basic", "recurring_schedules")                    # -> False

Stripe price ids come from configuration (``STRIPE_PRICE_BASIC`` / ``_PRO`` / ``_PREMIUM``), never from code.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from odys import config

PlanName = Literal["free", "basic", "pro", "premium"]
PLAN_ORDER: tuple[PlanName, ...] = ("free", "basic", "pro", "premium")
TRIAL_DAYS = 14
TRIAL_PLAN: PlanName = "pro"


@dataclass(frozen=True)
class Limits:
    clients: int | None  # None = unlimited
    appointments_per_month: int | None


@dataclass(frozen=True)
class Plan:
    name: PlanName
    label: str
    price_cents: int
    limits: Limits
    features: frozenset[str]
    note: str | None = None

    @property
    def price_id(self) -> str | None:
        """The Stripe price id of this plan, from configuration (None for free or when unset)."""
        return None if self.name == "free" else config.env(f"STRIPE_PRICE_{self.name.upper()}")


# Master list of features, in display order (for comparison tables): key -> label.
PLAN_FEATURES: dict[str, str] = {
    "booking_page": "Página pública de agendamento",
    "pix": "PIX integrado",
    "manual_messages": "Mensagens manuais",
    "whatsapp_automation": "Confirmações e lembretes por WhatsApp",
    "recurring_schedules": "Sessões recorrentes",
    "reviews": "Avaliações",
    "export": "Exportação de dados",
    "ai_assistant": "Assistente de IA",
    "priority_support": "Suporte prioritário",
}

_FREE = frozenset({"booking_page", "pix", "manual_messages"})
_BASIC = _FREE | {"whatsapp_automation"}
_PRO = _BASIC | {"recurring_schedules", "reviews", "export"}
_PREMIUM = _PRO | {"ai_assistant", "priority_support"}

PLANS: dict[PlanName, Plan] = {
    "free": Plan("free", "Free", 0, Limits(10, 20), _FREE, note="Para começar: até 10 clientes e 20 sessões/mês"),
    "basic": Plan("basic", "Basic", 2990, Limits(50, 150), _BASIC),
    "pro": Plan("pro", "Pro", 5990, Limits(None, None), _PRO),
    "premium": Plan("premium", "Premium", 9990, Limits(None, None), _PREMIUM),
}


def trial_end(start: dt.datetime) -> dt.datetime:
    return start + dt.timedelta(days=TRIAL_DAYS)


def in_trial(trial_ends_at: dt.datetime | None, now: dt.datetime | None = None) -> bool:
    now = now or dt.datetime.now(dt.timezone.utc)
    return trial_ends_at is not None and trial_ends_at > now


def effective_plan(plan: str, trial_ends_at: dt.datetime | None, now: dt.datetime | None = None) -> PlanName:
    """The plan whose limits apply now: the stored plan, raised to ``pro`` while the trial runs."""
    stored: PlanName = plan if plan in PLANS else "free"  # type: ignore[assignment]
    if in_trial(trial_ends_at, now) and PLAN_ORDER.index(stored) < PLAN_ORDER.index(TRIAL_PLAN):
        return TRIAL_PLAN
    return stored


def trial_days_left(trial_ends_at: dt.datetime | None, now: dt.datetime | None = None) -> int:
    now = now or dt.datetime.now(dt.timezone.utc)
    if not in_trial(trial_ends_at, now):
        return 0
    return max(0, -(-int((trial_ends_at - now).total_seconds()) // 86400))  # type: ignore[operator]


def has_feature(plan: str, feature: str) -> bool:
    return feature in PLANS.get(plan, PLANS["free"]).features  # type: ignore[call-overload]


def limit_of(plan: str, limit: Literal["clients", "appointments_per_month"]) -> int | None:
    return getattr(PLANS.get(plan, PLANS["free"]).limits, limit)  # type: ignore[call-overload]


def plan_allowing(limit: Literal["clients", "appointments_per_month"], count: int) -> PlanName | None:
    """The cheapest plan whose ``limit`` admits ``count`` rows (None if none does)."""
    for name in PLAN_ORDER:
        allowed = getattr(PLANS[name].limits, limit)
        if allowed is None or count <= allowed:
            return name
    return None


def plan_with_feature(feature: str) -> PlanName | None:
    return next((name for name in PLAN_ORDER if feature in PLANS[name].features), None)
