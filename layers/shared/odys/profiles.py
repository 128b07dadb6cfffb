"""The public face of a professional: what a booking page may show to anyone.

    profiles.public_profile("ana-psi")   # -> {"slug", "name", "profession", ..., "reviews": {"count", "average"}}
"""

from __future__ import annotations

from typing import Any

from odys.errors import NotFound
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
        "acceptsPix": row["pix_key"] is not None, "reviews": store.review_summary(row["id"]),
    }
