"""Who is calling: the authenticated user's professional row (every professional route starts here), and the
caller's own client by id.

    from odys import caller
    professional = caller.professional(app.context["user_id"])   # the row, or 404 onboarding_required
    client = caller.client_or_404(professional["id"], client_id)  # the row, or 404 not_found (anyone else's)

For a write, take the professional's lock instead: ``with agenda.for_user(user_id) as work`` (one query, locked).
Kept apart from :mod:`odys.account` and :mod:`odys.clients` so that any service can ask without importing their
use cases (billing, the agenda, their models).
"""

from __future__ import annotations

import uuid
from typing import Any

from odys.errors import NotFound, OnboardingRequired
from odys.store import clients as client_store
from odys.store import professionals as store


def professional(user_id: str) -> dict[str, Any]:
    """The caller's professional row, or 404 ``onboarding_required``."""
    row = store.by_user(user_id)
    if row is None:
        raise OnboardingRequired()
    return row


def client_or_404(professional_id: str, client_id: str | uuid.UUID) -> dict[str, Any]:
    """The professional's client row; 404 ``not_found`` when the id is not one of theirs."""
    row = client_store.get(professional_id, str(client_id))
    if row is None:
        raise NotFound("client")
    return row
