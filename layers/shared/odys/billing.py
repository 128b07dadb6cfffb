"""Stripe subscriptions (professional -> Odys): Checkout, the customer portal, and cancellation.

    professional = caller.professional(user_id)            # the caller's row: the handler looks it up
    billing.checkout(professional, billing.CheckoutRequest(plan="pro"))  # -> {"url": "https://...", "sessionId": "cs_"}
    billing.portal(professional)                         # -> {"url": "https://billing.stripe.com/..."}
    billing.stop_billing(professional_id)                # in the deletion's transaction: session expired, sub cancelled
    billing.cancel_subscription("sub_123")               # a subscription already gone is fine

The dependency is one-way: :mod:`odys.account` calls this module (deletion); this module never imports it.

**One open Checkout session per professional** (``professionals.stripe_checkout_session_id``). A new checkout
expires the previous session first, so two sessions can never both be paid; a previous session that was paid a
moment ago (its webhook not processed yet) answers 409 ``subscription_exists`` instead of opening a second one.
Account deletion expires the open session too. Should two subscriptions start anyway (sessions opened before
this rule), the webhook cancels the one it does not keep (:mod:`odys.billing_events`).

``stripe`` is imported **inside** the functions that talk to Stripe, never at module level: this module is part
of the shared layer, and importing it (e.g. from :mod:`odys.account`) must not cost stripe's ~180 ms import.
Only the functions that need the SDK ship it (their own ``requirements.txt``).

Configuration (see README "Payments"):

* ``STRIPE_SECRET_KEY`` (secret bundle): the API key. Missing -> 503 ``billing_not_configured``.
* ``STRIPE_PRICE_BASIC`` / ``_PRO`` / ``_PREMIUM``: price ids (:attr:`odys.plans.Plan.price_id`).
* ``APP_BASE_URL`` (``/dashboard/billing`` is appended) or ``STRIPE_SUCCESS_URL`` / ``STRIPE_CANCEL_URL`` /
  ``STRIPE_PORTAL_RETURN_URL`` for the redirects.
* ``STRIPE_API_BASE`` (dev and tests only: the local double, :mod:`devtools.stripe_double`). Outside the dev and
  test stages anything but ``https://api.stripe.com`` is refused, so a stray setting can never send the secret key
  elsewhere. ``STRIPE_TIMEOUT_SECONDS`` (default 8) and ``STRIPE_MAX_NETWORK_RETRIES`` (default 2; 0 with a
  local base) tune the HTTP client.

Every Stripe failure is a 502 problem ``stripe_error``: the log keeps the error class, HTTP status, Stripe's
error code and request id; the answer keeps none of Stripe's message (it can carry ids and e-mail addresses).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from pydantic import BeforeValidator

from odys import config, plans
from odys.errors import Conflict, NotFound, Problem, ServiceUnavailable
from odys.fields import ApiModel
from odys.log import logger

if TYPE_CHECKING:  # pragma: no cover - typing only; never imported at run time here
    from stripe import StripeClient, StripeError

T = TypeVar("T")

STRIPE_API = "https://api.stripe.com"
BILLING_PATH = "/dashboard/billing"
TRIAL_END_MIN_LEAD = dt.timedelta(hours=48, minutes=10)
"""Stripe refuses a ``trial_end`` less than 48 h ahead; 10 min of margin covers clock skew and slow redirects."""

ENDED_STATUSES = frozenset({"canceled", "incomplete_expired"})


class BillingNotConfigured(ServiceUnavailable):
    code = "billing_not_configured"

    def __init__(self, setting: str) -> None:
        super().__init__(f"Payments are not configured on this server ({setting} is missing). "
                         "Please contact support.")


class StripeFailure(Problem):
    """502: Stripe refused or could not be reached. The detail never repeats Stripe's own message."""

    status, title, code = 502, "Bad Gateway", "stripe_error"


# --- request model ----------------------------------------------------------------------------------------------

PAID_PLANS: tuple[str, ...] = tuple(name for name in plans.PLAN_ORDER if plans.PLANS[name].price_cents > 0)


def _paid_plan(value: object) -> str:
    """A plan of :data:`odys.plans.PLANS` that can be bought (not ``free``).

    >>> _paid_plan(" Pro ")
    'pro'
    """
    name = value.strip().lower() if isinstance(value, str) else value
    if name not in PAID_PLANS:
        raise ValueError(f"choose one of the paid plans: {', '.join(PAID_PLANS)}")
    return name  # type: ignore[return-value]


class CheckoutRequest(ApiModel):
    """``POST /api/stripe/checkout`` body: ``{"plan": "basic" | "pro" | "premium"}``."""

    plan: Annotated[str, BeforeValidator(_paid_plan)]


# --- configuration ----------------------------------------------------------------------------------------------


def _app_url(path: str) -> str:
    base = config.env("APP_BASE_URL")
    if not base:
        raise BillingNotConfigured("APP_BASE_URL")
    return base.rstrip("/") + path


def checkout_urls() -> tuple[str, str]:
    """(success_url, cancel_url) for Checkout; Stripe fills in ``{CHECKOUT_SESSION_ID}``."""
    success = config.env("STRIPE_SUCCESS_URL") or _app_url(
        BILLING_PATH + "?checkout=success&session_id={CHECKOUT_SESSION_ID}")
    cancel = config.env("STRIPE_CANCEL_URL") or _app_url(BILLING_PATH + "?checkout=cancelled")
    return success, cancel


def portal_return_url() -> str:
    return config.env("STRIPE_PORTAL_RETURN_URL") or _app_url(BILLING_PATH)


def price_id(plan_name: str) -> str:
    """The configured Stripe price of a paid plan, or 503 ``billing_not_configured`` naming the variable."""
    price = plans.PLANS[plan_name].price_id  # type: ignore[index]
    if not price:
        raise BillingNotConfigured(f"STRIPE_PRICE_{plan_name.upper()}")
    return price


def plan_for_price(price: str | None) -> str | None:
    """The paid plan whose configured price id is ``price`` (None when no plan uses it)."""
    if not price:
        return None
    return next((name for name in PAID_PLANS if plans.PLANS[name].price_id == price), None)  # type: ignore[index]


_clients: dict[tuple[str, str | None, int, float], Any] = {}
_clients_lock = threading.Lock()


def _api_base() -> str | None:
    base = config.env("STRIPE_API_BASE")
    if base and base.rstrip("/") != STRIPE_API and not config.is_local():
        raise BillingNotConfigured("a valid STRIPE_API_BASE (only https://api.stripe.com outside dev/test)")
    return base.rstrip("/") if base else None


def client() -> StripeClient:
    """A ``StripeClient`` for the configured key and base (cached per process: it keeps its HTTP session)."""
    try:
        api_key = config.secret("STRIPE_SECRET_KEY")
    except config.ConfigurationError:
        raise BillingNotConfigured("STRIPE_SECRET_KEY") from None
    base = _api_base()
    retries = config.env_int("STRIPE_MAX_NETWORK_RETRIES", 0 if base else 2)
    timeout = float(config.env("STRIPE_TIMEOUT_SECONDS", "8") or 8)
    cache_key = (api_key or "", base, retries, timeout)
    with _clients_lock:
        if cache_key not in _clients:
            import stripe  # lazy: only the billing paths pay for the SDK

            kwargs: dict[str, Any] = {"max_network_retries": retries,
                                      "http_client": stripe.RequestsClient(timeout=(3.05, timeout))}
            if base:
                kwargs["base_addresses"] = {"api": base}
            _clients[cache_key] = stripe.StripeClient(api_key, **kwargs)
        return _clients[cache_key]


# --- error handling ---------------------------------------------------------------------------------------------


def _log_stripe_error(operation: str, error: StripeError) -> None:
    logger.warning("stripe request failed", extra={
        "operation": operation, "stripe_error": type(error).__name__, "http_status": error.http_status,
        "stripe_code": error.code, "stripe_request_id": error.request_id})


TRY_AGAIN = "The payment provider could not complete the request. Nothing was charged; please try again in a moment."


def _failure(operation: str, error: StripeError, detail: str | None) -> StripeFailure:
    """Log a Stripe error (without its message) and make the 502 to raise, outside the ``except`` block."""
    _log_stripe_error(operation, error)
    return StripeFailure(detail or TRY_AGAIN)


def call(operation: str, request: Callable[[], T], *, detail: str | None = None) -> T:
    """Run one Stripe request; a Stripe error becomes :class:`StripeFailure` (logged without its message)."""
    import stripe

    try:
        return request()
    except stripe.StripeError as error:
        failure = _failure(operation, error, detail)
    raise failure  # outside the except block: the Stripe exception (and its message) is not chained


# --- checkout ---------------------------------------------------------------------------------------------------


def deferred_trial_end(plan_name: str, trial_ends_at: dt.datetime | None, now: dt.datetime) -> int | None:
    """Epoch seconds to pass as ``subscription_data.trial_end``, or None to bill right away.

    The trial is a ``pro`` trial, so buying a plan it already covers (basic or pro) while it runs starts billing
    when it ends; premium adds features the trial lacks and bills at once. Stripe requires ``trial_end`` at least
    48 h ahead, so a trial with less than that left is not carried over (the first charge is immediate).

    >>> now = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    >>> deferred_trial_end("pro", now + dt.timedelta(days=10), now) == int((now + dt.timedelta(days=10)).timestamp())
    True
    >>> deferred_trial_end("pro", now + dt.timedelta(hours=47), now) is None
    True
    >>> deferred_trial_end("premium", now + dt.timedelta(days=10), now) is None
    True
    """
    if trial_ends_at is None or plans.PLAN_ORDER.index(plan_name) > plans.PLAN_ORDER.index(plans.TRIAL_PLAN):  # type: ignore[arg-type]
        return None
    if trial_ends_at - now < TRIAL_END_MIN_LEAD:
        return None
    return int(trial_ends_at.timestamp())


def checkout_params(professional: dict[str, Any], plan_name: str, *,
                    now: dt.datetime | None = None) -> dict[str, Any]:
    """The ``checkout.sessions.create`` parameters for ``professional`` buying ``plan_name``, but the ``customer``.

    Raises :class:`BillingNotConfigured` (price first, then the redirect URLs) before anything reaches Stripe.
    """
    now = now or dt.datetime.now(dt.timezone.utc)
    price = price_id(plan_name)
    success_url, cancel_url = checkout_urls()
    metadata = {"professionalId": str(professional["id"]), "plan": plan_name}
    subscription_data: dict[str, Any] = {"metadata": dict(metadata)}
    trial_end = deferred_trial_end(plan_name, professional.get("trial_ends_at"), now)
    if trial_end is not None:
        subscription_data["trial_end"] = trial_end
    return {
        "mode": "subscription",
        "payment_method_types": ["card"],
        "line_items": [{"price": price, "quantity": 1}],
        "success_url": success_url,
        "cancel_url": cancel_url,
        "client_reference_id": str(professional["id"]),
        "metadata": metadata,
        "subscription_data": subscription_data,
        "locale": "pt-BR",
    }


def _customer_params(professional: dict[str, Any]) -> dict[str, Any]:
    return {"email": professional["email"], "name": professional["name"],
            "metadata": {"professionalId": str(professional["id"])}, "preferred_locales": ["pt-BR"]}


def ensure_customer(stripe_client: StripeClient, professional: dict[str, Any]) -> str:
    """The professional's Stripe customer id, creating the customer the first time (once, even under races).

    Two concurrent first checkouts send the same idempotency key (professional id + a digest of the parameters),
    so Stripe creates one customer and answers both; the id is stored only where none is stored yet, and the
    stored one always wins.
    """
    from odys.store import billing as store

    if professional.get("stripe_customer_id"):
        return professional["stripe_customer_id"]
    params = _customer_params(professional)
    digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]
    customer = call("customers.create", lambda: stripe_client.v1.customers.create(
        params=params, options={"idempotency_key": f"odys-customer-{professional['id']}-{digest}"}))
    stored = store.link_customer(str(professional["id"]), customer.id)
    if stored != customer.id:
        logger.warning("stripe customer created concurrently; keeping the stored one",
                       extra={"professional_id": str(professional["id"])})
    return stored or customer.id


def _subscription_exists() -> Conflict:
    return Conflict("subscription_exists", "You already have a subscription. Change plan or payment method in "
                    "the billing portal (POST /api/stripe/portal).")


def checkout(professional: dict[str, Any], data: CheckoutRequest,
             now: dt.datetime | None = None) -> dict[str, str]:
    """A Checkout Session (subscription mode) for ``professional`` buying ``data.plan``: ``{url, sessionId}``.

    The professional's previous session is expired before the new one is opened (502 if Stripe cannot expire it:
    nothing new is opened); if it was paid already, 409 ``subscription_exists``. A session displaced by a
    concurrent checkout is expired after the fact, so only the newest stays open.
    """
    from odys.store import billing as store

    if professional.get("stripe_subscription_id"):
        raise _subscription_exists()
    # parameters first: nothing is created at Stripe when a price or a redirect URL is not configured
    params = checkout_params(professional, data.plan, now=now)
    stripe_client = client()
    params["customer"] = ensure_customer(stripe_client, professional)
    pid = str(professional["id"])
    previous = professional.get("stripe_checkout_session_id")
    if previous and expire_checkout(stripe_client, previous):
        logger.info("checkout refused: the previous session was just paid", extra={"professional_id": pid})
        raise _subscription_exists()
    session = call("checkout.sessions.create", lambda: stripe_client.v1.checkout.sessions.create(params=params))
    stored = store.replace_checkout_session(pid, session.id)
    if stored is None:  # the account was deleted meanwhile: its session must not stay payable
        expire_checkout(stripe_client, session.id)
        raise NotFound("professional")
    if stored["replaced"] not in (None, previous):
        _expire_displaced(stripe_client, pid, stored["replaced"])
    logger.info("checkout session created", extra={"professional_id": pid, "plan": data.plan,
                                                    "deferred_to_trial_end": "trial_end" in params["subscription_data"]})
    return {"url": session.url, "sessionId": session.id}


def _expire_displaced(stripe_client: StripeClient, professional_id: str, session_id: str) -> None:
    """Expire the session of a concurrent checkout. The caller's own session is fine, so a failure is only logged
    (were both paid, the webhook cancels one of the two subscriptions)."""
    try:
        expire_checkout(stripe_client, session_id)
    except StripeFailure:
        logger.warning("concurrent checkout session left open", extra={"professional_id": professional_id})


def expire_checkout(stripe_client: StripeClient, session_id: str, *, detail: str | None = None) -> str | None:
    """Make sure a Checkout session can no longer be paid.

    Returns None when it is expired (now or earlier) or unknown to Stripe, and the subscription id when it was
    completed already and that subscription has not ended (someone paid it a moment ago). Raises
    :class:`StripeFailure` (502, with ``detail``) when Stripe cannot tell.
    """
    import stripe

    try:
        stripe_client.v1.checkout.sessions.expire(session_id)
        logger.info("stripe checkout session expired", extra={"stripe_checkout_session_id": session_id})
        return None
    except stripe.InvalidRequestError as error:
        if error.http_status == 404 and error.code == "resource_missing":
            return None
        # 400 "Only Checkout Sessions with a status in ["open"] can be expired": see below what became of it
        failure = None if error.http_status == 400 else _failure("checkout.sessions.expire", error, detail)
    except stripe.StripeError as error:
        failure = _failure("checkout.sessions.expire", error, detail)
    if failure is not None:  # raised outside the except block: Stripe's exception (and message) is not chained
        raise failure
    session = call("checkout.sessions.retrieve", lambda: stripe_client.v1.checkout.sessions.retrieve(
        session_id, params={"expand": ["subscription"]}), detail=detail)
    if session.status == "open":
        logger.warning("stripe refused to expire an open checkout session",
                       extra={"stripe_checkout_session_id": session_id})
        raise StripeFailure(detail or TRY_AGAIN)
    subscription = session.subscription if session.status == "complete" else None
    if subscription is None:
        return None
    if isinstance(subscription, str):  # not expanded: assume it lives (cancelling an ended one is harmless)
        return subscription
    return None if subscription.status in ENDED_STATUSES else subscription.id


# --- portal -----------------------------------------------------------------------------------------------------


def portal(professional: dict[str, Any]) -> dict[str, str]:
    """A customer-portal session for the professional's Stripe customer: ``{url}`` (409 when there is none yet)."""
    customer_id = professional.get("stripe_customer_id")
    if not customer_id:
        raise Conflict("no_billing_customer", "There is no billing account yet: subscribe to a plan first "
                       "(POST /api/stripe/checkout).")
    params = {"customer": customer_id, "return_url": portal_return_url(), "locale": "pt-BR"}
    stripe_client = client()
    session = call("billing_portal.sessions.create",
                   lambda: stripe_client.v1.billing_portal.sessions.create(params=params))
    return {"url": session.url}


# --- cancellation -----------------------------------------------------------------------------------------------


DELETION_FAILED = ("The subscription could not be cancelled at the payment provider, so nothing was deleted. "
                   "Please try again in a moment.")


def stop_billing(professional_id: str) -> None:
    """Before a professional is deleted: no Checkout session of theirs stays payable and no subscription bills.

    Call it inside the deletion's transaction: it locks the professional's row, so no checkout or webhook can
    store a new session or subscription between these steps and the deletion. Expires the open session (and
    cancels the subscription it started, if it was paid a moment ago), then cancels the subscription on file.
    Raises :class:`StripeFailure` (502) on any failure, so the caller deletes nothing. Without a session or a
    subscription, Stripe is not called.
    """
    from odys.store import billing as store

    state = store.lock_professional(professional_id=professional_id) or {}
    subscriptions = [state.get("stripe_subscription_id")]
    if state.get("stripe_checkout_session_id"):
        subscriptions.append(expire_checkout(client(), state["stripe_checkout_session_id"], detail=DELETION_FAILED))
    for subscription_id in dict.fromkeys(s for s in subscriptions if s):
        cancel_subscription(subscription_id, detail=DELETION_FAILED)


def cancel_subscription(subscription_id: str, *, detail: str | None = None) -> None:
    """Cancel a subscription now. Already gone or already canceled counts as done, so it can be repeated.

    Raises :class:`StripeFailure` (502, with ``detail``) on any other Stripe error.
    """
    import stripe

    stripe_client = client()
    detail = detail or "The subscription could not be cancelled at the payment provider. Please try again."
    try:
        stripe_client.v1.subscriptions.cancel(subscription_id)
        logger.info("stripe subscription cancelled", extra={"stripe_subscription_id": subscription_id})
        return
    except stripe.InvalidRequestError as error:
        if error.http_status == 404 and error.code == "resource_missing":
            logger.info("stripe subscription already gone", extra={"stripe_subscription_id": subscription_id})
            return
        _log_stripe_error("subscriptions.cancel", error)
        refused = error.http_status == 400
    except stripe.StripeError as error:
        _log_stripe_error("subscriptions.cancel", error)
        refused = False
    if refused:  # e.g. "a canceled subscription can only update ...": look before giving up
        current = call("subscriptions.retrieve", lambda: stripe_client.v1.subscriptions.retrieve(subscription_id),
                       detail=detail)
        if current.status in ENDED_STATUSES:
            logger.info("stripe subscription already ended", extra={"stripe_subscription_id": subscription_id})
            return
    raise StripeFailure(detail)
