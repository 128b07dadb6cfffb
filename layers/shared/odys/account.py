"""Use cases of a professional's own account: onboarding, profile, PIX key, deletion.

    account.onboard(user_id, AccountCreate(name="Ana", slug="ana-psi", ...))   # -> professional view (dict)
    account.get(user_id)                                                     # 404 until onboarded
    account.update(user_id, AccountUpdate(pix_key_type="cpf", pix_key="529.982.247-25"))
    account.delete(user_id, AccountDelete(confirm="ana-psi"))                # stops billing, then cascades
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import Field, model_validator

from odys import billing, caller, db, deletion_audit, pix, plans
from odys.errors import BadRequest, Conflict, NotFound, ValidationFailed
from odys.fields import ApiModel, Cents, Email, Name, Phone, Slug, TimeZone, reject_nulls
from odys.store import professionals as store


class AccountCreate(ApiModel):
    name: Name
    slug: Slug
    phone: Phone
    email: Email
    profession: str = Field(min_length=1, max_length=80)
    timezone: TimeZone = "America/Sao_Paulo"
    session_price: Cents = 0
    session_duration_minutes: int = Field(default=50, ge=5, le=480)
    bio: str | None = Field(default=None, max_length=2000)
    city: str | None = Field(default=None, max_length=80)


class AccountUpdate(ApiModel):
    name: Name | None = None
    slug: Slug | None = None
    phone: Phone | None = None
    email: Email | None = None
    profession: str | None = Field(default=None, min_length=1, max_length=80)
    bio: str | None = Field(default=None, max_length=2000)
    avatar_url: str | None = Field(default=None, max_length=500, pattern=r"^https://\S+$")
    city: str | None = Field(default=None, max_length=80)
    timezone: TimeZone | None = None
    session_price: Cents | None = None
    session_duration_minutes: int | None = Field(default=None, ge=5, le=480)
    buffer_minutes: int | None = Field(default=None, ge=0, le=240)
    min_notice_minutes: int | None = Field(default=None, ge=0, le=43200)
    booking_window_days: int | None = Field(default=None, ge=1, le=365)
    cancellation_notice_hours: int | None = Field(default=None, ge=0, le=720)
    auto_confirm: bool | None = None
    payment_type: Literal["per_session", "monthly"] | None = None
    pix_key_type: pix.PixKeyType | None = None
    pix_key: str | None = Field(default=None, max_length=100)
    whatsapp_enabled: bool | None = None

    @model_validator(mode="after")
    def _pix_pair(self) -> "AccountUpdate":
        sent = self.model_fields_set
        if ("pix_key" in sent) != ("pix_key_type" in sent):
            raise ValueError("send pixKeyType and pixKey together (both null to remove the key)")
        if "pix_key" in sent and (self.pix_key is None) != (self.pix_key_type is None):
            raise ValueError("pixKeyType and pixKey must both be set or both be null")
        return self


class AccountDelete(ApiModel):
    confirm: str = Field(min_length=1, max_length=40)


NOT_NULL = frozenset({"name", "slug", "phone", "email", "profession", "timezone", "session_price",
                      "session_duration_minutes", "buffer_minutes", "min_notice_minutes", "booking_window_days",
                      "cancellation_notice_hours", "auto_confirm", "payment_type", "whatsapp_enabled"})


def view(row: dict[str, Any], now: dt.datetime | None = None) -> dict[str, Any]:
    """The professional as its owner sees it (camelCase JSON)."""
    return {
        "id": row["id"], "slug": row["slug"], "name": row["name"], "phone": row["phone"], "email": row["email"],
        "profession": row["profession"], "bio": row["bio"], "avatarUrl": row["avatar_url"], "city": row["city"],
        "timezone": row["timezone"], "sessionPrice": row["session_price"],
        "sessionDurationMinutes": row["session_duration_minutes"], "bufferMinutes": row["buffer_minutes"],
        "minNoticeMinutes": row["min_notice_minutes"], "bookingWindowDays": row["booking_window_days"],
        "cancellationNoticeHours": row["cancellation_notice_hours"], "autoConfirm": row["auto_confirm"],
        "paymentType": row["payment_type"], "pixKeyType": row["pix_key_type"], "pixKey": row["pix_key"],
        "plan": row["plan"], "effectivePlan": plans.effective_plan(row["plan"], row["trial_ends_at"], now),
        "trialEndsAt": row["trial_ends_at"], "trialDaysLeft": plans.trial_days_left(row["trial_ends_at"], now),
        "hasSubscription": row["stripe_subscription_id"] is not None, "whatsappEnabled": row["whatsapp_enabled"],
        "createdAt": row["created_at"], "updatedAt": row["updated_at"],
    }


def get(user_id: str) -> dict[str, Any]:
    return view(caller.professional(user_id))


def _translate_unique(error: db.DatabaseError) -> Exception:
    state, constraint = db.sqlstate(error)
    if state == "23505" and constraint == "professionals_slug_key":
        return Conflict("slug_taken", "That booking address is taken; choose another slug.")
    if state == "23505" and constraint == "professionals_user_id_key":
        return Conflict("already_onboarded", "This user already has a professional profile.")
    return error


def onboard(user_id: str, data: AccountCreate) -> dict[str, Any]:
    from odys import messaging  # here: only onboarding sends a message (the outbox is not loaded for the others)

    now = dt.datetime.now(dt.timezone.utc)
    try:
        with db.transaction():
            row = store.insert(user_id, data.model_dump(), trial_ends_at=plans.trial_end(now))
            messaging.welcome(row)  # WhatsApp, with the account: both or neither
    except db.DatabaseError as error:
        raise _translate_unique(error) from None
    return view(row, now)


def _pix_changes(changes: dict[str, Any]) -> dict[str, Any]:
    if changes.get("pix_key") is None:
        return changes
    try:
        changes["pix_key"] = pix.normalize_pix_key(changes["pix_key_type"], changes["pix_key"])
    except pix.InvalidPixKey as error:
        raise ValidationFailed("The PIX key is not valid.", code="invalid_pix_key",
                               errors=[{"field": "pixKey", "message": str(error), "code": "invalid_pix_key"}]) from None
    return changes


def update(user_id: str, data: AccountUpdate) -> dict[str, Any]:
    changes = data.model_dump(include=data.model_fields_set)
    reject_nulls(changes, NOT_NULL)
    changes = _pix_changes(changes)
    professional = caller.professional(user_id)
    if not changes:
        return view(professional)
    try:
        row = store.update(professional["id"], changes)
    except db.DatabaseError as error:
        raise _translate_unique(error) from None
    if row is None:  # deleted concurrently
        raise NotFound("professional")
    return view(row)


def delete(user_id: str, data: AccountDelete) -> None:
    """Delete the professional and, by cascade, everything they own. Confirmation is the slug, typed exactly.

    Billing stops first (open Checkout session expired, subscription cancelled): if Stripe fails, 502 and
    nothing is deleted. With a PSP connection (:mod:`odys.pix_connections`), once the deletion has committed, the
    active PIX charges and Odys's webhook are removed at the PSP, best effort: a PSP outage never blocks it.
    """
    from odys import pix_charges, pix_connections  # only here: the PSP client is not loaded for the other routes

    professional = caller.professional(user_id)
    if data.confirm != professional["slug"]:
        raise BadRequest("Type your booking address (slug) exactly to confirm the deletion.",
                         code="confirmation_mismatch")
    psp = pix_connections.client_for(str(professional["id"]))  # unsealed now: the row goes with the account
    with db.transaction():  # the row stays locked from the Stripe steps to the deletion: nothing slips in between
        billing.stop_billing(professional["id"])
        deletion_audit.account_deleted(str(professional["id"]))
        pix_charges.release_after_commit(str(professional["id"]), connection=psp,  # PSP calls after commit
                                         reason="account_deleted")
        store.delete(professional["id"])
