"""Helpers of the client-side tests (tests/test_client_profile.py, test_follows.py, test_reviews.py): professionals
onboarded through the API, their clients and appointments inserted with SQL (those routes are tested elsewhere),
and client users' tokens as Supabase mints them."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from conftest import onboarding_body

from odys import db

UTC = dt.timezone.utc
PROBLEM = "application/problem+json"
BIA_PHONE = "+5511988887777"          # the client's number as the professionals typed it
BIA_CLAIM = "5511988887777"           # as Supabase writes it in the token: digits, no "+"
_hours = itertools.count(1)


def assert_problem(result: Any, status: int, code: str | None = None) -> dict:
    assert result.status == status, result.body
    assert result.content_type == PROBLEM, result.headers
    if code is not None:
        assert result.json["code"] == code, result.json
    return result.json


def onboard(api: Any, token_for: Any, slug: str, **overrides: Any) -> tuple[str, str]:
    """(token, professional id) of a professional onboarded with POST /api/account (in the pro trial)."""
    token = token_for()
    result = api.post("/api/account", token=token, json_body=onboarding_body(slug, **overrides))
    assert result.status == 201, result.body
    return token, result.json["id"]


def client_token(token_for: Any, sub: str | None = None, *, phone: str | None = BIA_CLAIM,
                 phone_verified: Any = True, email: str | None = None, email_verified: Any = None) -> str:
    """A client user's token: Supabase's ``phone`` claim and ``user_metadata.*_verified`` flags."""
    metadata: dict[str, Any] = {}
    if phone_verified is not None:
        metadata["phone_verified"] = phone_verified
    if email_verified is not None:
        metadata["email_verified"] = email_verified
    return token_for(sub, phone=phone, email=email, user_metadata=metadata)


def add_client(professional_id: str, phone: str = BIA_PHONE, name: str = "Bia Lima",
               email: str | None = None) -> str:
    return str(db.scalar("INSERT INTO clients (professional_id, name, phone, email) VALUES (:p, :n, :ph, :e) "
                         "RETURNING id", p=professional_id, n=name, ph=phone, e=email))


def add_appointment(professional_id: str, client_id: str, *, starts_at: dt.datetime | None = None,
                    status: str = "confirmed", price: int = 15000, payment_status: str = "unpaid",
                    notes: str | None = None) -> str:
    """An appointment of 50 minutes (by default a distinct hour in 2030)."""
    starts_at = starts_at or dt.datetime(2030, 1, 1, 12, tzinfo=UTC) + dt.timedelta(hours=next(_hours))
    return str(db.scalar(
        "INSERT INTO appointments (professional_id, client_id, starts_at, ends_at, status, price, payment_status, "
        "notes) VALUES (:p, :c, :s, :e, :st, :price, :pay, :notes) RETURNING id", p=professional_id, c=client_id,
        s=starts_at, e=starts_at + dt.timedelta(minutes=50), st=status, price=price, pay=payment_status,
        notes=notes))


def completed_appointment(professional_id: str, client_id: str, *, days_ago: float = 2) -> str:
    starts_at = dt.datetime.now(UTC).replace(microsecond=0) - dt.timedelta(days=days_ago, hours=next(_hours) % 24)
    return add_appointment(professional_id, client_id, starts_at=starts_at, status="completed")


def drop_to_free_plan(professional_id: str) -> None:
    """The trial over, on the free plan: no reviews feature."""
    db.run("UPDATE professionals SET plan = 'free', trial_ends_at = now() - interval '1 day' WHERE id = :id",
           id=professional_id)
