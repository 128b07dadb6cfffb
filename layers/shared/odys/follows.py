"""Following professionals: a client user's list of the professionals they like to keep an eye on.

    follows.list_for(user_id)                     # -> {"follows": [{"slug", "name", ..., "followedAt"}]}
    follows.follow(user_id, FollowIn(slug="ana-psi"))     # -> (True, {"slug", ..., "followedAt"}); again: False
    follows.unfollow(user_id, FollowIn(slug="ana-psi"))   # idempotent; unknown slug 404

Both ``POST`` and ``DELETE /api/follows`` take ``{slug}`` in the body. Following is not being a client: it links
nothing (:mod:`odys.client_links`) and tells the professional nothing but the count on their public profile.
"""

from __future__ import annotations

from typing import Any

from odys import profiles
from odys.errors import NotFound
from odys.fields import ApiModel, Slug
from odys.store import follows as store
from odys.store import professionals as professionals_store


class FollowIn(ApiModel):
    """``{slug}`` of the professional to follow or unfollow."""

    slug: Slug


def _professional(slug: str) -> dict[str, Any]:
    row = professionals_store.by_slug(slug)
    if row is None:
        raise NotFound("professional", detail=f"No professional at /{slug}.")
    return row


def _view(row: dict[str, Any]) -> dict[str, Any]:
    return {**profiles.card(row), "followedAt": row["followed_at"]}


def list_for(user_id: str) -> dict[str, Any]:
    return {"follows": [_view(r) for r in store.of_user(user_id)]}


def follow(user_id: str, data: FollowIn) -> tuple[bool, dict[str, Any]]:
    """(whether the follow is new, the follow): following twice is one row, the first ``followedAt``."""
    professional = _professional(data.slug)
    row = store.add(user_id, str(professional["id"]))
    return row["created"], _view({**professional, "followed_at": row["followed_at"]})


def unfollow(user_id: str, data: FollowIn) -> None:
    store.remove(user_id, str(_professional(data.slug)["id"]))
