"""Who a client user is at each professional: their ``clients`` rows, linked by verified identity only.

    user = client_links.client_user(app.context)   # ClientUser(user_id, phone="+5511988887777", email=None)
    client_links.link(user)                        # -> 2: rows of two professionals now carry user.user_id
    client_links.linked(user.user_id)              # -> that user's rows, each with its professional

A client user is any authenticated Supabase user (a professional's token on a client route is that person as a
client). Their rows are found through the token alone, never through anything a request carries:

* the ``phone`` claim when ``user_metadata.phone_verified`` is true (Supabase confirmed it by OTP; it writes the
  digits without ``+``): normalised to E.164 as the routes do (:func:`odys.fields.normalize_phone`), and matched
  with and without the Brazilian 9th digit (:func:`odys.fields.phone_variants`), since a professional
  may have typed either form;
* the ``email`` claim when ``user_metadata.email_verified`` is true (case-insensitive).

Linking sets ``clients.user_id`` on rows **no user holds yet** — at most one per professional (the schema's unique
index): a phone match first, then an e-mail one, then the oldest row. It is idempotent (one statement; two
requests racing for a row: one takes it, the other finds it taken), and a linked row stays with its user: a
number that changes hands later (the old owner changed phones, the new one verifies it) does not carry anyone's
history with it. A row lets its user go in two cases only (migration 0007):

* the user's erasure request (:func:`odys.client_profile.erase`) unlinks them everywhere **for good**: neither
  their next request nor a later owner of their number links those rows again (``link_erased_at``);
* someone else changes the row's phone or e-mail (the professional corrects a wrong number): the link was proven
  against the old data, so the row is unlinked (a database trigger) and an erasure's block lapses; whoever
  verifies the new data links it. The user's own rectification of their e-mail keeps the link.

Supabase lets a user edit ``user_metadata``: the ``*_verified`` flag alone proves nothing. What holds is that
Supabase changes the ``phone``/``email`` claims only once the new value is confirmed (keep phone and e-mail
confirmations on in the Supabase project).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from odys import db
from odys.fields import normalize_phone, phone_variants
from odys.log import logger
from odys.store import client_links as store


@dataclass(frozen=True)
class ClientUser:
    """An authenticated user on a client route, with the contacts their token proves (or None)."""

    user_id: str
    phone: str | None = None  # E.164
    email: str | None = None  # lower case

    @property
    def phones(self) -> list[str]:
        """The verified phone as it may be stored: with and without the Brazilian 9th digit."""
        return phone_variants(self.phone[1:]) if self.phone else []


def _e164(claim: str | None) -> str | None:
    """Supabase's phone claim (digits, no ``+``) in E.164, or None when it is not a phone number."""
    if not claim:
        return None
    try:
        return normalize_phone(claim if claim.startswith("+") else "+" + claim)
    except ValueError:
        return None


def _email(claim: str | None) -> str | None:
    value = (claim or "").strip().lower()
    return value if "@" in value[1:] and len(value) <= 254 else None


def client_user(context: Mapping[str, Any]) -> ClientUser:
    """The client user of a request from what :func:`odys.auth.require_user` put in ``app.context``."""
    return ClientUser(context["user_id"], _e164(context.get("verified_phone")), _email(context.get("verified_email")))


def link(user: ClientUser) -> int:
    """Link the user to every unlinked row their verified phone or e-mail matches (one per professional); returns
    how many rows were linked now (0 when nothing new matches: no write)."""
    if not user.phone and not user.email:
        return 0
    try:
        linked = store.link(user.user_id, phones=user.phones, email=user.email)
    except db.DatabaseError as error:  # the same user linking in two requests at once: the other one won
        if db.sqlstate(error)[0] != "23505":
            raise
        linked = store.link(user.user_id, phones=user.phones, email=user.email)
    if linked:
        logger.info("client user linked", extra={"rows": linked})
    return linked


def linked(user_id: str) -> list[dict[str, Any]]:
    """The user's client rows, each with its professional's public fields (``professional_*``), oldest first."""
    return store.linked(user_id)
