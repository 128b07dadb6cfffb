"""Stripe subscriptions (professional -> Odys): Checkout, the customer portal, and cancellation.

    billing.checkout(user_id, billing.CheckoutRequest(plan="pro"))   # -> {"url": "https://checkout...", "sessionId": "cs_..."}
    billing.portal(user_id)                                           # -> {"url": "https://billing.stripe.com/..."}
    billing.cancel_subscription("sub_123")                            # account deletion; a sub already gone is fine

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
from odys.errors import Conflict, Problem, ServiceUnavailable
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


def call(operation: str, request: Callable[[], T], *, detail: str | None = None) -> T:
    """Run one Stripe request; a Stripe error becomes :class:`StripeFailure` (logged without its message)."""
    import stripe

    try:
        return request()
    except stripe.StripeError as error:
        _log_stripe_error(operation, error)
        failure = StripeFailure(detail or "The payment provider could not complete the request. "
                                "Nothing was charged; please try again in a moment.")
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


def checkout(user_id: str, data: CheckoutRequest, now: dt.datetime | None = None) -> dict[str, str]:
    """A Checkout Session (subscription mode) for the caller buying ``data.plan``: ``{url, sessionId}``."""
    from odys import account

    professional = account.current(user_id)
    if professional.get("stripe_subscription_id"):
        raise Conflict("subscription_exists", "You already have a subscription. Change plan or payment method in "
                       "the billing portal (POST /api/stripe/portal).")
    # parameters first: nothing is created at Stripe when a price or a redirect URL is not configured
    params = checkout_params(professional, data.plan, now=now)
    stripe_client = client()
    params["customer"] = ensure_customer(stripe_client, professional)
    session = call("checkout.sessions.create", lambda: stripe_client.v1.checkout.sessions.create(params=params))
    logger.info("checkout session created", extra={"professional_id": str(professional["id"]), "plan": data.plan,
                                                    "deferred_to_trial_end": "trial_end" in params["subscription_data"]})
    return {"url": session.url, "sessionId": session.id}


# --- portal -----------------------------------------------------------------------------------------------------


def portal(user_id: str) -> dict[str, str]:
    """A customer-portal session for the caller's Stripe customer: ``{url}`` (409 when there is none yet)."""
    from odys import account

    professional = account.current(user_id)
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


def cancel_subscription(subscription_id: str) -> None:
    """Cancel a subscription now (account deletion). Already gone or already canceled counts as done.

    Raises :class:`StripeFailure` (502) on any other Stripe error, so the caller deletes nothing.
    """
    import stripe

    stripe_client = client()
    detail = "The subscription could not be cancelled at the payment provider, so nothing was deleted. " \
             "Please try again in a moment."
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
