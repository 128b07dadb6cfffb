"""SQL for professionals."""

from __future__ import annotations

import datetime as dt
from typing import Any

from odys import db
from odys.store import set_clause

COLUMNS = """id, user_id, name, slug, phone, email, profession, bio, avatar_url, city, timezone, session_price,
    session_duration_minutes, buffer_minutes, min_notice_minutes, booking_window_days, cancellation_notice_hours,
    auto_confirm, payment_type, pix_key_type, pix_key, plan, stripe_customer_id, stripe_subscription_id,
    stripe_checkout_session_id, trial_ends_at, whatsapp_enabled, created_at, updated_at"""

EDITABLE = frozenset({
    "name", "slug", "phone", "email", "profession", "bio", "avatar_url", "city", "timezone", "session_price",
    "session_duration_minutes", "buffer_minutes", "min_notice_minutes", "booking_window_days",
    "cancellation_notice_hours", "auto_confirm", "payment_type", "pix_key_type", "pix_key", "whatsapp_enabled",
})


def by_user(user_id: str) -> dict[str, Any] | None:
    return db.one(f"SELECT {COLUMNS} FROM professionals WHERE user_id = :user_id", user_id=user_id)


def lock(professional_id: str) -> dict[str, Any] | None:
    """The professional's row, locked until the end of the transaction (serialises the professional's writes)."""
    return db.one(f"SELECT {COLUMNS} FROM professionals WHERE id = :id FOR UPDATE", id=professional_id)


def lock_by_user(user_id: str) -> dict[str, Any] | None:
    """:func:`lock` for the professional of an authenticated user."""
    return db.one(f"SELECT {COLUMNS} FROM professionals WHERE user_id = :user_id FOR UPDATE", user_id=user_id)


def by_slug(slug: str) -> dict[str, Any] | None:
    return db.one(f"SELECT {COLUMNS} FROM professionals WHERE slug = :slug", slug=slug)


def insert(user_id: str, fields: dict[str, Any], trial_ends_at: dt.datetime) -> dict[str, Any]:
    names = sorted(set(fields) & EDITABLE)
    cols = ", ".join(["user_id", "trial_ends_at", *names])
    values = ", ".join([":user_id", ":trial_ends_at", *(f":{n}" for n in names)])
    row = db.one(f"INSERT INTO professionals ({cols}) VALUES ({values}) RETURNING {COLUMNS}",
                 user_id=user_id, trial_ends_at=trial_ends_at, **{n: fields[n] for n in names})
    assert row is not None
    return row


def update(professional_id: str, changes: dict[str, Any]) -> dict[str, Any] | None:
    assignments, values = set_clause(changes, EDITABLE)
    return db.one(f"UPDATE professionals SET {assignments} WHERE id = :id RETURNING {COLUMNS}",
                  id=professional_id, **values)


def delete(professional_id: str) -> bool:
    return bool(db.run("DELETE FROM professionals WHERE id = :id RETURNING id", id=professional_id))


def review_summary(professional_id: str) -> dict[str, Any]:
    """``{count, average}`` of the reviews the public sees (hidden ones left out); average null without any."""
    row = db.one("SELECT count(*) AS count, round(avg(rating)::numeric, 2)::float8 AS average "
                 "FROM reviews WHERE professional_id = :pid AND hidden_at IS NULL", pid=professional_id)
    return row or {"count": 0, "average": None}
