"""Reviews: a client user rates their own completed appointment once; anyone reads a professional's reviews.

    reviews.page(ReviewQuery(slug="ana-psi"))
    # -> {"slug": "ana-psi", "count": 12, "average": 4.75, "reviews": [{"id", "rating", "comment", "createdAt"}],
    #     "nextCursor": "..."}
    reviews.create(user, ReviewCreate(appointment_id=aid, rating=5, comment="Muito atenciosa"))
    # -> {"review": {...}, "summary": {"count": 13, "average": 4.77}}      (201)
    reviews.set_hidden(pro_user_id, review_id, ReviewVisibility(hidden=True))  # the professional hides it

Rules:

* Reviews are a feature of the professional's plan (``reviews``: Pro, Premium and the trial, on the effective
  plan): without it ``POST`` is 403 ``reviews_disabled`` and the public list and summary show nothing.
* One review per appointment (409 ``already_reviewed``), by the client user holding the appointment's client row
  (:mod:`odys.client_links`; anyone else's appointment, like an unknown one, is 404), once it is ``completed``
  (409 ``appointment_not_completed``) and within :data:`REVIEW_WINDOW` of its end (409 ``review_window_closed``).
* The comment is plain text, at most :data:`COMMENT_MAX_LENGTH` characters, no control characters but line
  breaks; it is stored and returned as written (pages render it as text, never as HTML).
* Public reviews carry no author: on a psychologist's or a nutritionist's page, a name would tell the world who
  is in treatment (health data, LGPD art. 11).
* The professional may hide a review from the public page (``hidden_at``/``hidden_by`` record when and who) and
  show it again; nobody edits one. Hidden reviews count neither in the list nor in the summary
  (``store.professionals.review_summary``, which the public profile shows too).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Annotated, Any

from pydantic import AfterValidator, Field

from odys import caller, client_links, clock, db, pagination
from odys.appointment_views import local_date
from odys.errors import Conflict, Forbidden, NotFound
from odys.fields import ApiModel, Slug
from odys.log import logger
from odys.review_summary import NO_SUMMARY, enabled
from odys.store import professionals as professionals_store
from odys.store import reviews as store

REVIEW_WINDOW = dt.timedelta(days=90)
COMMENT_MAX_LENGTH = 1000
PAGE_DEFAULT = 20
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def _plain_text(value: str) -> str | None:
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    if _CONTROL.search(value):
        raise ValueError("plain text only: no control characters except line breaks and tabs")
    return value or None


Comment = Annotated[str, Field(max_length=COMMENT_MAX_LENGTH, json_schema_extra={  # documents _plain_text's rule
    "pattern": r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"}), AfterValidator(_plain_text)]


class ReviewQuery(ApiModel):
    """``GET /api/reviews?slug=&limit=&cursor=``."""

    slug: Slug
    limit: int = Field(default=PAGE_DEFAULT, ge=1, le=pagination.MAX_LIMIT)
    cursor: str | None = Field(default=None, max_length=200)


class ReviewCreate(ApiModel):
    """``POST /api/reviews``: ``{appointmentId, rating 1-5, comment?}``."""

    appointment_id: uuid.UUID
    rating: int = Field(ge=1, le=5, strict=True)
    comment: Comment | None = None


class ReviewVisibility(ApiModel):
    """``PATCH /api/reviews/{id}``: ``{hidden: true|false}`` (the professional's only say over a review)."""

    hidden: bool = Field(strict=True)


def public_view(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": str(row["id"]), "rating": row["rating"], "comment": row["comment"], "createdAt": row["created_at"]}


def professional_view(row: dict[str, Any]) -> dict[str, Any]:
    """A review as its professional sees it: which appointment, and whether (since when) it is hidden."""
    return {**public_view(row), "appointmentId": str(row["appointment_id"]), "hidden": row["hidden_at"] is not None,
            "hiddenAt": row["hidden_at"]}


def page(query: ReviewQuery) -> dict[str, Any]:
    """A page of the professional's visible reviews, newest first, with the summary; 404 for an unknown slug."""
    professional = professionals_store.by_slug(query.slug)
    if professional is None:
        raise NotFound("professional", detail=f"No professional at /{query.slug}.")
    after = pagination.keyset_after("reviews", query.cursor)
    if not enabled(professional):
        return {"slug": professional["slug"], **NO_SUMMARY, "reviews": [], "nextCursor": None}
    rows = store.visible_page(str(professional["id"]), limit=query.limit + 1, after=after)
    items, cursor = pagination.keyset_page("reviews", rows, query.limit)
    return {"slug": professional["slug"], **professionals_store.review_summary(professional["id"]),
            "reviews": [public_view(r) for r in items], "nextCursor": cursor}


def create(user: client_links.ClientUser, data: ReviewCreate, now: dt.datetime | None = None) -> dict[str, Any]:
    """The client user's review of their own completed appointment (see the module's rules)."""
    now = now or clock.now()
    client_links.link(user)
    appointment_id = str(data.appointment_id)
    row = store.appointment_for_review(appointment_id, user.user_id)
    if row is None:
        raise NotFound("appointment")
    if not enabled(row):
        raise Forbidden("This professional's plan does not include reviews.", code="reviews_disabled")
    if row["status"] != "completed":
        raise Conflict("appointment_not_completed", "Only a completed appointment can be reviewed.",
                       extra={"appointmentStatus": row["status"]})
    if row["review_id"] is not None:
        raise Conflict("already_reviewed", "You have already reviewed this appointment.",
                       extra={"reviewId": str(row["review_id"])})
    closes_at = row["ends_at"] + REVIEW_WINDOW
    if now > closes_at:
        raise Conflict("review_window_closed", f"Appointments can be reviewed for {REVIEW_WINDOW.days} days "
                       "after they end.", extra={"closedAt": closes_at.isoformat()})
    pid, client_id = str(row["professional_id"]), str(row["client_id"])
    from odys.notifications import notify_professional  # here: the profile and list routes never notify

    with db.transaction():
        if not store.hold_author(client_id, user.user_id):  # erased since the check above
            raise NotFound("appointment")
        review = store.insert(pid, client_id, appointment_id, data.rating, data.comment)
        if review is None:  # another request of the same user won the race
            raise Conflict("already_reviewed", "You have already reviewed this appointment.")
        notify_professional(pid, "review_received", "Nova avaliação",
                            f"{row['client_name']} avaliou a sessão de "
                            f"{local_date(row['starts_at'], row['timezone']):%d/%m/%Y} com {data.rating} de 5.",
                            client_id=client_id)
    logger.info("review created", extra={"review_id": str(review["id"]), "professional_id": pid})
    return {"review": author_view({**review, "slug": row["slug"]}),
            "summary": professionals_store.review_summary(pid)}


def author_view(row: dict[str, Any]) -> dict[str, Any]:
    """A review as its author sees it (export, POST answer): which professional and appointment, and whether the
    professional hid it."""
    return {**public_view(row), "slug": row["slug"], "appointmentId": str(row["appointment_id"]),
            "hidden": row["hidden_at"] is not None}


def set_hidden(user_id: str, review_id: str, data: ReviewVisibility, now: dt.datetime | None = None) -> dict[str, Any]:
    """The professional hides one of their reviews from the public page, or shows it again; 404 if not theirs."""
    pid = str(caller.professional(user_id)["id"])
    row = store.set_hidden(pid, review_id, hidden=data.hidden, by=user_id, now=now or clock.now())
    if row is None:
        raise NotFound("review")
    logger.info("review visibility set", extra={"review_id": review_id, "hidden": data.hidden})
    return professional_view(row)
