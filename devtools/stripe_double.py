"""A local HTTP stand-in for the Stripe API, plus signed webhook deliveries, for `make dev` and the tests.

    double = StripeDouble(api_key="sk_test_odys", prices={"price_basic": 2990}).start()
    client = StripeClient("sk_test_odys", base_addresses={"api": double.url}, max_network_retries=0)
    client.v1.customers.create(params={"email": "ana@example.com"})          # real SDK, real wire format
    double.last("POST", "/v1/customers").form                                # {"email": "ana@example.com"}

    session, subscription = double.complete_checkout(session_id)             # what paying in Checkout does
    body, headers = signed_delivery(checkout_session_completed(session), "whsec_test")   # as Stripe signs it

It speaks Stripe's wire format: form-encoded requests with nested keys (``line_items[0][price]``,
``metadata[plan]``), ``Authorization: Bearer sk_...``, ``Idempotency-Key`` replays, JSON responses with full
objects (customer, checkout.session, billing_portal.session, subscription) and errors shaped
``{"error": {"type", "message", "code", "param"}}`` with Stripe's statuses (400, 401, 402, 404, 429, 500).

Endpoints: ``POST /v1/customers``, ``GET /v1/customers/{id}``, ``POST /v1/checkout/sessions``,
``GET /v1/checkout/sessions/{id}`` (``expand[]=subscription``), ``POST /v1/checkout/sessions/{id}/expire``
(an open session only; 400 otherwise, as Stripe), ``POST /v1/billing_portal/sessions``,
``GET|DELETE /v1/subscriptions/{id}`` (DELETE of a canceled one is 400, as Stripe).
For `make dev` it also serves the pages a browser would reach: ``/c/pay/{session}`` (a pretend Checkout: paying
completes the session and delivers ``checkout.session.completed`` to ``webhook_url``) and ``/p/session/{id}``
(a pretend portal that can cancel the subscription: ``customer.subscription.deleted``). Cancelling through the API
also delivers ``customer.subscription.deleted`` when ``webhook_url`` is set, in the background, as Stripe does.

Every request is recorded (:attr:`StripeDouble.requests`) for assertions; :meth:`StripeDouble.fail_next` makes the
next matching request fail with a given Stripe error, :meth:`StripeDouble.hold_next` makes it wait for a signal.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import html
import json
import secrets
import string
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from devtools.http_double import HttpDouble

API_VERSION = "2026-10-28.endive"
"""The API version stripe-python 16.1 pins; events are rendered in it."""

_ALNUM = string.ascii_letters + string.digits


def new_id(prefix: str, length: int = 24) -> str:
    """A well-formed Stripe id, e.g. ``new_id("cus", 14)`` -> ``'cus_Q3xq9M1bTz0aLk'``."""
    return f"{prefix}_" + "".join(secrets.choice(_ALNUM) for _ in range(length))


def _now() -> int:
    return int(time.time())


# --- objects (shapes of the current API: stripe/openapi fixtures and test-mode captures) --------------------------


def customer_object(*, email: str | None = None, name: str | None = None, metadata: dict[str, str] | None = None,
                    preferred_locales: list[str] | None = None, phone: str | None = None,
                    id: str | None = None, created: int | None = None) -> dict[str, Any]:  # noqa: A002
    return {
        "id": id or new_id("cus", 14), "object": "customer", "address": None, "balance": 0,
        "created": created or _now(), "currency": None, "default_source": None, "delinquent": False,
        "description": None, "discount": None, "email": email, "invoice_prefix": secrets.token_hex(4).upper(),
        "invoice_settings": {"custom_fields": None, "default_payment_method": None, "footer": None,
                             "rendering_options": None},
        "livemode": False, "metadata": dict(metadata or {}), "name": name, "next_invoice_sequence": 1,
        "phone": phone, "preferred_locales": list(preferred_locales or []), "shipping": None, "tax_exempt": "none",
        "test_clock": None,
    }


def price_object(price_id: str, unit_amount: int = 5990, *, currency: str = "brl",
                 product: str | None = None) -> dict[str, Any]:
    return {
        "id": price_id, "object": "price", "active": True, "billing_scheme": "per_unit", "created": 1721948530,
        "currency": currency, "custom_unit_amount": None, "livemode": False, "lookup_key": None, "metadata": {},
        "nickname": None, "product": product or ("prod_" + hashlib.sha1(price_id.encode()).hexdigest()[:14]),
        "recurring": {"interval": "month", "interval_count": 1, "meter": None, "usage_type": "licensed",
                      "trial_period_days": None},
        "tax_behavior": "unspecified", "tiers_mode": None, "transform_quantity": None, "type": "recurring",
        "unit_amount": unit_amount, "unit_amount_decimal": str(unit_amount),
    }


def checkout_session_object(*, customer: str | None, line_items: list[dict[str, Any]], success_url: str,
                            cancel_url: str | None = None, mode: str = "subscription",
                            metadata: dict[str, str] | None = None, client_reference_id: str | None = None,
                            payment_method_types: list[str] | None = None, locale: str | None = None,
                            amount: int | None = None, url: str | None = None, id: str | None = None,  # noqa: A002
                            customer_email: str | None = None) -> dict[str, Any]:
    """An ``open`` Checkout Session as ``POST /v1/checkout/sessions`` returns it."""
    session_id = id or "cs_test_a1" + "".join(secrets.choice(_ALNUM) for _ in range(56))
    created = _now()
    return {
        "id": session_id, "object": "checkout.session", "adaptive_pricing": None, "after_expiration": None,
        "allow_promotion_codes": None, "amount_subtotal": amount, "amount_total": amount,
        "automatic_tax": {"enabled": False, "liability": None, "provider": None, "status": None},
        "billing_address_collection": None, "cancel_url": cancel_url, "client_reference_id": client_reference_id,
        "client_secret": None, "collected_information": None, "consent": None, "consent_collection": None,
        "created": created, "currency": "brl", "custom_fields": [],
        "custom_text": {"after_submit": None, "shipping_address": None, "submit": None,
                        "terms_of_service_acceptance": None},
        "customer": customer, "customer_creation": None if customer else "if_required", "customer_details": None,
        "customer_email": customer_email, "discounts": [], "expires_at": created + 24 * 3600, "invoice": None,
        "invoice_creation": None, "livemode": False, "locale": locale, "metadata": dict(metadata or {}),
        "mode": mode, "payment_intent": None, "payment_link": None, "payment_method_collection": "always",
        "payment_method_configuration_details": None, "payment_method_options": {"card": {"request_three_d_secure":
                                                                                          "automatic"}},
        "payment_method_types": list(payment_method_types or ["card"]), "payment_status": "unpaid",
        "phone_number_collection": {"enabled": False}, "recovered_from": None,
        "saved_payment_method_options": None, "setup_intent": None, "shipping_address_collection": None,
        "shipping_cost": None, "shipping_options": [], "status": "open", "submit_type": None, "subscription": None,
        "success_url": success_url, "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        "ui_mode": "hosted", "url": url or f"https://checkout.stripe.com/c/pay/{session_id}",
        # not part of Stripe's object: what the double needs to complete it
        "_line_items": line_items,
    }


def subscription_object(*, customer: str, price: dict[str, Any], status: str = "active",
                        metadata: dict[str, str] | None = None, trial_end: int | None = None,
                        created: int | None = None, id: str | None = None) -> dict[str, Any]:  # noqa: A002
    """A subscription with one item (``items.data[0].price.id`` is the plan's price)."""
    sub_id = id or new_id("sub", 24)
    created = created or _now()
    period_start = created
    period_end = trial_end or created + 30 * 86400
    return {
        "id": sub_id, "object": "subscription", "application": None, "application_fee_percent": None,
        "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None},
        "billing_cycle_anchor": period_end if trial_end else created,
        "billing_cycle_anchor_config": None, "billing_mode": {"type": "flexible"}, "billing_thresholds": None,
        "cancel_at": None, "cancel_at_period_end": False, "canceled_at": None,
        "cancellation_details": {"comment": None, "feedback": None, "reason": None},
        "collection_method": "charge_automatically", "created": created, "currency": price.get("currency", "brl"),
        "customer": customer, "days_until_due": None, "default_payment_method": new_id("pm", 24),
        "default_source": None, "default_tax_rates": [], "description": None, "discounts": [], "ended_at": None,
        "invoice_settings": {"account_tax_ids": None, "issuer": {"type": "self"}},
        "items": {
            "object": "list",
            "data": [{
                "id": new_id("si", 14), "object": "subscription_item", "billing_thresholds": None,
                "created": created + 1, "current_period_end": period_end, "current_period_start": period_start,
                "discounts": [], "metadata": {}, "plan": {
                    "id": price["id"], "object": "plan", "active": True, "amount": price.get("unit_amount"),
                    "amount_decimal": price.get("unit_amount_decimal"), "billing_scheme": "per_unit",
                    "created": price.get("created"), "currency": price.get("currency", "brl"), "interval": "month",
                    "interval_count": 1, "livemode": False, "metadata": {}, "meter": None, "nickname": None,
                    "product": price.get("product"), "tiers_mode": None, "transform_usage": None,
                    "trial_period_days": None, "usage_type": "licensed"},
                "price": copy.deepcopy(price), "quantity": 1, "subscription": sub_id, "tax_rates": [],
            }],
            "has_more": False, "total_count": 1, "url": f"/v1/subscription_items?subscription={sub_id}",
        },
        "latest_invoice": new_id("in", 24), "livemode": False, "metadata": dict(metadata or {}),
        "next_pending_invoice_item_invoice": None, "on_behalf_of": None, "pause_collection": None,
        "payment_settings": {"payment_method_options": None, "payment_method_types": None,
                             "save_default_payment_method": "off"},
        "pending_invoice_item_interval": None, "pending_setup_intent": None, "pending_update": None,
        "schedule": None, "start_date": created, "status": status, "test_clock": None, "transfer_data": None,
        "trial_end": trial_end, "trial_settings": {"end_behavior": {"missing_payment_method": "create_invoice"}},
        "trial_start": created if trial_end else None,
    }


def invoice_object(subscription: dict[str, Any], *, attempt_count: int = 1, status: str = "open",
                   created: int | None = None) -> dict[str, Any]:
    """The subscription's latest invoice, failed (API >= 2025-03-31: subscription under ``parent``)."""
    created = created or _now()
    item = subscription["items"]["data"][0]
    amount = item["price"].get("unit_amount") or 0
    invoice_id = subscription.get("latest_invoice") or new_id("in", 24)
    return {
        "id": invoice_id, "object": "invoice", "account_country": "BR", "account_name": "Odys",
        "account_tax_ids": None, "amount_due": amount, "amount_overpaid": 0, "amount_paid": 0,
        "amount_remaining": amount, "amount_shipping": 0, "application": None, "attempt_count": attempt_count,
        "attempted": True, "auto_advance": True,
        "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None, "provider": None,
                          "status": None},
        "automatically_finalizes_at": None, "billing_reason": "subscription_cycle",
        "collection_method": "charge_automatically", "created": created, "currency": item["price"].get("currency"),
        "custom_fields": None, "customer": subscription["customer"], "customer_address": None,
        "customer_email": None, "customer_name": None, "customer_phone": None, "customer_shipping": None,
        "customer_tax_exempt": "none", "customer_tax_ids": [], "default_payment_method": None,
        "default_source": None, "default_tax_rates": [], "description": None, "discounts": [], "due_date": None,
        "effective_at": created, "ending_balance": 0, "footer": None, "from_invoice": None,
        "hosted_invoice_url": f"https://invoice.stripe.com/i/{invoice_id}", "invoice_pdf": None,
        "issuer": {"type": "self"}, "last_finalization_error": None, "latest_revision": None,
        "lines": {"object": "list", "data": [{
            "id": new_id("il", 14), "object": "line_item", "amount": amount, "currency": item["price"].get("currency"),
            "description": f"1 × Odys (at {amount / 100:.2f} / month)", "discount_amounts": [], "discountable": True,
            "discounts": [], "invoice": invoice_id, "livemode": False, "metadata": {},
            "parent": {"invoice_item_details": None, "subscription_item_details": {
                "invoice_item": None, "proration": False, "proration_details": {"credited_items": None},
                "subscription": subscription["id"], "subscription_item": item["id"]},
                "type": "subscription_item_details"},
            "period": {"end": item["current_period_end"], "start": item["current_period_start"]},
            "pretax_credit_amounts": [], "pricing": {"price_details": {"price": item["price"]["id"],
                                                                       "product": item["price"].get("product")},
                                                     "type": "price_details",
                                                     "unit_amount_decimal": str(amount)},
            "quantity": 1, "taxes": []}], "has_more": False, "total_count": 1, "url": f"/v1/invoices/{invoice_id}/lines"},
        "livemode": False, "metadata": {}, "next_payment_attempt": created + 3 * 86400, "number": None,
        "on_behalf_of": None,
        "parent": {"quote_details": None, "subscription_details": {
            "metadata": dict(subscription.get("metadata") or {}), "subscription": subscription["id"]},
            "type": "subscription_details"},
        "payment_settings": {"default_mandate": None, "payment_method_options": None, "payment_method_types": None},
        "period_end": item["current_period_end"], "period_start": item["current_period_start"],
        "post_payment_credit_notes_amount": 0, "pre_payment_credit_notes_amount": 0, "receipt_number": None,
        "rendering": None, "shipping_cost": None, "shipping_details": None, "starting_balance": 0,
        "statement_descriptor": None, "status": status,
        "status_transitions": {"finalized_at": created, "marked_uncollectible_at": None, "paid_at": None,
                               "voided_at": None},
        "subtotal": amount, "subtotal_excluding_tax": amount, "test_clock": None, "total": amount,
        "total_discount_amounts": [], "total_excluding_tax": amount, "total_pretax_credit_amounts": [],
        "total_taxes": [], "webhooks_delivered_at": None,
    }


def public(obj: dict[str, Any]) -> dict[str, Any]:
    """The object as Stripe shows it (without the double's private ``_`` keys)."""
    return {k: v for k, v in obj.items() if not k.startswith("_")}


# --- events and signing -----------------------------------------------------------------------------------------


def event(event_type: str, obj: dict[str, Any], *, created: int | None = None,
          previous_attributes: dict[str, Any] | None = None, id: str | None = None) -> dict[str, Any]:  # noqa: A002
    """A Stripe Event envelope around a full object."""
    data: dict[str, Any] = {"object": public(copy.deepcopy(obj))}
    if previous_attributes is not None:
        data["previous_attributes"] = previous_attributes
    return {"id": id or new_id("evt", 24), "object": "event", "api_version": API_VERSION,
            "created": created or _now(), "data": data, "livemode": False, "pending_webhooks": 1,
            "request": {"id": new_id("req", 14), "idempotency_key": None}, "type": event_type}


def checkout_session_completed(session: dict[str, Any], **kw: Any) -> dict[str, Any]:
    return event("checkout.session.completed", session, **kw)


def subscription_updated(subscription: dict[str, Any], previous_attributes: dict[str, Any] | None = None,
                         **kw: Any) -> dict[str, Any]:
    return event("customer.subscription.updated", subscription, previous_attributes=previous_attributes or {}, **kw)


def subscription_deleted(subscription: dict[str, Any], **kw: Any) -> dict[str, Any]:
    ended = copy.deepcopy(subscription)
    if ended["status"] != "canceled":
        ended.update(status="canceled", canceled_at=_now(), ended_at=_now())
    return event("customer.subscription.deleted", ended, **kw)


def invoice_payment_failed(subscription: dict[str, Any], **kw: Any) -> dict[str, Any]:
    return event("invoice.payment_failed", invoice_object(subscription), **kw)


def sign(payload: str | bytes, secret: str, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header Stripe sends: ``t=<unix>,v1=<HMAC-SHA256(secret, f"{t}.{payload}")>``."""
    timestamp = _now() if timestamp is None else timestamp
    body = payload.decode("utf-8") if isinstance(payload, bytes) else payload
    digest = hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def signed_delivery(evt: dict[str, Any], secret: str, timestamp: int | None = None) -> tuple[str, dict[str, str]]:
    """(body, headers) of a webhook delivery: pretty-printed JSON, as Stripe sends it, and its signature."""
    body = json.dumps(evt, indent=2)
    return body, {"content-type": "application/json; charset=utf-8", "user-agent":
                  "Stripe/1.0 (+https://stripe.com/docs/webhooks)", "stripe-signature": sign(body, secret, timestamp)}


# --- wire format ------------------------------------------------------------------------------------------------


def decode_form(text: str) -> dict[str, Any]:
    """Stripe's form encoding back into JSON-like data.

    >>> decode_form("line_items[0][price]=p&line_items[0][quantity]=1&metadata[plan]=pro&expand[0]=x")
    {'line_items': [{'price': 'p', 'quantity': '1'}], 'metadata': {'plan': 'pro'}, 'expand': ['x']}
    """
    root: dict[str, Any] = {}
    for key, value in urllib.parse.parse_qsl(text, keep_blank_values=True):
        head, _, rest = key.partition("[")
        parts = [head] + ([p.rstrip("]") for p in ("[" + rest).split("[")[1:]] if rest else [])
        node = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            part = part or str(len(node))  # "a[]" appends
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, {})

    def listify(value: Any) -> Any:
        if isinstance(value, dict):
            value = {k: listify(v) for k, v in value.items()}
            if value and all(k.isdigit() for k in value):
                return [value[k] for k in sorted(value, key=int)]
        return value

    return listify(root)


class StripeApiError(Exception):
    def __init__(self, status: int, error_type: str, message: str, *, code: str | None = None,
                 param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.body = status, {"error": {k: v for k, v in {
            "type": error_type, "message": message, "code": code, "param": param,
            "doc_url": f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}" if code else None,
            "request_log_url": None}.items() if v is not None}}


def _missing(kind: str, value: str, param: str | None = None) -> StripeApiError:
    return StripeApiError(404 if param is None else 400, "invalid_request_error", f"No such {kind}: '{value}'",
                          code="resource_missing", param=param)


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    form: dict[str, Any]
    raw: str
    status: int = 0

    @property
    def idempotency_key(self) -> str | None:
        return self.headers.get("idempotency-key")


@dataclass
class _Failure:
    method: str
    path: str
    error: StripeApiError


@dataclass
class _Hold:
    method: str
    path: str
    gate: threading.Event


@dataclass
class StripeDouble(HttpDouble):
    """The fake Stripe API server. ``prices`` maps known price ids to unit amounts (empty: any price is known)."""

    api_key: str = "sk_test_odys_double"
    prices: dict[str, int] = field(default_factory=dict)
    webhook_url: str | None = None
    webhook_secret: str | None = None
    requests: list[Recorded] = field(default_factory=list)
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)
    checkout_sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    portal_sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)
    deliveries: list[tuple[int, dict[str, Any]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.RLock()
        self._failures: list[_Failure] = []
        self._holds: list[_Hold] = []
        self._idempotent: dict[tuple[str, str], tuple[str, int, dict[str, Any]]] = {}

    # -- lifecycle ---------------------------------------------------------------------------------------------

    def handler(self) -> type[BaseHTTPRequestHandler]:
        return _Handler

    def reset(self) -> None:
        """Forget every object, request, failure and idempotency key (between tests)."""
        with self._lock:
            for store in (self.requests, self.deliveries):
                store.clear()
            for objects in (self.customers, self.checkout_sessions, self.portal_sessions, self.subscriptions):
                objects.clear()
            self._failures.clear()
            self._holds.clear()
            self._idempotent.clear()

    # -- assertions and scripting --------------------------------------------------------------------------------

    def calls(self, method: str, path: str) -> list[Recorded]:
        """Recorded requests with this method whose path is ``path`` or starts with ``path + "/"``."""
        with self._lock:
            return [r for r in self.requests if r.method == method and (r.path == path or
                                                                        r.path.startswith(path.rstrip("/") + "/"))]

    def last(self, method: str, path: str) -> Recorded:
        found = self.calls(method, path)
        assert found, f"no {method} {path} was sent to the Stripe double"
        return found[-1]

    def fail_next(self, method: str, path: str, *, status: int = 500, error_type: str = "api_error",
                  message: str = "An unknown error occurred", code: str | None = None) -> None:
        """The next ``method`` request whose path starts with ``path`` gets this error (once)."""
        with self._lock:
            self._failures.append(_Failure(method, path, StripeApiError(status, error_type, message, code=code)))

    def hold_next(self, method: str, path: str) -> threading.Event:
        """The next ``method`` request whose path starts with ``path`` waits (at most 10 s) until the returned
        event is set, then is answered as usual: a slow Stripe, to interleave concurrent requests in tests."""
        gate = threading.Event()
        with self._lock:
            self._holds.append(_Hold(method, path, gate))
        return gate

    def add_subscription(self, customer: str, price_id: str, *, status: str = "active",
                         metadata: dict[str, str] | None = None, trial_end: int | None = None) -> dict[str, Any]:
        """Create a subscription directly (as if paid elsewhere); returns it."""
        sub = subscription_object(customer=customer, price=price_object(price_id, self.prices.get(price_id, 5990)),
                                  status=status, metadata=metadata, trial_end=trial_end)
        with self._lock:
            self.subscriptions[sub["id"]] = sub
        return copy.deepcopy(sub)

    def complete_checkout(self, session_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """What paying on the Checkout page does: a subscription is created and the session completes.

        Returns (session, subscription) as the ``checkout.session.completed`` event and later events carry them.
        """
        with self._lock:
            session = self.checkout_sessions[session_id]
            if session["status"] != "open":
                raise ValueError(f"session {session_id} is {session['status']}")
            sub_data = session.get("_subscription_data") or {}
            trial_end = int(sub_data["trial_end"]) if sub_data.get("trial_end") else None
            price_id = session["_line_items"][0]["price"]
            sub = self.add_subscription(session["customer"], price_id, status="trialing" if trial_end else "active",
                                        metadata=sub_data.get("metadata") or {}, trial_end=trial_end)
            session.update(status="complete", subscription=sub["id"], url=None,
                           payment_status="no_payment_required" if trial_end else "paid",
                           customer_details={"address": {"city": None, "country": "BR", "line1": None,
                                                         "line2": None, "postal_code": None, "state": None},
                                             "email": self.customers.get(session["customer"], {}).get("email"),
                                             "name": None, "phone": None, "tax_exempt": "none", "tax_ids": []})
            return public(copy.deepcopy(session)), copy.deepcopy(self.subscriptions[sub["id"]])

    def _checkout_session(self, session_id: str) -> dict[str, Any]:
        if session_id not in self.checkout_sessions:
            raise _missing("checkout.session", session_id)
        return self.checkout_sessions[session_id]

    def _expanded(self, session: dict[str, Any], expand: list[str]) -> dict[str, Any]:
        """``expand[]=subscription``: the subscription object in place of its id."""
        if "subscription" in expand and session.get("subscription") in self.subscriptions:
            session["subscription"] = copy.deepcopy(self.subscriptions[session["subscription"]])
        return session

    def expire_checkout(self, session_id: str) -> dict[str, Any]:
        """``POST /v1/checkout/sessions/{id}/expire``: an open session can no longer be paid; others are refused."""
        with self._lock:
            session = self._checkout_session(session_id)
            if session["status"] != "open":
                raise StripeApiError(400, "invalid_request_error", 'Only Checkout Sessions with a status in '
                                     f'["open"] can be expired. This Checkout Session has a status of '
                                     f'`{session["status"]}`.')
            session.update(status="expired", url=None)
            return copy.deepcopy(session)

    def cancel(self, subscription_id: str) -> dict[str, Any]:
        with self._lock:
            sub = self.subscriptions.get(subscription_id)
            if sub is None:
                raise _missing("subscription", subscription_id)
            if sub["status"] == "canceled":
                raise StripeApiError(400, "invalid_request_error", "A canceled subscription can only update its "
                                     "cancellation_details and metadata.")
            now = _now()
            sub.update(status="canceled", canceled_at=now, ended_at=now,
                       cancellation_details={"comment": None, "feedback": None, "reason": "cancellation_requested"})
            result = copy.deepcopy(sub)
        if self.webhook_url:
            threading.Thread(target=self.deliver, args=(subscription_deleted(result),), daemon=True).start()
        return result

    def deliver(self, evt: dict[str, Any]) -> int:
        """POST a signed event to ``webhook_url`` (dev server); returns the HTTP status."""
        assert self.webhook_url and self.webhook_secret, "webhook_url and webhook_secret are needed to deliver"
        body, headers = signed_delivery(evt, self.webhook_secret)
        request = urllib.request.Request(self.webhook_url, data=body.encode(), headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - local dev server
                status = response.status
        except urllib.error.HTTPError as error:
            status = error.code
        except OSError:
            status = 0
        with self._lock:
            self.deliveries.append((status, evt))
        return status

    # -- API ---------------------------------------------------------------------------------------------------

    def _handle_api(self, method: str, path: str, form: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        parts = path.strip("/").split("/")
        with self._lock:
            if method == "POST" and path == "/v1/customers":
                cus = customer_object(email=form.get("email"), name=form.get("name"), phone=form.get("phone"),
                                      metadata=form.get("metadata"), preferred_locales=form.get("preferred_locales"))
                self.customers[cus["id"]] = cus
                return 200, cus
            if method == "GET" and len(parts) == 3 and parts[:2] == ["v1", "customers"]:
                if parts[2] not in self.customers:
                    raise _missing("customer", parts[2])
                return 200, self.customers[parts[2]]
            if method == "POST" and path == "/v1/checkout/sessions":
                return 200, public(self._create_checkout_session(form))
            if method == "GET" and len(parts) == 4 and parts[:3] == ["v1", "checkout", "sessions"]:
                return 200, self._expanded(public(self._checkout_session(parts[3])), form.get("expand") or [])
            if method == "POST" and len(parts) == 5 and parts[:3] == ["v1", "checkout", "sessions"] \
                    and parts[4] == "expire":
                return 200, public(self.expire_checkout(parts[3]))
            if method == "POST" and path == "/v1/billing_portal/sessions":
                return 200, self._create_portal_session(form)
            if len(parts) == 3 and parts[:2] == ["v1", "subscriptions"] and method in ("GET", "DELETE"):
                if method == "DELETE":
                    return 200, self.cancel(parts[2])
                if parts[2] not in self.subscriptions:
                    raise _missing("subscription", parts[2])
                return 200, self.subscriptions[parts[2]]
        raise StripeApiError(404, "invalid_request_error", f"Unrecognized request URL ({method}: {path}). "
                             "Please see https://stripe.com/docs or we can help at https://support.stripe.com/.")

    def _create_checkout_session(self, form: dict[str, Any]) -> dict[str, Any]:
        mode = form.get("mode")
        if mode not in ("payment", "setup", "subscription"):
            raise StripeApiError(400, "invalid_request_error", "Missing required param: mode.",
                                 code="parameter_missing", param="mode")
        if not form.get("success_url"):
            raise StripeApiError(400, "invalid_request_error", "Missing required param: success_url.",
                                 code="parameter_missing", param="success_url")
        customer = form.get("customer")
        if customer and customer not in self.customers:
            raise _missing("customer", customer, param="customer")
        items = form.get("line_items") or []
        if mode == "subscription" and not items:
            raise StripeApiError(400, "invalid_request_error", "line_items is required in subscription mode.",
                                 code="parameter_missing", param="line_items")
        for i, item in enumerate(items):
            if self.prices and item.get("price") not in self.prices:
                raise _missing("price", str(item.get("price")), param=f"line_items[{i}][price]")
        for pmt in form.get("payment_method_types") or []:
            if pmt not in ("card", "boleto", "pix", "link"):
                raise StripeApiError(400, "invalid_request_error", f"Invalid payment_method_types[0]: {pmt}",
                                     code="parameter_invalid_string", param="payment_method_types[0]")
        sub_data = form.get("subscription_data") or {}
        if sub_data.get("trial_end") is not None:
            trial_end = int(sub_data["trial_end"])
            if trial_end < _now() + 48 * 3600:
                raise StripeApiError(400, "invalid_request_error", "The `trial_end` date has to be at least 2 "
                                     "days in the future.", param="subscription_data[trial_end]")
        amount = sum(self.prices.get(item.get("price"), 0) * int(item.get("quantity", 1)) for item in items)
        session = checkout_session_object(
            customer=customer, line_items=items, success_url=form["success_url"], cancel_url=form.get("cancel_url"),
            mode=mode, metadata=form.get("metadata"), client_reference_id=form.get("client_reference_id"),
            payment_method_types=form.get("payment_method_types"), locale=form.get("locale"), amount=amount,
            customer_email=form.get("customer_email"))
        session["url"] = f"{self.url}/c/pay/{session['id']}"
        session["_subscription_data"] = sub_data
        self.checkout_sessions[session["id"]] = session
        return session

    def _create_portal_session(self, form: dict[str, Any]) -> dict[str, Any]:
        customer = form.get("customer")
        if not customer:
            raise StripeApiError(400, "invalid_request_error", "Missing required param: customer.",
                                 code="parameter_missing", param="customer")
        if customer not in self.customers:
            raise _missing("customer", customer, param="customer")
        portal_id = new_id("bps", 24)
        session = {"id": portal_id, "object": "billing_portal.session", "configuration": new_id("bpc", 24),
                   "created": _now(), "customer": customer, "flow": None, "livemode": False,
                   "locale": form.get("locale"), "on_behalf_of": None, "return_url": form.get("return_url"),
                   "url": f"{self.url}/p/session/{portal_id}"}
        self.portal_sessions[portal_id] = session
        return session

    def _authorize(self, headers: dict[str, str]) -> None:
        scheme, _, key = (headers.get("authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not key:
            raise StripeApiError(401, "invalid_request_error", "You did not provide an API key. You need to provide "
                                 "your API key in the Authorization header, using Bearer auth.")
        if key != self.api_key:
            raise StripeApiError(401, "invalid_request_error", f"Invalid API Key provided: {key[:8]}****{key[-4:]}",
                                 code="api_key_expired" if key.startswith("sk_live") else None)

    def api(self, method: str, path: str, headers: dict[str, str], raw: str) -> tuple[int, dict[str, Any], dict]:
        """One API call: (status, JSON body, extra headers). Records it."""
        form = decode_form(raw)
        record = Recorded(method, path, headers, form, raw)
        with self._lock:
            self.requests.append(record)
            hold = next((h for h in self._holds if h.method == method and path.startswith(h.path)), None)
            if hold:
                self._holds.remove(hold)
        if hold:
            hold.gate.wait(10)
        try:
            self._authorize(headers)
            with self._lock:
                failure = next((f for f in self._failures if f.method == method and path.startswith(f.path)), None)
                if failure:
                    self._failures.remove(failure)
                    raise failure.error
                key = headers.get("idempotency-key") if method == "POST" else None
                if key and (self.api_key, key) in self._idempotent:
                    fingerprint, status, body = self._idempotent[(self.api_key, key)]
                    if fingerprint != f"{path}?{raw}":
                        raise StripeApiError(400, "idempotency_error", "Keys for idempotent requests can only be "
                                             "used with the same parameters they were first used with. Try using "
                                             "a key other than '" + key + "' if you meant to execute a different "
                                             "request.")
                    record.status = status
                    return status, body, {"Idempotent-Replayed": "true"}
                status, body = self._handle_api(method, path, form)
                if key:
                    self._idempotent[(self.api_key, key)] = (f"{path}?{raw}", status, copy.deepcopy(body))
        except StripeApiError as error:
            status, body = error.status, error.body
        record.status = status
        return status, copy.deepcopy(body), {}


class _Handler(BaseHTTPRequestHandler):
    stripe: StripeDouble
    protocol_version = "HTTP/1.1"
    server_version = "stripe-double"

    def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Request-Id", new_id("req", 14))
        self.send_header("Stripe-Version", self.headers.get("Stripe-Version") or API_VERSION)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _handle(self) -> None:
        parts = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length).decode("utf-8") if length else ""
        if parts.path.startswith(("/c/pay/", "/p/session/")):
            return self._page(parts.path, raw)
        if self.command in ("GET", "DELETE") and parts.query:
            raw = parts.query
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, body, extra = self.double.api(self.command, parts.path, headers, raw)
        self._send(status, json.dumps(body, indent=2).encode(), "application/json", extra)

    # pages a browser reaches in `make dev` ----------------------------------------------------------------------

    def _page(self, path: str, raw: str) -> None:
        stripe = self.double
        kind, object_id = ("checkout", path.rsplit("/", 1)[1]) if path.startswith("/c/pay/") else \
            ("portal", path.rsplit("/", 1)[1])
        if kind == "checkout":
            session = stripe.checkout_sessions.get(object_id)
            if session is None:
                return self._send(404, b"unknown checkout session", "text/plain")
            if self.command == "POST" and session["status"] == "open":
                completed, _ = stripe.complete_checkout(object_id)
                if stripe.webhook_url:
                    stripe.deliver(checkout_session_completed(completed))
                target = session["success_url"].replace("{CHECKOUT_SESSION_ID}", object_id)
                return self._send(303, b"", "text/plain", {"Location": target})
            price = session["_line_items"][0]["price"]
            return self._html("Odys — Checkout (Stripe double)",
                              f"<p>Assinatura: <code>{html.escape(price)}</code> — "
                              f"R$ {(session['amount_total'] or 0) / 100:.2f}/mês</p>"
                              f"<p>Status: {html.escape(session['status'])}</p>"
                              f"<form method=post><button>Pagar (simulado)</button></form>"
                              f"<p><a href='{html.escape(session['cancel_url'] or '/')}'>Voltar</a></p>")
        portal = stripe.portal_sessions.get(object_id)
        if portal is None:
            return self._send(404, b"unknown portal session", "text/plain")
        subs = [s for s in stripe.subscriptions.values() if s["customer"] == portal["customer"]
                and s["status"] != "canceled"]
        if self.command == "POST":
            for sub in subs:
                stripe.cancel(sub["id"])
            return self._send(303, b"", "text/plain", {"Location": portal["return_url"] or "/"})
        rows = "".join(f"<li>{html.escape(s['id'])}: {html.escape(s['status'])}</li>" for s in subs) or "<li>none</li>"
        return self._html("Odys — Billing portal (Stripe double)",
                          f"<ul>{rows}</ul><form method=post><button>Cancelar assinatura</button></form>"
                          f"<p><a href='{html.escape(portal['return_url'] or '/')}'>Voltar</a></p>")

    def _html(self, title: str, body: str) -> None:
        page = f"<!doctype html><meta charset=utf-8><title>{title}</title><h1>{title}</h1>{body}"
        self._send(200, page.encode(), "text/html; charset=utf-8")

    do_GET = do_POST = do_DELETE = _handle

    def log_message(self, fmt: str, *args: Any) -> None:  # quiet
        pass
