"""Whether a professional's page shows reviews, and their public summary: what the public profile needs of reviews,
without :mod:`odys.reviews`' use cases and models (the profile is a hot public page).

    review_summary.enabled(professional)          # the effective plan (trial included) has the ``reviews`` feature
    review_summary.public_summary(professional)   # {"count": 12, "average": 4.75}, or {"count": 0, "average": None}
"""

from __future__ import annotations

from typing import Any

from odys import plans
from odys.store import professionals as professionals_store

NO_SUMMARY = {"count": 0, "average": None}


def enabled(professional: dict[str, Any], prefix: str = "") -> bool:
    """Whether the professional's effective plan (trial included) has reviews; ``prefix`` names the columns
    (``professional_`` for a joined row)."""
    plan = plans.effective_plan(professional[f"{prefix}plan"], professional[f"{prefix}trial_ends_at"])
    return plans.has_feature(plan, "reviews")


def public_summary(professional: dict[str, Any]) -> dict[str, Any]:
    """``{count, average}`` of the professional's visible reviews, or none when their plan has no reviews."""
    return professionals_store.review_summary(professional["id"]) if enabled(professional) else dict(NO_SUMMARY)
