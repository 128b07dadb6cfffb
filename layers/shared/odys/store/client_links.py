"""SQL of :mod:`odys.client_links`: which ``clients`` rows a user holds, and linking them by verified identity.

    link(user_id, phones=["+5511988887777", "+551188887777"], email=None)   # -> rows linked now
    linked(user_id)     # the user's rows with their professional's public fields
    unlink_all(user_id) # -> [{"id", "professional_id", "name"}]: the rows let go (the erasure; never relinked)
"""

from __future__ import annotations

from typing import Any

from odys import db

# What a client user may know of a professional ``p`` (never phone, e-mail, PIX key or billing): the public card,
# and what decides on reviews and PIX.
PROFESSIONAL_COLUMNS = """p.slug AS professional_slug, p.name AS professional_name,
    p.profession AS professional_profession, p.avatar_url AS professional_avatar_url, p.city AS professional_city,
    p.timezone AS professional_timezone, p.plan AS professional_plan, p.trial_ends_at AS professional_trial_ends_at,
    p.pix_key IS NOT NULL AS professional_accepts_pix"""
# A client row ``c`` and its professional's columns above.
LINKED_COLUMNS = f"""c.id, c.professional_id, c.name, c.phone, c.email, c.created_at, c.updated_at,
    {PROFESSIONAL_COLUMNS}"""


def link(user_id: str, *, phones: list[str], email: str | None) -> int:
    """Give ``user_id`` the unlinked rows matching one of ``phones`` or ``email``: one per professional where the
    user holds none yet (phone match first, then the oldest). Rows someone holds, and rows an erasure let go
    (``link_erased_at``), are never taken."""
    rows = db.run(
        "WITH picked AS (SELECT DISTINCT ON (c.professional_id) c.id FROM clients c "
        " WHERE c.user_id IS NULL AND c.link_erased_at IS NULL "
        "   AND (c.phone = ANY(CAST(:phones AS text[])) "
        "        OR (CAST(:email AS text) IS NOT NULL AND lower(c.email) = CAST(:email AS text))) "
        "   AND NOT EXISTS (SELECT 1 FROM clients o WHERE o.professional_id = c.professional_id "
        "                   AND o.user_id = :uid) "
        " ORDER BY c.professional_id, (c.phone = ANY(CAST(:phones AS text[]))) DESC, c.created_at, c.id) "
        "UPDATE clients c SET user_id = :uid FROM picked WHERE c.id = picked.id AND c.user_id IS NULL RETURNING 1",
        uid=user_id, phones=phones, email=email)
    return len(rows)


def linked(user_id: str) -> list[dict[str, Any]]:
    return db.all(f"SELECT {LINKED_COLUMNS} FROM clients c JOIN professionals p ON p.id = c.professional_id "
                  f"WHERE c.user_id = :uid ORDER BY c.created_at, c.id", uid=user_id)


def linked_for_update(user_id: str) -> list[dict[str, Any]]:
    """The user's rows, locked until the end of the transaction."""
    return db.all("SELECT id, professional_id, name, email FROM clients WHERE user_id = :uid "
                  "ORDER BY professional_id FOR UPDATE", uid=user_id)


def unlink_all(user_id: str) -> list[dict[str, Any]]:
    """The erasure: let go of every row the user holds, for good (``link_erased_at``: never linked again until the
    professional changes the row's phone or e-mail, migration 0007)."""
    return db.all("UPDATE clients SET user_id = NULL, link_erased_at = now() WHERE user_id = :uid "
                  "RETURNING id, professional_id, name", uid=user_id)
