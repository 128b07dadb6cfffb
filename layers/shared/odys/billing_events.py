"""Stripe webhook: signature check, exactly-once processing, and the effect of each event on a professional.

    event = billing_events.verify(raw_body, headers.get("stripe-signature"))   # 400 invalid_signature otherwise
    billing_events.process(event)                                                # -> {"received": True, ...}

**Exactly once.** The event id is inserted into ``stripe_events`` (``ON CONFLICT DO NOTHING``) in the same
transaction as the event's effect, so a redelivery (or two concurrent deliveries) finds the id and changes
nothing: ``{"received": true, "duplicate": true}``. If the effect fails, the id is rolled back with it and
Stripe's retry processes the event.

**Out of order.** Stripe does not guarantee delivery order. ``professionals.stripe_state_at`` holds the
``created`` time of the newest event applied; an event created earlier is ignored (``stale``). At the same second
an event that ends a subscription wins over one that would start it again. A deletion of the *current*
subscription always applies (nothing can follow a deletion of the same subscription). Events about a subscription
other than the professional's current one are ignored. The professional's row is locked while an event is applied,
so concurrent deliveries serialise.

**Effects.**

* ``checkout.session.completed`` (subscription mode): plan from ``metadata.plan``; customer and subscription ids;
  metric ``subscription_started`` (dimension ``plan``); a notification.
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
import uuid
from collections.abc import Callable
from typing import Any

from odys import config, db, metrics, plans
from odys.billing import ENDED_STATUSES, PAID_PLANS, BillingNotConfigured, plan_for_price
from odys.errors import BadRequest
from odys.log import logger
from odys.notifications import notify_professional
from odys.store import billing as store

TOLERANCE_SECONDS = 300
ACTIVE_STATUSES = frozenset({"active", "trialing", "past_due"})
# ENDED_STATUSES (odys.billing): free, subscription id cleared
SUSPENDED_STATUSES = frozenset({"unpaid", "paused"})             # free, subscription id kept


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


def verify(payload: bytes, signature: str | None) -> dict[str, Any]:
    """The event of a genuine Stripe delivery, or :class:`InvalidSignature` (400). Nothing secret is logged.

    Uses ``stripe.WebhookSignature.verify_header`` (HMAC-SHA256 with ``STRIPE_WEBHOOK_SECRET``, 300 s tolerance),
    then parses the body once, as a plain dict (``Webhook.construct_event`` would parse it twice and build a
    ``stripe.Event`` nobody reads).
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
    event: Any = None
    try:
        stripe.WebhookSignature.verify_header(payload, signature, secret, tolerance=TOLERANCE_SECONDS)
        event = json.loads(payload)
    except stripe.SignatureVerificationError as error:
        reason = "timestamp_outside_tolerance" if "tolerance" in str(error) else "signature_mismatch"
    except ValueError:  # not UTF-8 / not JSON (a signed but unreadable body)
        reason = "unreadable_payload"
    if reason is None and not (isinstance(event, dict) and isinstance(event.get("id"), str)
                               and isinstance(event.get("type"), str) and isinstance(event.get("created"), int)):
        reason = "not_an_event"
    if reason is not None:
        logger.warning("stripe webhook rejected", extra={"reason": reason})
        raise InvalidSignature()
    return event


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


def notify(professional_id: str, kind: str, *, event_id: str, plan: str | None = None) -> None:
    """Tell the professional about a billing event (in-app now; WhatsApp hangs off here). At most once per event."""
    title, body, _template = NOTICES[kind]
    label = plans.PLANS[plan].label if plan in plans.PLANS else ""  # type: ignore[index]
    notify_professional(professional_id, f"billing_{kind}", title, body.format(plan=label).replace("  ", " "),
                        dedupe_key=f"stripe:{event_id}:{kind}")


# --- helpers ----------------------------------------------------------------------------------------------------


def _id(value: Any) -> str | None:
    """A Stripe reference as an id (webhooks send ids; an expanded object carries its id)."""
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) and value else None


def _uuid(value: Any) -> str | None:
    try:
        return str(uuid.UUID(str(value))) if value else None
    except ValueError:
        return None


def _paid(plan: Any) -> str | None:
    return plan if plan in PAID_PLANS else None


def _created(event: dict[str, Any]) -> dt.datetime:
    return dt.datetime.fromtimestamp(event["created"], dt.timezone.utc)


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


def _subscription_plan(subscription: dict[str, Any]) -> str | None:
    """The paid plan of the subscription's item whose price id is one of ours."""
    items = (subscription.get("items") or {}).get("data") or []
    for item in items:
        price = _id(item.get("price")) or _id(item.get("plan"))
        plan = plan_for_price(price)
        if plan:
            return plan
    return None


def _unknown(event: dict[str, Any], obj: dict[str, Any]) -> str:
    logger.warning("stripe event for unknown professional", extra={
        "event_id": event["id"], "event_type": event["type"], "stripe_object_id": obj.get("id"),
        "stripe_customer_id": _id(obj.get("customer"))})
    return "unknown_professional"


# --- handlers (each runs inside the event's transaction) ---------------------------------------------------------


def _checkout_completed(event: dict[str, Any]) -> str:
    session = event["data"]["object"]
    subscription_id, customer_id = _id(session.get("subscription")), _id(session.get("customer"))
    if session.get("mode") != "subscription" or not subscription_id:
        return "ignored"
    metadata = session.get("metadata") or {}
    state = store.lock_professional(
        professional_id=_uuid(metadata.get("professionalId")) or _uuid(session.get("client_reference_id")),
        customer_id=customer_id)
    if state is None:
        return _unknown(event, session)
    if customer_id and state["stripe_customer_id"] not in (None, customer_id):
        logger.warning("checkout for another stripe customer ignored", extra={"event_id": event["id"],
                                                                              "professional_id": str(state["id"])})
        return "customer_mismatch"
    plan = _paid(metadata.get("plan"))
    pid = str(state["id"])
    if state["stripe_subscription_id"] not in (None, subscription_id):
        # two Checkout sessions opened before either was paid: the newer subscription is kept, the older one
        # still bills until someone cancels it in the Stripe dashboard
        logger.error("professional now has two stripe subscriptions", extra={
            "event_id": event["id"], "professional_id": pid, "replaced_subscription": state["stripe_subscription_id"]})
    if is_stale(state, _created(event), starts=True):
        if state["stripe_subscription_id"] != subscription_id:
            return "stale"
        # a later event of this very subscription got here first: the subscription did start
    else:
        store.apply_subscription(pid, plan=plan, customer_id=customer_id, subscription_id=subscription_id,
                                 state_at=_created(event))
    notify(pid, "subscription_activated", event_id=event["id"], plan=plan or state["plan"])
    db.after_commit(lambda: metrics.count("subscription_started", plan=plan or state["plan"] or "unknown"))
    return "applied"


def _subscription_updated(event: dict[str, Any]) -> str:
    subscription = event["data"]["object"]
    subscription_id, customer_id = _id(subscription.get("id")), _id(subscription.get("customer"))
    state = store.lock_professional(professional_id=_uuid((subscription.get("metadata") or {}).get("professionalId")),
                                    customer_id=customer_id, subscription_id=subscription_id)
    if state is None:
        return _unknown(event, subscription)
    if state["stripe_subscription_id"] not in (None, subscription_id):
        return "other_subscription"
    status = subscription.get("status")
    keep_id: str | None = subscription_id
    if status in ACTIVE_STATUSES:
        plan = _subscription_plan(subscription)
        if plan is None:
            logger.warning("stripe subscription with no configured price", extra={
                "event_id": event["id"], "stripe_subscription_id": subscription_id})
            return "unknown_price"
    elif status in ENDED_STATUSES or status in SUSPENDED_STATUSES:
        plan = "free"
        keep_id = None if status in ENDED_STATUSES else subscription_id
    else:  # incomplete: the first payment has not gone through yet
        return "ignored"
    if is_stale(state, _created(event), starts=plan != "free"):
        return "stale"
    store.apply_subscription(str(state["id"]), plan=plan, customer_id=customer_id, subscription_id=keep_id,
                             state_at=_created(event))
    if plan != state["plan"]:
        if status in SUSPENDED_STATUSES:
            notify(str(state["id"]), "subscription_suspended", event_id=event["id"])
        elif plan != "free" and state["plan"] != "free":
            notify(str(state["id"]), "plan_changed", event_id=event["id"], plan=plan)
    return "applied"


def _subscription_deleted(event: dict[str, Any]) -> str:
    subscription = event["data"]["object"]
    subscription_id, customer_id = _id(subscription.get("id")), _id(subscription.get("customer"))
    state = store.lock_professional(subscription_id=subscription_id, customer_id=customer_id,
                                    professional_id=_uuid((subscription.get("metadata") or {}).get("professionalId")))
    if state is None:
        return _unknown(event, subscription)
    current = state["stripe_subscription_id"]
    if current not in (None, subscription_id):
        return "other_subscription"
    if current is None and is_stale(state, _created(event), starts=False):
        return "stale"
    store.apply_subscription(str(state["id"]), plan="free", customer_id=customer_id, subscription_id=None,
                             state_at=_created(event))
    if current == subscription_id or state["plan"] != "free":
        notify(str(state["id"]), "subscription_cancelled", event_id=event["id"])
    return "applied"


def _invoice_subscription(invoice: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """(subscription id, its metadata): top level before API 2025-03-31, under ``parent`` since."""
    details = ((invoice.get("parent") or {}).get("subscription_details") or {})
    return _id(invoice.get("subscription")) or _id(details.get("subscription")), details.get("metadata") or {}


def _payment_failed(event: dict[str, Any]) -> str:
    invoice = event["data"]["object"]
    subscription_id, metadata = _invoice_subscription(invoice)
    state = store.lock_professional(professional_id=_uuid(metadata.get("professionalId")),
                                    customer_id=_id(invoice.get("customer")), subscription_id=subscription_id)
    if state is None:
        return _unknown(event, invoice)
    notify(str(state["id"]), "payment_failed", event_id=event["id"])
    return "notified"


HANDLERS: dict[str, Callable[[dict[str, Any]], str]] = {
    "checkout.session.completed": _checkout_completed,
    "customer.subscription.updated": _subscription_updated,
    "customer.subscription.deleted": _subscription_deleted,
    "invoice.payment_failed": _payment_failed,
}


def process(event: dict[str, Any]) -> dict[str, Any]:
    """Apply a verified event once. Returns the webhook's answer (always 200 unless the database fails)."""
    handler = HANDLERS.get(event["type"])
    try:
        with db.transaction():
            if not store.record_event(event["id"], event["type"]):
                logger.info("stripe event already processed", extra={"event_id": event["id"]})
                return {"received": True, "duplicate": True}
            outcome = handler(event) if handler else "ignored"
    except db.DatabaseError as error:
        if db.sqlstate(error)[0] != "23505":
            raise
        # e.g. a customer/subscription id already stored on another professional: retrying cannot fix it
        logger.error("stripe event conflicts with stored billing state", extra={
            "event_id": event["id"], "event_type": event["type"], "constraint": db.sqlstate(error)[1]})
        return {"received": True, "ignored": True, "outcome": "conflict"}
    logger.info("stripe event processed", extra={"event_id": event["id"], "event_type": event["type"],
                                                 "outcome": outcome})
    if outcome in ("applied", "notified"):
        return {"received": True, "outcome": outcome}
    return {"received": True, "ignored": True, "outcome": outcome}
