"""Seed the dev database with a demo professional, through the same services the API uses."""

from __future__ import annotations

from odys import account, availability
from odys.store import professionals

DEMO_USER_ID = "00000000-0000-4000-8000-00000000d3e0"
DEMO_SLUG = "demo"


def seed_demo() -> dict:
    existing = professionals.by_user(DEMO_USER_ID)
    if existing:
        return account.view(existing)
    account.onboard(DEMO_USER_ID, account.AccountCreate(
        name="Dra. Demo Oliveira", slug=DEMO_SLUG, phone="+5511987654321", email="demo@odys.local",
        profession="Psicóloga", session_price=15000, session_duration_minutes=50, city="São Paulo",
        bio="Psicoterapia para adultos. Atendimento presencial e online."))
    account.update(DEMO_USER_ID, account.AccountUpdate(pix_key_type="email", pix_key="demo@odys.local"))
    weekdays = [{"dayOfWeek": d, "startTime": s, "endTime": e} for d in range(1, 6)
                for s, e in (("09:00", "12:00"), ("14:00", "18:00"))]
    availability.replace(DEMO_USER_ID, availability.AvailabilityIn.model_validate({"windows": weekdays}))
    return account.get(DEMO_USER_ID)
