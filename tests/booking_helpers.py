"""Helpers of the slots and booking tests (tests/test_slots.py, tests/test_booking.py)."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any
from zoneinfo import ZoneInfo

from odys import db

UTC = dt.timezone.utc
SAO_PAULO = ZoneInfo("America/Sao_Paulo")
_phones = itertools.count(10_000_000)
MORNINGS = {"windows": [{"dayOfWeek": d, "startTime": "09:00", "endTime": "12:00"} for d in range(7)]}


def local_today(tz: ZoneInfo = SAO_PAULO) -> dt.date:
    return dt.datetime.now(tz).date()


def configure(api: Any, token: str, *, windows: dict[str, Any] | None = None, **settings: Any) -> None:
    """PATCH the professional's settings (camelCase) and PUT their availability (every morning by default)."""
    if settings:
        result = api.patch("/api/account", token=token, json_body=settings)
        assert result.status == 200, result.body
    result = api.put("/api/availability", token=token, json_body=windows or MORNINGS)
    assert result.status == 200, result.body


def slots_on(api: Any, day: dt.date, last: dt.date | None = None, slug: str = "ana-psi",
             ip: str = "198.51.100.1") -> list[dict[str, str]]:
    result = api.get(f"/api/professionals/{slug}/slots", query={"from": day.isoformat(),
                                                               "to": (last or day).isoformat()}, source_ip=ip)
    assert result.status == 200, result.body
    return result.json["slots"]


def booking_body(starts_at: str, phone: str = "+5511988887777", name: str = "Bia Lima", **extra: Any) -> dict:
    return {"slug": "ana-psi", "startsAt": starts_at, "client": {"name": name, "phone": phone}, **extra}


def book(api: Any, starts_at: str, *, ip: str = "192.0.2.1", key: str | None = None, **body: Any):
    headers = {"Idempotency-Key": key} if key else None
    return api.post("/api/booking", json_body=booking_body(starts_at, **body), headers=headers, source_ip=ip)


def professional_id() -> str:
    return str(db.scalar("SELECT id FROM professionals WHERE slug = 'ana-psi'"))


def add_client(phone: str = "+5511900000000", name: str = "Cliente") -> str:
    return str(db.scalar("INSERT INTO clients (professional_id, name, phone) VALUES (:p, :n, :ph) RETURNING id",
                         p=professional_id(), n=name, ph=phone))


def add_appointment(starts_at: dt.datetime, minutes: int = 50, status: str = "confirmed",
                    client_id: str | None = None) -> str:
    client_id = client_id or add_client(f"+55119{next(_phones)}")
    return str(db.scalar(
        "INSERT INTO appointments (professional_id, client_id, starts_at, ends_at, status, price) "
        "VALUES (:p, :c, :s, :e, :st, 0) RETURNING id", p=professional_id(), c=client_id, s=starts_at,
        e=starts_at + dt.timedelta(minutes=minutes), st=status))
