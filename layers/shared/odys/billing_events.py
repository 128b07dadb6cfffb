"""Stripe webhook: signature check, exactly-once processing, and the effect of each event on a professional.

    billing_events.verify(raw_body, headers.get("stripe-signature"))   # 400 invalid_signature otherwise
    billing_events.process(raw_body)                                    # -> {"received": True, ...}

**Genuine and recent.** The ``Stripe-Signature`` HMAC must match (``STRIPE_WEBHOOK_SECRET``) and its timestamp
be within 300 s of now, in the past or in the future; otherwise 400 ``invalid_signature`` and nothing is read.

**Malformed but signed.** A signed body that is not a well-formed event (not JSON, no ``data.object``, a field of
the wrong type, an id that is not a Stripe id, a ``created`` before 2011 or in the future) is acknowledged,
``{"received": true, "ignored": true, "outcome": "malformed"}``, logged with *where* it is malformed (never the
values), and writes nothing: any other answer would only make Stripe retry it for days. Only the fields an
effect reads are checked (:class:`Event` and the models of the objects below).

**Exactly once.** The event id is inserted into ``stripe_events`` (``ON CONFLICT DO NOTHING``) in the same
transaction as the event's effect (by the statement that locks the professional), so a redelivery (or two
concurrent deliveries) finds the id and changes nothing: ``{"received": true, "duplicate": true}``. If the
effect fails, the id is rolled back with it and Stripe's retry processes the event.

**Out of order.** Stripe does not guarantee delivery order. ``professionals.stripe_state_at`` holds the
``created`` time of the newest event applied; an event created earlier is ignored (``stale``). At the same second
an event that ends a subscription wins over one that would start it again. A deletion of the *current*
subscription always applies (nothing can follow a deletion of the same subscription). Events about a subscription
other than the professional's current one are ignored. The professional's row is locked while an event is applied,
so concurrent deliveries serialise.

**One subscription.** A ``checkout.session.completed`` whose subscription is not the one on file means two
Checkout sessions were paid. The newer event wins and the other subscription is cancelled at Stripe, in the
event's transaction (cancelling twice is harmless; if Stripe fails, 502 and Stripe retries the event): a newer
checkout replaces the subscription on file, which is cancelled; an older (stale) one has its own subscription
cancelled. So the subscription that survives is always the one on file, whatever the delivery order.

**Effects.**

* ``checkout.session.completed`` (subscription mode): plan from ``metadata.plan``; customer and subscription ids;
  the professional's open Checkout session forgotten; metric ``subscription_started`` (dimension ``plan``); a
  notification.
* ``customer.subscription.updated``: ``active``/``trialing``/``past_due`` -> the plan of the item's price id
  (mapped back through the configured ``STRIPE_PRICE_*``); ``canceled``/``incomplete_expired`` -> free and the
  subscription id cleared; ``unpaid``/``paused`` -> free, id kept (it can be paid or resumed); ``incomplete`` ->
  nothing yet.
* ``customer.subscription.deleted``: free, subscription id cleared, a notification.
* ``invoice.payment_failed``: a notification.
* Anything else is acknowledged (``ignored``). So is an event whose professional cannot be found (logged with the
  event and Stripe object ids only): answering 5xx would only make Stripe retry it for days.

Notifications go through :func:`notify`, the one hook where WhatsApp templates (``msgSubscriptionActivated``,
``msgSubscriptionCancelled``, ``msgPaymentPending``) can be added later.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import time
import uuid
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, StringConstraints, ValidationError

from odys import billing, clock, config, db, metrics, plans
from odys.billing import ENDED_STATUSES, PAID_PLANS, BillingNotConfigured, plan_for_price
from odys.errors import BadRequest
from odys.log import logger
from odys.notifications import notify_professional
from odys.store import billing as store

TOLERANCE_SECONDS = 300
ACTIVE_STATUSES = frozenset({"active", "trialing", "past_due"})
# ENDED_STATUSES (odys.billing): free, subscription id cleared
SUSPENDED_STATUSES = frozenset({"unpaid", "paused"})             # free, subscription id kept
FIRST_CREATED = 1_293_840_000
"""2011-01-01T00:00:00Z: no Stripe event is older; an earlier ``created`` is malformed."""


class InvalidSignature(BadRequest):
    code = "invalid_signature"

    def __init__(self) -> None:
        super().__init__("The Stripe-Signature header is missing or does not match this payload.")


# --- verification -----------------------------------------------------------------------------------------------


def raw_body(event: Any) -> bytes:
    """The request body exactly as sent (API Gateway base64-encodes bodies it does not treat as text).

    ``event`` is Powertools' ``APIGatewayProxyEventV2`` (``app.current_event``).
    """
    body = event.body or ""
    return base64.b64decode(body) if event.is_base64_encoded else body.encode("utf-8")


def _signed_at(signature: str) -> int:
    """The ``t=`` of a header ``stripe.WebhookSignature.verify_header`` accepted, read the way it reads it.

    >>> _signed_at("t=1700000000,v1=ab,v0=cd")
    1700000000
    """
    return int(next(item.split("=", 2)[1] for item in signature.split(",") if item.split("=", 2)[0] == "t"))


def verify(payload: bytes, signature: str | None) -> None:
    """Accept a genuine, recent Stripe delivery or raise :class:`InvalidSignature` (400). Nothing secret is logged.

    ``stripe.WebhookSignature.verify_header`` checks the HMAC-SHA256 with ``STRIPE_WEBHOOK_SECRET`` and refuses a
    timestamp more than 300 s old; a timestamp more than 300 s ahead is refused here the same way.
    """
    if not signature:  # unsigned: refused whatever the configuration
        logger.warning("stripe webhook rejected", extra={"reason": "missing_signature"})
        raise InvalidSignature()
    try:
        secret = config.secret("STRIPE_WEBHOOK_SECRET")
    except config.ConfigurationError:
        raise BillingNotConfigured("STRIPE_WEBHOOK_SECRET") from None
    import stripe  # lazy: the webhook function ships the SDK, the layer does not

    reason: str | None = None
    try:
        stripe.WebhookSignature.verify_header(payload, signature, secret, tolerance=TOLERANCE_SECONDS)
    except stripe.SignatureVerificationError as error:
        reason = "timestamp_outside_tolerance" if "tolerance" in str(error) else "signature_mismatch"
    except ValueError:  # not UTF-8: no signature can be checked over it
        reason = "unreadable_payload"
    else:
        if _signed_at(signature) > time.time() + TOLERANCE_SECONDS:
            reason = "timestamp_outside_tolerance"
    if reason is not None:
        logger.warning("stripe webhook rejected", extra={"reason": reason})
        raise InvalidSignature()


# --- the event and the objects an effect reads (anything else in them is ignored) ---------------------------------


class _Stripe(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)


ID_PATTERN = r"[\x21-\x7e]{1,255}"  # printable ASCII: no NUL, control character or space reaches a row or a log
TYPE_PATTERN = r"[a-z0-9_.]{1,100}"
StripeId = Annotated[str, StringConstraints(pattern=f"^{ID_PATTERN}$")]


def _ref(value: Any) -> Any:
    """A reference as Stripe sends it: an id, or an expanded object carrying its id ("" means none)."""
    if isinstance(value, dict):
        return value.get("id", value)
    return None if value == "" else value


Ref = Annotated[StripeId | None, BeforeValidator(_ref)]
PriceRef = Annotated[Annotated[str, StringConstraints(max_length=255)] | None, BeforeValidator(_ref)]
"""A price or legacy plan: only compared with the configured ``STRIPE_PRICE_*`` (a legacy plan id is free-form)."""
Metadata = Annotated[dict[str, str], BeforeValidator(lambda value: {} if value is None else value)]


class CheckoutSession(_Stripe):
    id: StripeId
    mode: str | None = None
    customer: Ref = None
    subscription: Ref = None
    client_reference_id: str | None = None
    metadata: Metadata = {}


class _SubscriptionItem(_Stripe):
    price: PriceRef = None
    plan: PriceRef = None


class _SubscriptionItems(_Stripe):
    data: list[_SubscriptionItem] = []


class Subscription(_Stripe):
    id: StripeId
    customer: Ref = None
    status: str | None = None
    metadata: Metadata = {}
    items: _SubscriptionItems | None = None


class _SubscriptionDetails(_Stripe):
    subscription: Ref = None
    metadata: Metadata = {}


class _InvoiceParent(_Stripe):
    subscription_details: _SubscriptionDetails | None = None


class Invoice(_Stripe):
    id: StripeId
    customer: Ref = None
    subscription: Ref = None  # before API 2025-03-31; since, under parent.subscription_details
    parent: _InvoiceParent | None = None


class _EventData(_Stripe):
    object: dict[str, Any]


class Event(_Stripe):
    id: StripeId
    type: Annotated[str, StringConstraints(pattern=f"^{TYPE_PATTERN}$")]
    created: int
    data: _EventData

    @property
    def created_at(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.created, dt.timezone.utc)


_FIELDS = frozenset(name for model in (CheckoutSession, _SubscriptionItem, _SubscriptionItems, Subscription,
                                       _SubscriptionDetails, _InvoiceParent, Invoice, _EventData, Event)
                    for name in model.model_fields)


def _where(loc: tuple[Any, ...], kind: str) -> str:
    """Where a validation error is, by field names only (a metadata key could be anything, even personal data).

    >>> _where(("data", "object", "metadata", "ana@example.com"), "string_type")
    'data.object.metadata.*: string_type'
    """
    path = ".".join(str(part) if isinstance(part, int) or part in _FIELDS else "*" for part in loc)
    return f"{path or 'body'}: {kind}"


def _loggable(value: Any, pattern: str) -> str | None:
    return value if isinstance(value, str) and re.fullmatch(pattern, value) else None


def parse(payload: bytes) -> tuple[Event, _Stripe | None] | None:
    """The event and its object (None for a type without an effect), or None when the body is malformed (logged).

    >>> parse(b'{"id": "evt_1", "type": "customer.created", "created": 1767225600, "data": {"object": {}}}')[1]
    >>> parse(b'{"id": "evt_1", "type": "customer.created", "created": "soon", "data": {"object": {}}}') is None
    True
    """
    raw: Any = None
    prefix: tuple[str, ...] = ()
    try:
        raw = json.loads(payload)
        event = Event.model_validate(raw)
        latest = clock.now().timestamp() + TOLERANCE_SECONDS
        if not FIRST_CREATED <= event.created <= latest:
            problems = ["created: out_of_range"]
        else:
            handler = HANDLERS.get(event.type)
            if handler is None:
                return event, None
            prefix = ("data", "object")
            return event, handler[0].model_validate(event.data.object)
    except ValidationError as error:
        problems = [_where(prefix + e["loc"], e["type"]) for e in error.errors(include_url=False)]
    except (ValueError, RecursionError):  # not JSON, or nested beyond reason
        problems = ["body: json_invalid"]
    fields = raw if isinstance(raw, dict) else {}
    logger.warning("malformed stripe event ignored", extra={
        "event_id": _loggable(fields.get("id"), ID_PATTERN), "event_type": _loggable(fields.get("type"), TYPE_PATTERN),
        "problems": problems[:10]})
    return None


# --- notifications: the single hook -----------------------------------------------------------------------------

NOTICES: dict[str, tuple[str, str, str]] = {
    # kind: (title, body, WhatsApp template to add later)
    "subscription_activated": ("Assinatura ativada", "Seu plano {plan} está ativo. Obrigado por assinar o Odys!",
                               "msgSubscriptionActivated"),
    "plan_changed": ("Plano alterado", "Sua assinatura agora é do plano {plan}.", "msgSubscriptionActivated"),
    "subscription_cancelled": ("Assinatura cancelada", "Sua assinatura foi cancelada e sua conta voltou ao plano "
                               "Free. Você pode assinar novamente quando quiser.", "msgSubscriptionCancelled"),
    "subscription_suspended": ("Assinatura suspensa", "Não recebemos o pagamento da sua assinatura e sua conta "
                               "voltou ao plano Free. Atualize o cartão no portal de cobrança para reativá-la.",
                               "msgPaymentPending"),
    "payment_failed": ("Falha no pagamento", "Não conseguimos cobrar sua assinatura Odys. Atualize o cartão no "
                       "portal de cobrança para não perder os recursos do seu plano.", "msgPaymentPending"),
}


def notice(kind: str, *, event_id: str, plan: str | None = None) -> dict[str, str]:
    """The in-app notice of a billing event (``kind``, ``title``, ``body``, ``dedupe_key``: once per event)."""
    title, body, _template = NOTICES[kind]
    label = plans.PLANS[plan].label if plan in plans.PLANS else ""  # type: ignore[index]
    return {"kind": f"billing_{kind}", "title": title, "body": body.format(plan=label).replace("  ", " "),
            "dedupe_key": f"stripe:{event_id}:{kind}"}


def notify(professional_id: str, kind: str, *, event_id: str, plan: str | None = None) -> None:
    """Tell the professional about a billing event (in-app now; WhatsApp hangs off here). At most once per event."""
    told = notice(kind, event_id=event_id, plan=plan)
    notify_professional(professional_id, told["kind"], told["title"], told["body"], dedupe_key=told["dedupe_key"])
    if kind in ("subscription_activated", "subscription_cancelled"):  # on WhatsApp too, in this transaction
        from odys import messaging
        from odys.store import professionals

        professional = professionals.lock(professional_id)  # already locked by this event's transaction
        if professional is not None:
            tell = messaging.subscription_activated if kind == "subscription_activated" \
                else messaging.subscription_cancelled
            tell(professional, plan or professional["plan"], event_id=event_id)


# --- helpers ----------------------------------------------------------------------------------------------------


def _uuid(value: str | None) -> str | None:
    try:
        return str(uuid.UUID(value)) if value else None
    except ValueError:
        return None


def _paid(plan: str | None) -> str | None:
    return plan if plan in PAID_PLANS else None


def is_stale(state: dict[str, Any], created: dt.datetime, *, starts: bool) -> bool:
    """Whether an event created at ``created`` is older than the state already applied.

    >>> t = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    >>> is_stale({"stripe_state_at": t, "stripe_subscription_id": "sub_1"}, t - dt.timedelta(seconds=1), starts=True)
    True
    >>> is_stale({"stripe_state_at": t, "stripe_subscription_id": None}, t, starts=True)   # an end wins a tie
    True
    >>> is_stale({"stripe_state_at": None, "stripe_subscription_id": None}, t, starts=True)
    False
    """
    state_at = state.get("stripe_state_at")
    if state_at is None:
        return False
    if created < state_at:
        return True
    return created == state_at and starts and state.get("stripe_subscription_id") is None


def _subscription_plan(subscription: Subscription) -> str | None:
    """The paid plan of the subscription's item whose price id is one of ours."""
    for item in subscription.items.data if subscription.items else []:
        plan = plan_for_price(item.price or item.plan)
        if plan:
            return plan
    return None


def _unknown(event: Event, object_id: str, customer_id: str | None) -> str:
    logger.warning("stripe event for unknown professional", extra={
        "event_id": event.id, "event_type": event.type, "stripe_object_id": object_id,
        "stripe_customer_id": customer_id})
    return "unknown_professional"


def _cancel_duplicate(event: Event, professional_id: str, subscription_id: str) -> None:
    """Cancel a second subscription of one professional (idempotent; StripeFailure (502) lets Stripe retry)."""
    logger.warning("cancelling a duplicate stripe subscription", extra={
        "event_id": event.id, "professional_id": professional_id, "stripe_subscription_id": subscription_id})
    billing.cancel_subscription(subscription_id)


# --- handlers (each runs inside the event's transaction) ---------------------------------------------------------

_Lock = Callable[..., "dict[str, Any] | None"]
"""``lock(professional_id=…, customer_id=…, subscription_id=…)``: the billing state of the professional the event is
about, locked (:func:`odys.store.billing.lock_professional`), recorded with the event id in the same statement."""


class _Duplicate(Exception):
    """The event id was recorded before: the event was processed (or is being processed) by another delivery."""


class _Delivery:
    """Records one event exactly once: with the professional's lock when a handler takes it, else on its own."""

    def __init__(self, event: Event) -> None:
        self.event = event
        self.recorded = False

    def lock(self, **keys: str | None) -> dict[str, Any] | None:
        recorded, state = store.record_and_lock(self.event.id, self.event.type, **keys)
        if not recorded:
            raise _Duplicate()
        self.recorded = True
        return state

    def record(self) -> None:
        if not self.recorded and not store.record_event(self.event.id, self.event.type):
            raise _Duplicate()
        self.recorded = True



def _checkout_completed(event: Event, session: CheckoutSession, lock: _Lock) -> str:
    subscription_id, customer_id = session.subscription, session.customer
    if session.mode != "subscription" or not subscription_id:
        return "ignored"
    state = lock(
        professional_id=_uuid(session.metadata.get("professionalId")) or _uuid(session.client_reference_id),
        customer_id=customer_id)
    if state is None:
        return _unknown(event, session.id, customer_id)
    if customer_id and state["stripe_customer_id"] not in (None, customer_id):
        logger.warning("checkout for another stripe customer ignored", extra={"event_id": event.id,
                                                                              "professional_id": str(state["id"])})
        return "customer_mismatch"
    plan = _paid(session.metadata.get("plan"))
    pid = str(state["id"])
    store.forget_checkout_session(pid, session.id)
    current = state["stripe_subscription_id"]
    if is_stale(state, event.created_at, starts=True):
        if current != subscription_id:  # an older checkout than the state on file: its subscription must not bill
            _cancel_duplicate(event, pid, subscription_id)
            return "stale"
        # a later event of this very subscription got here first: the subscription did start
    else:
        if current is not None and current != subscription_id:  # two sessions were paid: the newer one is kept
            _cancel_duplicate(event, pid, current)
        store.apply_subscription(pid, plan=plan, customer_id=customer_id, subscription_id=subscription_id,
                                 state_at=event.created_at)
    notify(pid, "subscription_activated", event_id=event.id, plan=plan or state["plan"])
    db.after_commit(lambda: metrics.count("subscription_started", plan=plan or state["plan"] or "unknown"))
    return "applied"


def _subscription_updated(event: Event, subscription: Subscription, lock: _Lock) -> str:
    subscription_id, customer_id = subscription.id, subscription.customer
    state = lock(professional_id=_uuid(subscription.metadata.get("professionalId")), customer_id=customer_id,
                 subscription_id=subscription_id)
    if state is None:
        return _unknown(event, subscription_id, customer_id)
    if state["stripe_subscription_id"] not in (None, subscription_id):
        return "other_subscription"
    status = subscription.status
    keep_id: str | None = subscription_id
    if status in ACTIVE_STATUSES:
        plan = _subscription_plan(subscription)
        if plan is None:
            logger.warning("stripe subscription with no configured price", extra={
                "event_id": event.id, "stripe_subscription_id": subscription_id})
            return "unknown_price"
    elif status in ENDED_STATUSES or status in SUSPENDED_STATUSES:
        plan = "free"
        keep_id = None if status in ENDED_STATUSES else subscription_id
    else:  # incomplete: the first payment has not gone through yet
        return "ignored"
    if is_stale(state, event.created_at, starts=plan != "free"):
        return "stale"
    told = None  # the notice is written by the same statement as the new state
    if plan != state["plan"]:
        if status in SUSPENDED_STATUSES:
            told = notice("subscription_suspended", event_id=event.id)
        elif plan != "free" and state["plan"] != "free":
            told = notice("plan_changed", event_id=event.id, plan=plan)
    store.apply_subscription(str(state["id"]), plan=plan, customer_id=customer_id, subscription_id=keep_id,
                             state_at=event.created_at, notice=told)
    return "applied"


def _subscription_deleted(event: Event, subscription: Subscription, lock: _Lock) -> str:
    subscription_id, customer_id = subscription.id, subscription.customer
    state = lock(subscription_id=subscription_id, customer_id=customer_id,
                 professional_id=_uuid(subscription.metadata.get("professionalId")))
    if state is None:
        return _unknown(event, subscription_id, customer_id)
    current = state["stripe_subscription_id"]
    if current not in (None, subscription_id):
        return "other_subscription"
    if current is None and is_stale(state, event.created_at, starts=False):
        return "stale"
    store.apply_subscription(str(state["id"]), plan="free", customer_id=customer_id, subscription_id=None,
                             state_at=event.created_at)
    if current == subscription_id or state["plan"] != "free":
        notify(str(state["id"]), "subscription_cancelled", event_id=event.id, plan=state["plan"])
    return "applied"


def _payment_failed(event: Event, invoice: Invoice, lock: _Lock) -> str:
    details = (invoice.parent.subscription_details if invoice.parent else None) or _SubscriptionDetails()
    state = lock(professional_id=_uuid(details.metadata.get("professionalId")), customer_id=invoice.customer,
                 subscription_id=invoice.subscription or details.subscription)
    if state is None:
        return _unknown(event, invoice.id, invoice.customer)
    notify(str(state["id"]), "payment_failed", event_id=event.id)
    return "notified"


HANDLERS: dict[str, tuple[type[_Stripe], Callable[[Event, Any, _Lock], str]]] = {
    # event type: (the model of data.object, the effect)
    "checkout.session.completed": (CheckoutSession, _checkout_completed),
    "customer.subscription.updated": (Subscription, _subscription_updated),
    "customer.subscription.deleted": (Subscription, _subscription_deleted),
    "invoice.payment_failed": (Invoice, _payment_failed),
}


def process(payload: bytes) -> dict[str, Any]:
    """Apply a verified delivery once. Returns the webhook's answer: 200 unless the database or, when a duplicate
    subscription must be cancelled, Stripe fails (then Stripe retries)."""
    parsed = parse(payload)
    if parsed is None:
        return {"received": True, "ignored": True, "outcome": "malformed"}
    event, obj = parsed
    handler = HANDLERS.get(event.type)
    delivery = _Delivery(event)
    try:
        with db.transaction():
            outcome = handler[1](event, obj, delivery.lock) if handler else "ignored"
            delivery.record()  # an event no handler locked a professional for
    except _Duplicate:
        logger.info("stripe event already processed", extra={"event_id": event.id})
        return {"received": True, "duplicate": True}
    except db.DatabaseError as error:
        if db.sqlstate(error)[0] != "23505":
            raise
        # e.g. a customer/subscription id already stored on another professional: retrying cannot fix it
        logger.error("stripe event conflicts with stored billing state", extra={
            "event_id": event.id, "event_type": event.type, "constraint": db.sqlstate(error)[1]})
        return {"received": True, "ignored": True, "outcome": "conflict"}
    logger.info("stripe event processed", extra={"event_id": event.id, "event_type": event.type,
                                                 "outcome": outcome})
    if outcome in ("applied", "notified"):
        return {"received": True, "outcome": outcome}
    return {"received": True, "ignored": True, "outcome": outcome}
