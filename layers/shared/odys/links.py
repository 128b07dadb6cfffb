"""The public links Odys puts in messages, all under ``APP_BASE_URL`` (default ``http://localhost:3000``)::

    from odys import links
    links.manage_link(token)      # "https://app.odys.com.br/b/<token>"          (the client's manage page)
    links.review_link(token)      # "https://app.odys.com.br/b/<token>/review"
    links.booking_page("marta")   # "https://app.odys.com.br/marta"              (the professional's booking page)
    links.billing_page()          # "https://app.odys.com.br/dashboard/billing"
    links.agenda_day(date)        # "https://app.odys.com.br/dashboard/agenda?date=2026-12-01" (one day's agenda)
"""

from __future__ import annotations

from datetime import date
from urllib.parse import quote

from odys import config


def _base() -> str:
    return (config.env("APP_BASE_URL", "http://localhost:3000") or "").rstrip("/")


def manage_link(token: str) -> str:
    return f"{_base()}/b/{quote(token, safe='')}"


def review_link(token: str) -> str:
    return f"{manage_link(token)}/review"


def booking_page(slug: str) -> str:
    return f"{_base()}/{quote(slug, safe='')}"


def billing_page() -> str:
    return f"{_base()}/dashboard/billing"


def agenda_day(day: date) -> str:
    return f"{_base()}/dashboard/agenda?date={day.isoformat()}"
