"""What the services answer, as pydantic models: documentation only (docs/openapi.json), never imported by a handler.

Each model is named in a route's ``@doc(response="Name")`` (odys.api_docs). tests/test_openapi.py checks that real
answers of every route validate against the document built from these, so a service that adds, renames or drops a
field fails there until its model here says the same. Keys are camelCase; unknown keys are refused
(``additionalProperties: false``), nullable fields are listed as such, optional keys have a default.

    from odys import responses
    responses.Client.model_json_schema()
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel
from pydantic.alias_generators import to_camel

from odys.fields import Cents

E164 = Annotated[str, Field(pattern=r"^\+[1-9]\d{7,14}$", examples=["+5511987654321"])]
HHMMText = Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", examples=["09:00"])]
Instant = Annotated[dt.datetime, Field(description="ISO 8601 date-time with offset (UTC: +00:00)")]
Plan = Literal["free", "basic", "pro", "premium"]
Status = Literal["pending", "confirmed", "completed", "cancelled", "no_show"]
PaymentStatus = Literal["unpaid", "pending", "paid", "refunded", "waived"]


class Answer(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


# --- account and public profile ---------------------------------------------------------------------------------

class ProfessionalSettings(Answer):
    """The professional's own row as they set it (the account and the export both answer it)."""

    id: uuid.UUID
    slug: str
    name: str
    phone: E164
    email: str
    profession: str
    bio: str | None
    avatar_url: str | None
    city: str | None
    timezone: str
    session_price: Cents
    session_duration_minutes: int
    buffer_minutes: int
    min_notice_minutes: int
    booking_window_days: int
    cancellation_notice_hours: int
    auto_confirm: bool
    payment_type: Literal["per_session", "monthly"]
    pix_key_type: Literal["cpf", "cnpj", "email", "phone", "evp"] | None
    pix_key: str | None
    whatsapp_enabled: bool
    created_at: Instant
    updated_at: Instant


class Account(ProfessionalSettings):
    plan: Plan
    effective_plan: Plan
    trial_ends_at: Instant | None
    trial_days_left: int
    has_subscription: bool


class ReviewSummary(Answer):
    count: int
    average: float | None


class PublicProfile(Answer):
    slug: str
    name: str
    profession: str
    bio: str | None
    avatar_url: str | None
    city: str | None
    timezone: str
    session_price: Cents
    session_duration_minutes: int
    min_notice_minutes: int
    booking_window_days: int
    cancellation_notice_hours: int
    payment_type: Literal["per_session", "monthly"]
    accepts_pix: bool
    reviews: ReviewSummary
    followers: int


# --- availability and slots -------------------------------------------------------------------------------------

class AvailabilityWindow(Answer):
    day_of_week: int = Field(ge=0, le=6)
    start_time: HHMMText
    end_time: HHMMText


class Availability(Answer):
    timezone: str
    windows: list[AvailabilityWindow]


class Slot(Answer):
    starts_at: Instant
    ends_at: Instant
    local_start: Instant = Field(description="the start in the professional's time zone")


class Slots(Answer):
    timezone: str
    slots: list[Slot]


# --- clients and notes -------------------------------------------------------------------------------------------

class Client(Answer):
    id: uuid.UUID
    name: str
    phone: E164
    email: str | None
    has_account: bool
    created_at: Instant
    updated_at: Instant


class ClientListItem(Client):
    next_appointment_at: Instant | None


class ClientPage(Answer):
    clients: list[ClientListItem]
    next_cursor: str | None


class AppointmentClient(Answer):
    id: uuid.UUID
    name: str
    phone: E164


class Appointment(Answer):
    id: uuid.UUID
    client: AppointmentClient
    recurring_schedule_id: uuid.UUID | None
    starts_at: Instant
    ends_at: Instant
    duration_minutes: int
    status: Status
    payment_status: PaymentStatus
    price: Cents
    notes: str | None = Field(description="the professional's private notes")
    client_notes: str | None = Field(description="what the client wrote when booking")
    reminder_sent_at: Instant | None
    created_at: Instant
    updated_at: Instant


class ClientAppointments(Answer):
    upcoming: list[Appointment]
    past: list[Appointment]


class ByStatus(Answer):
    pending: int
    confirmed: int
    completed: int
    cancelled: int
    no_show: int = Field(alias="no_show")


class ClientTotals(Answer):
    appointments: int
    by_status: ByStatus
    paid_cents: Cents
    due_cents: Cents


class ClientDetail(Client):
    appointments: ClientAppointments
    totals: ClientTotals


class Note(Answer):
    id: uuid.UUID
    client_id: uuid.UUID
    body: str
    created_at: Instant
    updated_at: Instant


class NotePage(Answer):
    notes: list[Note]
    next_cursor: str | None


# --- appointments, PIX, recurring series -------------------------------------------------------------------------

class AppointmentPage(Answer):
    appointments: list[Appointment]
    next_cursor: str | None


class PixCode(Answer):
    payload: str = Field(description="the BR Code (PIX copia e cola)")
    qr_svg: str
    txid: str
    amount_cents: Cents
    kind: Literal["static", "dynamic"] = Field(description="dynamic: a charge of the professional's PIX connection")
    charge_status: str = Field(default=None, description="of a dynamic charge (ATIVA, CONCLUIDA, ...)")
    expires_at: Instant = Field(default=None, description="of a dynamic charge")


class AppointmentPix(PixCode):
    appointment_id: uuid.UUID
    payment_status: PaymentStatus


class ScheduleClient(Answer):
    id: uuid.UUID
    name: str


class RecurringSchedule(Answer):
    id: uuid.UUID
    client: ScheduleClient
    day_of_week: int = Field(ge=0, le=6)
    start_time: HHMMText
    duration_minutes: int
    interval_weeks: Literal[1, 2, 4]
    starts_on: dt.date
    ends_on: dt.date | None
    price: Cents
    active: bool
    materialized_until: dt.date | None
    created_at: Instant
    updated_at: Instant


class SkippedOccurrence(Answer):
    starts_at: Instant
    reason: Literal["slot_taken", "plan_limit"]
    appointment_id: uuid.UUID = Field(default=None, description="an occurrence that exists but was not moved")


class RecurringScheduleResult(RecurringSchedule):
    appointments: list[Appointment] = Field(description="the upcoming occurrences")
    skipped: list[SkippedOccurrence] = Field(description="dates this change could not book")


class RecurringScheduleList(Answer):
    recurring_schedules: list[RecurringSchedule]


# --- messages, templates, notifications --------------------------------------------------------------------------

class Message(Answer):
    id: uuid.UUID
    direction: Literal["inbound", "outbound"]
    channel: Literal["whatsapp", "app"]
    template: str | None
    body: str | None
    status: Literal["queued", "sent", "delivered", "read", "failed", "received", "skipped"]
    automatic: bool
    skip_reason: str | None
    error_code: str | None
    error: str | None
    created_at: Instant
    sent_at: Instant | None
    delivered_at: Instant | None
    read_at: Instant | None
    failed_at: Instant | None


class ServiceWindow(Answer):
    open: bool
    closes_at: Instant | None = Field(description="null when the window is closed")


class MessagePage(Answer):
    messages: list[Message]
    next_cursor: str | None
    window: ServiceWindow = Field(description="WhatsApp's customer-service window: free text only while it is open")


class MessageTemplate(Answer):
    key: str
    recipient: Literal["client", "professional"]
    category: Literal["utility", "marketing"]
    meta_name: str
    language: str
    params: list[str]
    buttons: list[str]
    automatic: bool
    manual: bool
    enabled: bool
    text: str
    default_text: str
    preview: str


class MessageTemplateList(Answer):
    locale: Literal["pt-BR", "en"]
    templates: list[MessageTemplate]


class Notification(Answer):
    id: uuid.UUID
    kind: str
    title: str
    body: str
    client_id: uuid.UUID | None
    read: bool
    read_at: Instant | None
    created_at: Instant


class NotificationPage(Answer):
    notifications: list[Notification]
    unread_count: int
    next_cursor: str | None


class UnreadCount(Answer):
    unread_count: int


# --- public booking ------------------------------------------------------------------------------------------------

class BookingProfessional(Answer):
    slug: str
    name: str
    profession: str


class BookedClient(Answer):
    name: str


class BookedAppointment(Answer):
    id: uuid.UUID
    status: Status
    payment_status: PaymentStatus
    starts_at: Instant
    ends_at: Instant
    local_start: Instant
    timezone: str
    price: Cents
    notes: str | None = Field(description="the client's own text from booking time")
    professional: BookingProfessional
    cancellation_notice_hours: int
    changeable_until: Instant
    can_change: bool
    client: BookedClient = Field(default=None, description="in the answer to the booking only")


class Booking(Answer):
    appointment: BookedAppointment
    manage_token: str = Field(default=None, description="the client's link to this booking: /api/booking/{token}")
    pix: PixCode = Field(default=None, description="while the booking can be paid by PIX")


# --- billing and webhooks ------------------------------------------------------------------------------------------

class CheckoutSession(Answer):
    url: str
    session_id: str


class PortalSession(Answer):
    url: str


class StripeReceipt(Answer):
    received: Literal[True]
    ignored: bool = None  # type: ignore[assignment]
    duplicate: bool = None  # type: ignore[assignment]
    outcome: str = None  # type: ignore[assignment]


class PaymentConnection(Answer):
    """The professional's PSP connection: its state, never its secrets, certificate or callback token."""

    provider: Literal["efi", "bacen"]
    pix_key: str
    status: Literal["active", "error"]
    api_base_url: str | None
    certificate_expires_at: Instant | None
    last_checked_at: Instant | None
    last_error: str | None
    connected_at: Instant


class PixCallbackReceipt(Answer):
    received: Literal[True]


class WhatsAppReceipt(Answer):
    received: Literal[True]
    statuses: int
    messages: int
    ignored: int


# --- the client side: profile, follows, reviews --------------------------------------------------------------------

class ProfessionalCard(Answer):
    """The public fields that name a professional in a client's lists."""

    slug: str
    name: str
    profession: str
    avatar_url: str | None
    city: str | None
    timezone: str


class ClientIdentity(Answer):
    """Who the token proves the client user is: only verified contacts, else null."""

    user_id: str
    phone: E164 | None
    email: str | None


class ClientRecord(Answer):
    """The client's record as a professional keeps it."""

    name: str
    phone: E164
    email: str | None
    client_since: Instant


class ClientProfessional(ProfessionalCard):
    record: ClientRecord
    reviews_enabled: bool


class ReviewMark(Answer):
    id: uuid.UUID
    rating: int = Field(ge=1, le=5)


class ClientAppointment(Answer):
    """An appointment as its client sees it (never the professional's private notes)."""

    id: uuid.UUID
    professional: ProfessionalCard
    starts_at: Instant
    ends_at: Instant
    local_start: Instant = Field(description="the start in the professional's time zone")
    local_end: Instant
    timezone: str
    duration_minutes: int
    status: Status
    price: Cents
    payment_status: PaymentStatus
    client_notes: str | None = Field(description="what the client wrote when booking")
    pix_url: str | None = Field(description="GET it for the PIX code while the appointment is due; else null")
    review: ReviewMark | None
    reviewable: bool


class ClientSideAppointments(Answer):
    upcoming: list[ClientAppointment]
    past: list[ClientAppointment]


class ClientProfile(Answer):
    identity: ClientIdentity
    professionals: list[ClientProfessional]
    appointments: ClientSideAppointments


class ErasedCounts(Answer):
    professionals: int
    client_links: int
    follows: int
    reviews: int


class ClientErasure(Answer):
    erased: ErasedCounts


class ExportedClientRecord(ClientRecord):
    updated_at: Instant
    whatsapp_id: str | None = Field(description="WhatsApp's id of the phone number")
    whatsapp_user_id: str | None = Field(description="Meta's business-scoped id of the WhatsApp user")
    whatsapp_opted_out_at: Instant | None = Field(description="when the client stopped automatic messages")


class ExportedMessage(Answer):
    direction: Literal["inbound", "outbound"]
    recipient: Literal["client", "professional"] | None = Field(
        description="of an outbound message: the client, or the professional told about the client")
    channel: Literal["whatsapp", "app"]
    template: str | None
    body: str
    status: Literal["queued", "sent", "delivered", "read", "failed", "received", "skipped"]
    created_at: Instant
    sent_at: Instant | None
    delivered_at: Instant | None
    read_at: Instant | None
    failed_at: Instant | None


class ClientRecurringSchedule(Answer):
    day_of_week: int = Field(ge=0, le=6)
    start_time: HHMMText
    duration_minutes: int
    interval_weeks: Literal[1, 2, 4]
    starts_on: dt.date
    ends_on: dt.date | None
    price: Cents
    active: bool
    created_at: Instant


class NoticeToTheProfessional(Answer):
    kind: str
    title: str
    body: str
    created_at: Instant
    read_at: Instant | None


class ClientRecordExport(Answer):
    professional: ProfessionalCard
    record: ExportedClientRecord
    appointments: list[ClientAppointment]
    recurring_schedules: list[ClientRecurringSchedule]
    messages: list[ExportedMessage]
    notices_to_the_professional: list[NoticeToTheProfessional] = Field(
        description="the in-app notices the professional got about this record")


class Follow(ProfessionalCard):
    followed_at: Instant


class FollowList(Answer):
    follows: list[Follow]


class PublicReview(Answer):
    """A review as the public sees it: no author."""

    id: uuid.UUID
    rating: int = Field(ge=1, le=5)
    comment: str | None
    created_at: Instant


class AuthorReview(PublicReview):
    """A review as its author sees it."""

    slug: str
    appointment_id: uuid.UUID
    hidden: bool = Field(description="the professional hid it from the public page")


class ProfessionalReview(PublicReview):
    """A review as its professional sees it."""

    appointment_id: uuid.UUID
    hidden: bool
    hidden_at: Instant | None


class ReviewPage(Answer):
    slug: str
    count: int
    average: float | None
    reviews: list[PublicReview]
    next_cursor: str | None


class ReviewCreated(Answer):
    review: AuthorReview
    summary: ReviewSummary


class ClientExport(Answer):
    """Everything Odys holds about the client user (``GET /api/client-profile/export``)."""

    schema_version: Literal[1]
    exported_at: Instant
    identity: ClientIdentity
    client_records: list[ClientRecordExport]
    follows: list[Follow]
    reviews: list[AuthorReview]
    not_included: str


# --- the professional's data export (GET /api/account/export; columns as odys.store.account_export lists them) ------

class ExportProfessional(ProfessionalSettings):
    user_id: str


class ExportSubscription(Answer):
    plan: Plan
    effective_plan: Plan
    trial_ends_at: Instant | None
    stripe_customer_id: str | None
    stripe_subscription_id: str | None


class ExportFollowers(Answer):
    count: int


class ExportAvailability(Answer):
    id: uuid.UUID
    day_of_week: int = Field(ge=0, le=6)
    start_time: HHMMText
    end_time: HHMMText


class ExportClient(Answer):
    id: uuid.UUID
    name: str
    phone: E164
    email: str | None
    whatsapp_opted_out_at: Instant | None
    link_erased_at: Instant | None = Field(description="when the client user's erasure request unlinked the record")
    created_at: Instant
    updated_at: Instant


class ExportRecurringSchedule(Answer):
    id: uuid.UUID
    client_id: uuid.UUID
    day_of_week: int = Field(ge=0, le=6)
    start_time: HHMMText
    duration_minutes: int
    interval_weeks: Literal[1, 2, 4]
    starts_on: dt.date
    ends_on: dt.date | None
    price: Cents
    active: bool
    created_at: Instant
    updated_at: Instant


class ExportAppointment(Answer):
    id: uuid.UUID
    client_id: uuid.UUID
    recurring_schedule_id: uuid.UUID | None
    occurrence_date: dt.date | None
    starts_at: Instant
    ends_at: Instant
    status: Status
    payment_status: PaymentStatus
    price: Cents
    pix_txid: str | None
    notes: str | None
    client_notes: str | None
    reminder_sent_at: Instant | None
    created_at: Instant
    updated_at: Instant


class ExportClientNote(Answer):
    id: uuid.UUID
    client_id: uuid.UUID
    body: str
    created_at: Instant
    updated_at: Instant


class ExportMessage(Answer):
    id: uuid.UUID
    client_id: uuid.UUID | None
    appointment_id: uuid.UUID | None
    direction: Literal["inbound", "outbound"]
    channel: Literal["whatsapp", "app"]
    recipient: Literal["client", "professional"] | None
    to_phone: E164 | None
    template: str | None
    locale: Literal["pt-BR", "en"]
    params: dict[str, Any] | None
    body: str
    status: Literal["queued", "sent", "delivered", "read", "failed", "received", "skipped"]
    automatic: bool
    skip_reason: str | None
    error_code: int | None
    error: str | None
    created_at: Instant
    sent_at: Instant | None
    delivered_at: Instant | None
    read_at: Instant | None
    failed_at: Instant | None
    updated_at: Instant


class ExportNotification(Answer):
    id: uuid.UUID
    client_id: uuid.UUID | None
    recipient_type: Literal["professional", "client"]
    kind: str
    title: str
    body: str
    read_at: Instant | None
    created_at: Instant


class ExportReview(Answer):
    id: uuid.UUID
    client_id: uuid.UUID
    appointment_id: uuid.UUID
    rating: int = Field(ge=1, le=5)
    comment: str | None
    hidden_at: Instant | None
    created_at: Instant


class ExportMessageTemplate(Answer):
    id: uuid.UUID
    key: str
    locale: str
    body: str | None
    enabled: bool
    created_at: Instant
    updated_at: Instant


class ExportDeletionAudit(Answer):
    id: uuid.UUID
    actor: Literal["professional", "client_user"]
    action: Literal["account_deleted", "client_deleted", "client_erasure"]
    counts: dict[str, int]
    created_at: Instant


class ExportPixConnection(Answer):
    provider: Literal["efi", "bacen"]
    pix_key: str
    api_base_url: str | None
    token_url: str | None
    status: Literal["active", "error"]
    certificate_expires_at: Instant | None
    last_checked_at: Instant | None
    last_error: str | None
    created_at: Instant
    updated_at: Instant


class ExportPixCharge(Answer):
    txid: str
    appointment_id: uuid.UUID
    status: Literal["creating", "active", "paid", "removed", "failed"]
    amount_cents: Cents
    expires_at: Instant
    copy_and_paste: str | None
    created_at: Instant
    updated_at: Instant


class ExportPixPayment(Answer):
    end_to_end_id: str
    appointment_id: uuid.UUID | None
    txid: str
    amount_cents: Cents
    refunded_cents: Cents
    paid_at: Instant
    payer_name_masked: str | None
    source: Literal["webhook", "reconciliation"]
    created_at: Instant


class ExportCounts(Answer):
    """The number of rows of each array, to check a copy is whole."""

    availability: int
    clients: int
    recurring_schedules: int
    appointments: int
    client_notes: int
    messages: int
    notifications: int
    reviews: int
    message_templates: int
    deletion_audit: int
    pix_connections: int
    pix_charges: int
    pix_payments: int


class AccountExport(Answer):
    """Everything the professional owns (schemaVersion 1); rows refer to each other by id."""

    schema_version: Literal[1]
    kind: Literal["odys.account-export"]
    exported_at: Instant
    professional: ExportProfessional
    subscription: ExportSubscription
    followers: ExportFollowers
    availability: list[ExportAvailability]
    clients: list[ExportClient]
    recurring_schedules: list[ExportRecurringSchedule]
    appointments: list[ExportAppointment]
    client_notes: list[ExportClientNote]
    messages: list[ExportMessage]
    notifications: list[ExportNotification]
    reviews: list[ExportReview]
    message_templates: list[ExportMessageTemplate]
    deletion_audit: list[ExportDeletionAudit]
    pix_connections: list[ExportPixConnection]
    pix_charges: list[ExportPixCharge]
    pix_payments: list[ExportPixPayment]
    counts: ExportCounts


class ExportLink(Answer):
    """An export too large for the answer: a presigned GET of the file in the export bucket."""

    url: str
    expires_at: Instant
    filename: str
    content_type: str = Field(description="of the file: application/json or text/csv; charset=utf-8")
    content_encoding: Literal["gzip"] | None = Field(description="gzip when the request accepted it")
    size_bytes: int


class AccountExportAnswer(RootModel[AccountExport | ExportLink]):
    """The JSON answer of ``GET /api/account/export``: the document itself, or a link to it (or to a spreadsheet)
    when it is too large to send."""


# --- the AI assistant ------------------------------------------------------------------------------------------------

class AiToolCall(Answer):
    name: str = Field(description="the tool the model called (as the model named it)")
    arguments: dict[str, Any] | None = Field(description="the model's arguments; null when they were not an object")
    ok: bool
    summary: str


class AiUsage(Answer):
    rounds: int
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    limit_reached: Literal["rounds", "tokens", "time"] | None = Field(
        description="the bound that stopped the answer (the reply says so), or null")
    model: str


class AiChatAnswer(Answer):
    reply: str
    tool_calls: list[AiToolCall] = Field(description="the tools run for this answer, in order")
    usage: AiUsage


class Problem(BaseModel):
    """RFC 9457 problem details: every error answer, as ``application/problem+json``. ``code`` is stable (listed per
    operation); ``errors`` names each invalid field of a 422; some codes add their own members (``clientId`` of
    ``client_exists``, ``limit``/``currentPlan``/``requiredPlan`` of ``plan_limit_reached``)."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(examples=["https://odys.com.br/problems/slot_taken"])
    title: str
    status: int = Field(ge=400, le=599)
    detail: str
    code: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    errors: list[FieldError] = Field(default=None)  # type: ignore[assignment]


class FieldError(BaseModel):
    model_config = ConfigDict(extra="allow")

    field: str = Field(default=None)  # type: ignore[assignment]
    message: str
    code: str = Field(default=None)  # type: ignore[assignment]


Problem.model_rebuild()
