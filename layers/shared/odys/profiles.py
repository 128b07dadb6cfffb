"""The public face of a professional: what a booking page may show to anyone.

    profiles.public_profile("ana-psi")   # -> {"slug", "name", "profession", ..., "reviews": {"count", "average"},
                                         #     "followers": 3}
    profiles.card(row)                   # -> {"slug", "name", "profession", "avatarUrl", "city", "timezone"}

The review summary is empty when the professional's plan has no reviews (:func:`odys.review_summary.public_summary`).
"""

from __future__ import annotations

from typing import Any

from odys import review_summary
from odys.errors import NotFound
from odys.store import follows as follows_store
from odys.store import professionals as store


def public_profile(slug: str) -> dict[str, Any]:
    row = store.by_slug(slug.lower())
    if row is None:
        raise NotFound("professional", detail=f"No professional at /{slug}.")
    return {
        "slug": row["slug"], "name": row["name"], "profession": row["profession"], "bio": row["bio"],
        "avatarUrl": row["avatar_url"], "city": row["city"], "timezone": row["timezone"],
        "sessionPrice": row["session_price"], "sessionDurationMinutes": row["session_duration_minutes"],
        "minNoticeMinutes": row["min_notice_minutes"], "bookingWindowDays": row["booking_window_days"],
        "cancellationNoticeHours": row["cancellation_notice_hours"], "paymentType": row["payment_type"],
        "acceptsPix": row["pix_key"] is not None, "reviews": review_summary.public_summary(row),
        "followers": follows_store.count(row["id"]),
    }


def card(row: dict[str, Any]) -> dict[str, Any]:
    """The few public fields that name a professional in someone else's list (follows, a client's profile)."""
    return {"slug": row["slug"], "name": row["name"], "profession": row["profession"],
            "avatarUrl": row["avatar_url"], "city": row["city"], "timezone": row["timezone"]}
