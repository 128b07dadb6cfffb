"""Named rate limits over Upstash Redis, with a per-instance in-memory fallback.

The six limits of SPEC "Rate limits (Upstash, 6)", the account export's own, and two ceilings on the public
bookings of one professional::

    name                    budget          keyed by
    booking                 5 / 10 min      client IP
    aichat                  20 / 1 h        professional
    api                     120 / 1 min     user
    public                  60 / 1 min      client IP
    billing                 10 / 1 h        professional
    messages                30 / 1 min      professional
    export                  10 / 1 h        user (GET /api/account/export: each one reads the whole practice)
    professional_bookings   30 / 1 h        professional (POST /api/booking, whatever the client IP)
    professional_bookings_daily  100 / 24 h professional

The per-professional ceilings stop a handful of addresses from filling an agenda (or a free plan's monthly quota)
with anonymous bookings; a solo practice's real clients stay far below them. They count **bookings made**, not
attempts: under the professional's row lock (so concurrent bookings of one professional take turns),
:func:`require_room` only looks (:func:`peek`, nothing counted) before the booking is tried, and :func:`record`
counts one unit of each once the booking is made, still under the lock. So failed or refused attempts (wrong
slot, 409, 422, 402) and idempotent replays cost nothing, nobody can close a professional's page by sending
invalid requests naming them, and a burst of bookings cannot overshoot the ceiling (a COMMIT failing after the
count over-counts one; an Upstash outage falls back to each instance's memory, as for every limit).

Usage::

    from odys import ratelimit

    decision = ratelimit.check("booking", "203.0.113.7")     # never raises for "over the limit"
    decision.allowed, decision.remaining, decision.headers()

    ratelimit.enforce("aichat", professional_id)              # raises RateLimited (429) when over

    ratelimit.peek("professional_bookings", professional_id)               # a Decision; counts nothing
    with agenda.for_professional(professional_id):                         # the professional's lock
        ratelimit.require_room(PROFESSIONAL_BOOKINGS, professional_id)     # 429 if one has nothing left
        ...                                                                # the booking
        ratelimit.record(PROFESSIONAL_BOOKINGS, professional_id)           # counted, once it is made

    app = APIGatewayHttpResolver()
    @app.post("/api/booking", middlewares=[ratelimit.middleware("booking")])      # by client IP
    @app.post("/api/messages", middlewares=[ratelimit.middleware("messages", by="user")])

Algorithm: **sliding window** (upstash-ratelimit ``SlidingWindow``). It counts requests in the current fixed
window plus the previous window's count weighted by how much of it still overlaps the sliding window. Unlike a
plain fixed window it does not allow a 2x burst across a window boundary, and it costs the same single ``EVAL``
per check (a peek is one ``MGET`` of the two windows' counters). ``reset_at`` is the end of the current fixed
window: by then the request is allowed again (possibly earlier, as the previous window's weight decays), so
``Retry-After`` is an honest upper bound.

Backend and failure handling:

* ``UPSTASH_REDIS_REST_URL`` + ``UPSTASH_REDIS_REST_TOKEN`` (the token may also come from the Secrets Manager
  bundle, see :func:`odys.config.secret`) select Upstash. The HTTP client is built lazily on the first check and
  cached per process; importing this module imports neither ``upstash_*`` nor ``httpx``.
* Each HTTP call has a short timeout, ``UPSTASH_TIMEOUT_SECONDS`` (default 0.75 s; applies to connect, read,
  write and pool acquisition each) and no retries. upstash-redis 1.8 has no timeout option (it builds
  ``httpx.Client(timeout=None)``), so the timeout is set on that client after construction.
* Any Upstash failure (unreachable, error reply, timeout) answers the check from an in-memory limiter running the
  same sliding-window rule, logs a warning (identifier as a sha256 prefix, never the token), and for
  ``UPSTASH_COOLDOWN_SECONDS`` (default 10 s) later checks go straight to memory instead of paying the timeout
  again. Every check answered that way increments :func:`fallback_count` and, when
  ``POWERTOOLS_METRICS_NAMESPACE`` is set, emits a ``RateLimitFallback`` EMF metric (dimension ``limit``).
  Logs go through the shared redacting logger, :mod:`odys.log`.
* Without any Upstash configuration (local dev) the in-memory limiter is used directly, logged once at info.

The in-memory limiter is per Lambda execution environment: during an outage each instance enforces the full
budget on its own. That is deliberately neither an outage nor unlimited traffic.
"""

from __future__ import annotations

import functools
import hashlib
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from odys import config, metrics
from odys.errors import RateLimited
from odys.log import logger

__all__ = [
    "LIMITS",
    "Decision",
    "Limit",
    "PROFESSIONAL_BOOKINGS",
    "check",
    "enforce",
    "fallback_count",
    "merge_headers",
    "middleware",
    "peek",
    "record",
    "request_decision",
    "require_room",
    "reset_for_tests",
]

KEY_PREFIX = "odys:rl"
DEFAULT_TIMEOUT_SECONDS = 0.75
DEFAULT_COOLDOWN_SECONDS = 10.0
_MEMORY_PRUNE_THRESHOLD = 10_000  # entries; expired ones are swept once the table grows past this


@dataclass(frozen=True)
class Limit:
    """A named budget: at most ``max_requests`` per ``window_seconds`` per identifier.

    >>> LIMITS["booking"].prefix
    'odys:rl:booking'
    """

    name: str
    max_requests: int
    window_seconds: int

    @functools.cached_property
    def prefix(self) -> str:
        """Redis key prefix; one per limit, because SlidingWindow keys are ``prefix:id:window_index``."""
        return f"{KEY_PREFIX}:{self.name}"


LIMITS: dict[str, Limit] = {
    limit.name: limit
    for limit in (
        Limit("booking", 5, 10 * 60),  # client IP
        Limit("aichat", 20, 60 * 60),  # professional
        Limit("api", 120, 60),  # user
        Limit("public", 60, 60),  # client IP
        Limit("billing", 10, 60 * 60),  # professional
        Limit("messages", 30, 60),  # professional
        Limit("export", 10, 60 * 60),  # user: an account export reads the whole practice (seconds of database)
        Limit("professional_bookings", 30, 60 * 60),  # professional: public bookings, from any IP
        Limit("professional_bookings_daily", 100, 24 * 60 * 60),  # professional: public bookings, from any IP
    )
}
PROFESSIONAL_BOOKINGS = ("professional_bookings", "professional_bookings_daily")


def _clock() -> float:
    """Current time in epoch seconds (indirection so tests can freeze it)."""
    return time.time()


class Decision(NamedTuple):  # a tuple: built on every request, ~4x cheaper than a frozen dataclass
    """The outcome of one check.

    ``reset_at`` is epoch seconds; ``retry_after`` is whole seconds (0 when allowed, >= 1 when refused);
    ``source`` says who decided: ``"upstash"`` or ``"memory"``.

    >>> Decision(False, 5, 0, reset_at=1_000.0, retry_after=30).headers(now=970.2)
    {'RateLimit-Limit': '5', 'RateLimit-Remaining': '0', 'RateLimit-Reset': '30', 'Retry-After': '30'}
    >>> Decision(True, 5, 4, reset_at=1_000.0, retry_after=0).headers(now=999.5)
    {'RateLimit-Limit': '5', 'RateLimit-Remaining': '4', 'RateLimit-Reset': '1'}
    """

    allowed: bool
    limit: int
    remaining: int
    reset_at: float
    retry_after: int
    source: str = "upstash"

    def headers(self, now: float | None = None) -> dict[str, str]:
        """``RateLimit-Limit``/``-Remaining``/``-Reset`` (seconds until reset) and, if refused, ``Retry-After``."""
        seconds = max(0, math.ceil(self.reset_at - (_clock() if now is None else now)))
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(max(0, self.remaining)),
            "RateLimit-Reset": str(max(seconds, self.retry_after) if not self.allowed else seconds),
        }
        if not self.allowed:
            headers["Retry-After"] = str(max(1, self.retry_after))
        return headers


def _decision(allowed: bool, limit: int, remaining: int, reset_at: float, source: str) -> Decision:
    retry_after = 0 if allowed else max(1, math.ceil(reset_at - _clock()))
    return Decision(allowed, limit, max(0, remaining), reset_at, retry_after, source)


class _MemoryLimiter:
    """The same sliding-window rule as upstash-ratelimit's Lua script, in process memory; :meth:`peek` is its
    ``get_remaining`` (the same counts, nothing written).

    >>> m = _MemoryLimiter()
    >>> [m.hit(Limit("t", 2, 60), "x", now_ms=30_000).allowed for _ in range(3)]
    [True, True, False]
    >>> m.peek(Limit("t", 2, 60), "y", now_ms=30_000).remaining, m.peek(Limit("t", 2, 60), "x", now_ms=30_000).allowed
    (2, False)
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # key -> (window index, count in that window, count in the window before it, expiry ms)
        self._windows: dict[str, tuple[int, int, int, int]] = {}

    def hit(self, limit: Limit, identifier: str, now_ms: int | None = None) -> Decision:
        """Count one request if there is room (like the Lua script); ``remaining`` is what is left after it."""
        return self._answer(limit, identifier, now_ms, count=True)

    def peek(self, limit: Limit, identifier: str, now_ms: int | None = None) -> Decision:
        """Whether one more request would be allowed, counting nothing; ``remaining`` is what is left now."""
        return self._answer(limit, identifier, now_ms, count=False)

    def _answer(self, limit: Limit, identifier: str, now_ms: int | None, count: bool) -> Decision:
        now = int(_clock() * 1000) if now_ms is None else now_ms
        window = limit.window_seconds * 1000
        index = now // window
        key = f"{limit.prefix}:{identifier}"
        with self._lock:
            current, previous = self._counts(key, index)
            weighted_previous = math.floor((1 - (now % window) / window) * previous)
            allowed = weighted_previous + current < limit.max_requests
            if count:
                if allowed:
                    current += 1
                self._windows[key] = (index, current, previous, (index + 2) * window)
                if len(self._windows) > _MEMORY_PRUNE_THRESHOLD:
                    self._prune(now)
        remaining = limit.max_requests - (current + weighted_previous) if allowed else 0
        return _decision(allowed, limit.max_requests, remaining, (index + 1) * window / 1000, "memory")

    def _counts(self, key: str, index: int) -> tuple[int, int]:
        stored = self._windows.get(key)
        if stored is None:
            return 0, 0
        if stored[0] == index:
            return stored[1], stored[2]
        if stored[0] == index - 1:
            return 0, stored[1]
        return 0, 0

    def _prune(self, now_ms: int) -> None:
        for key in [k for k, v in self._windows.items() if v[3] <= now_ms]:
            del self._windows[key]

    def clear(self) -> None:
        with self._lock:
            self._windows.clear()


class _State:
    """Per-process cache: Upstash clients (built lazily), the memory limiter and failure bookkeeping."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.configured: bool | None = None  # None = not looked at yet
        self.redis: Any = None
        self.limiters: dict[str, Any] = {}
        self.token: str = ""
        self.memory = _MemoryLimiter()
        self.fallbacks = 0
        self.cooldown_until = 0.0


_state = _State()


def _hash_id(identifier: str) -> str:
    """A short stable pseudonym for logs.

    >>> _hash_id("203.0.113.7")
    'fec52565aa0c'
    """
    return hashlib.sha256(identifier.encode()).hexdigest()[:12]


def _float_env(name: str, default: float) -> float:
    try:
        return float(config.env(name) or default)
    except ValueError:
        return default


def _timeout_seconds() -> float:
    return _float_env("UPSTASH_TIMEOUT_SECONDS", DEFAULT_TIMEOUT_SECONDS)


def _build_redis(url: str, token: str) -> Any:
    """An upstash_redis client with no retries, no telemetry and a short HTTP timeout."""
    import httpx
    from upstash_redis import Redis

    redis = Redis(url=url, token=token, allow_telemetry=False, rest_retries=0, rest_retry_interval=0)
    # upstash-redis 1.8 hard-codes httpx.Client(timeout=None) in SyncHttpClient and offers no option for it.
    http_client = getattr(getattr(redis, "_http", None), "_client", None)
    if not isinstance(http_client, httpx.Client):
        raise RuntimeError("upstash_redis internals changed: cannot set the HTTP timeout")
    http_client.timeout = httpx.Timeout(_timeout_seconds())
    return redis


def _configure() -> bool:
    """Build the Upstash client once per process; False means "use the memory limiter" (not configured).

    Raises when the token cannot be fetched (Secrets Manager bundle) or the client cannot be built; nothing is
    cached then, so the caller falls back and tries again after the cooldown.
    """
    if _state.configured is not None:
        return _state.configured
    with _state.lock:
        if _state.configured is not None:
            return _state.configured
        url = config.env("UPSTASH_REDIS_REST_URL")
        token = config.secret("UPSTASH_REDIS_REST_TOKEN", required=False) if url else None
        if url and token:
            _state.redis = _build_redis(url, token)
            _state.token = token
            _state.configured = True
        else:
            if url:
                logger.warning("rate limiter: UPSTASH_REDIS_REST_URL set without a token, using in-memory limits")
            else:
                logger.info("rate limiter: Upstash not configured, using per-instance in-memory limits")
            _state.configured = False
        return _state.configured


def _upstash_limiter(limit: Limit) -> Any:
    """The cached ``Ratelimit`` for one named limit (its own key prefix)."""
    limiter = _state.limiters.get(limit.name)
    if limiter is None:
        from upstash_ratelimit import Ratelimit, SlidingWindow

        limiter = Ratelimit(
            redis=_state.redis,
            limiter=SlidingWindow(max_requests=limit.max_requests, window=limit.window_seconds, unit="s"),
            prefix=limit.prefix,
        )
        _state.limiters[limit.name] = limiter
    return limiter


def _redact(text: str) -> str:
    return text.replace(_state.token, "***") if _state.token else text


def _memory(limit: Limit, identifier: str, count: bool) -> Decision:
    return _state.memory.hit(limit, identifier) if count else _state.memory.peek(limit, identifier)


def _fallback(limit: Limit, identifier: str, error: BaseException | None, count: bool = True) -> Decision:
    """Answer from memory after an Upstash failure (``error``) or during the cooldown that follows one."""
    with _state.lock:
        _state.fallbacks += 1
        if error is not None:
            _state.cooldown_until = time.monotonic() + _float_env("UPSTASH_COOLDOWN_SECONDS", DEFAULT_COOLDOWN_SECONDS)
    if error is not None:
        logger.warning(
            "rate limiter: Upstash failed, using in-memory fallback",
            extra={
                "limit": limit.name,
                "identifier_sha256": _hash_id(identifier),
                "error_type": type(error).__name__,
                "error": _redact(str(error))[:200],
            },
        )
    metrics.count("RateLimitFallback", limit=limit.name)
    return _memory(limit, identifier, count)


RELAXED_FACTOR = 1000


def _relaxed() -> bool:
    """``ODYS_RATE_LIMITS_RELAXED=1`` multiplies every budget by :data:`RELAXED_FACTOR` (the fuzzing run of
    ``make test``); honoured only when ``ODYS_STAGE`` is dev or test, ignored anywhere else."""
    return config.env("ODYS_RATE_LIMITS_RELAXED") == "1" and config.is_local()


def _limit_for(name: str) -> Limit:
    try:
        limit = LIMITS[name]
    except KeyError:
        raise ValueError(f"unknown rate limit {name!r}; known: {', '.join(LIMITS)}") from None
    if _relaxed():
        return Limit(limit.name, limit.max_requests * RELAXED_FACTOR, limit.window_seconds)
    return limit


def check(name: str, identifier: str) -> Decision:
    """Count one request against limit ``name`` for ``identifier`` and say whether it may proceed.

    Never raises for an exhausted budget or an Upstash outage; raises ValueError for an unknown ``name``.
    An empty identifier is counted under ``"unknown"`` (one shared, conservative bucket).

    >>> d = check("booking", "203.0.113.7")      # doctest: +SKIP
    >>> d.allowed, d.limit, d.remaining         # doctest: +SKIP
    (True, 5, 4)
    """
    return _answer(_limit_for(name), identifier, count=True)


def peek(name: str, identifier: str) -> Decision:
    """Whether one more request of limit ``name`` would be allowed for ``identifier`` now, counting nothing.

    ``remaining`` is what is left before that request (``allowed`` means ``remaining > 0``); a refusal has
    ``retry_after`` like :func:`check`. Upstash answers it with upstash-ratelimit's ``get_remaining`` (one
    ``MGET``) and ``get_reset`` (no call); failures fall back to memory exactly as in :func:`check`.

    >>> d = peek("professional_bookings", "pro_123")      # doctest: +SKIP
    >>> d.allowed, d.limit, d.remaining                   # doctest: +SKIP
    (True, 30, 30)
    """
    return _answer(_limit_for(name), identifier, count=False)


def _upstash_decision(limit: Limit, identifier: str, count: bool) -> Decision:
    limiter = _upstash_limiter(limit)
    if count:
        response = limiter.limit(identifier)
        allowed, remaining, reset = bool(response.allowed), int(response.remaining), float(response.reset)
    else:
        remaining = int(limiter.get_remaining(identifier))
        allowed, reset = remaining > 0, float(limiter.get_reset(identifier))
    return _decision(allowed, limit.max_requests, remaining, reset, "upstash")


def _answer(limit: Limit, identifier: str, count: bool) -> Decision:
    """:func:`check` (``count``) or :func:`peek`: Upstash, else (not configured, failing, cooling down) memory."""
    identifier = identifier or "unknown"
    if time.monotonic() < _state.cooldown_until:
        return _fallback(limit, identifier, None, count)
    try:
        configured = _configure()
    except Exception as exc:  # token unavailable, client cannot be built
        return _fallback(limit, identifier, exc, count)
    if not configured:
        return _memory(limit, identifier, count)
    try:
        return _upstash_decision(limit, identifier, count)
    except Exception as exc:  # unreachable, timeout, error reply, bad JSON: all mean "decide locally"
        return _fallback(limit, identifier, exc, count)


def enforce(name: str, identifier: str) -> Decision:
    """Like :func:`check`, but raise :class:`~odys.errors.RateLimited` (429) when the request is refused.

    The exception carries ``Retry-After`` and ``RateLimit-*`` headers for the problem response.

    >>> enforce("billing", "pro_123").remaining  # doctest: +SKIP
    9
    """
    decision = check(name, identifier)
    if not decision.allowed:
        raise _refused(decision)
    return decision


def _refused(decision: Decision) -> RateLimited:
    return RateLimited(detail=f"Too many requests. Try again in {decision.retry_after} seconds.",
                       headers=decision.headers())


def require_room(names: tuple[str, ...], identifier: str) -> Decision:
    """:func:`peek` each limit of ``names`` in turn and raise :class:`~odys.errors.RateLimited` (429, with
    ``Retry-After`` and ``RateLimit-*``) for the first with nothing left. Counts nothing: pair it with
    :func:`record` once the thing limited is done. Returns the tightest decision.

    >>> require_room(PROFESSIONAL_BOOKINGS, professional_id).remaining  # doctest: +SKIP
    30
    """
    decisions = []
    for name in names:
        decision = peek(name, identifier)
        if not decision.allowed:
            raise _refused(decision)
        decisions.append(decision)
    return min(decisions, key=lambda d: d.remaining)


def record(names: tuple[str, ...], identifier: str) -> list[Decision]:
    """Count one unit of each limit of ``names`` for ``identifier`` (:func:`check`; a full window stays full).

    >>> [d.remaining for d in record(PROFESSIONAL_BOOKINGS, professional_id)]  # doctest: +SKIP
    [29, 99]
    """
    return [check(name, identifier) for name in names]


def fallback_count() -> int:
    """How many checks this process answered from memory because Upstash failed (or was cooling down)."""
    return _state.fallbacks


def _caller_identity(app: Any, by: Literal["ip", "user"]) -> str:
    """``app.context["user_id"]`` when ``by="user"`` and present, else the HTTP API v2 source IP."""
    if by == "user":
        user_id = app.context.get("user_id")
        if user_id:
            return str(user_id)
    try:
        return str(app.current_event.request_context.http.source_ip or "unknown")
    except (AttributeError, KeyError, TypeError):
        return "unknown"


_CONTEXT_KEY = "rate_limit_decision"


def merge_headers(headers: dict[str, Any], decision: Decision | None) -> None:
    """Add ``decision``'s RateLimit-* (and Retry-After) to ``headers`` unless they already hold a limit with as few
    remaining requests or fewer: with nested limits the tighter one wins.

    >>> h = {}; merge_headers(h, Decision(True, 5, 4, reset_at=1e12, retry_after=0)); h["RateLimit-Remaining"]
    '4'
    >>> merge_headers(h, Decision(True, 60, 59, reset_at=1e12, retry_after=0)); h["RateLimit-Limit"]
    '5'
    """
    if decision is None:
        return
    existing = headers.get("RateLimit-Remaining")
    if isinstance(existing, str) and existing.isdigit() and int(existing) <= decision.remaining:
        return
    headers.update(decision.headers())


def request_decision(app: Any) -> Decision | None:
    """The decision the rate-limit middleware made for the request being resolved (None on a route without one).

    The resolver's error handlers (:func:`odys.http.create_app`) add its headers to problem responses, so a
    rate-limited route carries RateLimit-* on every answer, errors included.
    """
    decision = app.context.get(_CONTEXT_KEY)
    return decision if isinstance(decision, Decision) else None


def middleware(name: str, by: Literal["ip", "user"] = "ip") -> Callable[[Any, Callable[[Any], Any]], Any]:
    """A Powertools resolver middleware enforcing limit ``name`` per client IP or per user.

    ``by="user"`` uses ``app.context["user_id"]`` (set by the auth middleware, which must run first) and falls
    back to the client IP. When refused, :class:`~odys.errors.RateLimited` propagates to the resolver's
    exception handler; otherwise the route runs and RateLimit-* headers are added to its response. The decision
    is also kept in ``app.context`` (:func:`request_decision`) for the error handlers, so that a route's problem
    responses carry the same headers.

    >>> app.get("/api/public/slots", middlewares=[middleware("public")])        # doctest: +SKIP
    >>> app.use([auth_middleware, middleware("api", by="user")])                  # doctest: +SKIP
    """
    _limit_for(name)  # fail at wiring time, not on the first request
    if by not in ("ip", "user"):
        raise ValueError(f"by must be 'ip' or 'user', not {by!r}")

    def rate_limit(app: Any, next_middleware: Any) -> Any:
        decision = check(name, _caller_identity(app, by))
        recorded = request_decision(app)
        if recorded is None or decision.remaining < recorded.remaining:  # nested limits: keep the tighter one
            app.context[_CONTEXT_KEY] = decision
        if not decision.allowed:
            raise _refused(decision)
        response = next_middleware(app)
        if isinstance(getattr(response, "headers", None), dict):
            merge_headers(response.headers, decision)
        return response

    rate_limit.__name__ = rate_limit.__qualname__ = f"rate_limit_{name}_by_{by}"
    return rate_limit


def reset_for_tests() -> None:
    """Forget cached clients, configuration, in-memory counts, the cooldown and the fallback counter."""
    with _state.lock:
        if _state.redis is not None:
            try:
                _state.redis.close()
            except Exception:
                pass
        _state.configured = None
        _state.redis = None
        _state.limiters.clear()
        _state.token = ""
        _state.memory.clear()
        _state.fallbacks = 0
        _state.cooldown_until = 0.0
