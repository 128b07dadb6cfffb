"""Who is calling: the authenticated user's professional row (every professional route starts here).

    from odys import caller
    professional = caller.professional(app.context["user_id"])   # the row, or 404 onboarding_required

For a write, take the professional's lock instead: ``with agenda.for_user(user_id) as work`` (one query, locked).
Kept apart from :mod:`odys.account` so that any service can ask without importing the account's use cases (and
billing with them).
"""

from __future__ import annotations

from typing import Any

from odys.errors import OnboardingRequired
from odys.store import professionals as store


def professional(user_id: str) -> dict[str, Any]:
    """The caller's professional row, or 404 ``onboarding_required``."""
    row = store.by_user(user_id)
    if row is None:
        raise OnboardingRequired()
    return row
