"""odys.ratelimit against a real redis-server behind the Upstash REST double (devtools/upstash_double.py)."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis as redis_py

from devtools.upstash_double import RedisServer, UpstashDouble, start_redis_server
from odys import ratelimit
from odys.errors import RateLimited

TOKEN = "test-token-not-secret"
# 1 s after the start of a 10-min (booking) and of a 1-h window: checks are deterministic, never straddling windows.
FROZEN_NOW = 1_800_000_000 + 1.0


def _wait_for_redis_binary(timeout: float = 300.0) -> None:
    """redis-server may still be coming from a background apt-get (see /tmp/apt.log)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if shutil.which("redis-server") or os.access("/usr/bin/redis-server", os.X_OK):
            return
        try:
            with open("/tmp/apt.log") as log:
                if "APTDONE" in log.read():
                    return
        except OSError:
            return
        time.sleep(2)


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    _wait_for_redis_binary()
    server = start_redis_server()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def double(redis_server: RedisServer) -> Iterator[UpstashDouble]:
    upstash = UpstashDouble()
    upstash.start(redis_server.url, TOKEN)
    upstash.fail_delay = 3.0
    yield upstash
    upstash.stop()


@pytest.fixture()
def rdb(redis_server: RedisServer) -> Iterator[redis_py.Redis]:
    client = redis_py.Redis.from_url(redis_server.url, decode_responses=True)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture()
def upstash(double: UpstashDouble, rdb: redis_py.Redis, monkeypatch: pytest.MonkeyPatch) -> Iterator[UpstashDouble]:
    """odys.ratelimit configured for the double, with clean Redis and module state."""
    monkeypatch.setenv("UPSTASH_REDIS_REST_URL", double.url)
    monkeypatch.setenv("UPSTASH_REDIS_REST_TOKEN", TOKEN)
    monkeypatch.setenv("UPSTASH_TIMEOUT_SECONDS", "0.5")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "odys")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "Odys")
    monkeypatch.delenv("ODYS_SECRETS_ID", raising=False)
    double.fail_mode = None
    double.requests.clear()
    ratelimit.reset_for_tests()
    yield double
    double.fail_mode = None
    ratelimit.reset_for_tests()


@pytest.fixture()
def frozen(monkeypatch: pytest.MonkeyPatch) -> dict[str, float]:
    """Freeze both clocks (ours and upstash-ratelimit's); mutate ``clock["now"]`` to move time."""
    import upstash_ratelimit.limiter as upstash_limiter

    clock = {"now": FROZEN_NOW}
    monkeypatch.setattr(ratelimit, "_clock", lambda: clock["now"])
    monkeypatch.setattr(upstash_limiter, "now_ms", lambda: int(clock["now"] * 1000))
    return clock


def http_api_event(method: str = "POST", path: str = "/api/booking", source_ip: str = "203.0.113.7") -> dict[str, Any]:
    """A minimal but real API Gateway HTTP API (payload 2.0) event."""
    return {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"host": "api.odys.test", "user-agent": "pytest", "content-type": "application/json"},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "api",
            "domainName": "api.odys.test",
            "domainPrefix": "api",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": "pytest",
            },
            "requestId": "req-1",
            "routeKey": f"{method} {path}",
            "stage": "$default",
            "time": "21/Nov/2025:16:31:00 +0000",
            "timeEpoch": 1763742660000,
        },
        "isBase64Encoded": False,
        "body": None,
    }


def lower_keys(headers: dict[str, Any]) -> dict[str, Any]:
    return {k.lower(): v for k, v in headers.items()}


# --- the table --------------------------------------------------------------------------------------------


def test_limits_match_the_spec() -> None:
    table = {name: (lim.max_requests, lim.window_seconds) for name, lim in ratelimit.LIMITS.items()}
    assert table == {
        "booking": (5, 600),
        "aichat": (20, 3600),
        "api": (120, 60),
        "public": (60, 60),
        "billing": (10, 3600),
        "messages": (30, 60),
        "professional_bookings": (30, 3600),  # public bookings of one professional, from any IP
        "professional_bookings_daily": (100, 86400),
        "export": (10, 3600),  # not in SPEC's table: the account export reads the whole practice
    }
    assert ratelimit.PROFESSIONAL_BOOKINGS == ("professional_bookings", "professional_bookings_daily")
    assert len({lim.prefix for lim in ratelimit.LIMITS.values()}) == 9
    with pytest.raises(ValueError, match="unknown rate limit"):
        ratelimit.check("nope", "x")


def test_import_is_cheap() -> None:
    heavy = ("upstash_redis", "upstash_ratelimit", "httpx")
    code = f"import sys, odys.ratelimit; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    shared = str(Path(__file__).resolve().parents[2] / "layers" / "shared")
    env = {**os.environ, "PYTHONPATH": shared}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "[]"


# --- Upstash path -----------------------------------------------------------------------------------------


def test_sixth_booking_request_from_one_ip_is_refused(upstash: UpstashDouble, frozen: dict[str, float]) -> None:
    decisions = [ratelimit.check("booking", "203.0.113.7") for _ in range(6)]
    assert [d.allowed for d in decisions] == [True] * 5 + [False]
    assert [d.remaining for d in decisions] == [4, 3, 2, 1, 0, 0]
    assert {d.source for d in decisions} == {"upstash"}
    refused = decisions[-1]
    assert refused.retry_after == 599 and refused.reset_at == FROZEN_NOW - 1 + 600
    assert refused.headers() == {
        "RateLimit-Limit": "5",
        "RateLimit-Remaining": "0",
        "RateLimit-Reset": "599",
        "Retry-After": "599",
    }
    assert decisions[0].headers() == {"RateLimit-Limit": "5", "RateLimit-Remaining": "4", "RateLimit-Reset": "599"}
    assert ratelimit.fallback_count() == 0


def test_refused_until_the_window_has_moved_on(upstash: UpstashDouble, frozen: dict[str, float]) -> None:
    for _ in range(5):
        ratelimit.check("booking", "198.51.100.1")
    frozen["now"] += 598
    assert not ratelimit.check("booking", "198.51.100.1").allowed
    frozen["now"] += 2  # 1 s into the next window: the old window weighs 599/600 of 5 -> floor 4
    later = ratelimit.check("booking", "198.51.100.1")
    assert later.allowed and later.remaining == 0


def test_wire_format_uses_eval_without_telemetry(upstash: UpstashDouble) -> None:
    ratelimit.check("public", "203.0.113.9")
    path, body, headers = upstash.requests[-1]
    assert path == "/" and body[0].upper() == "EVAL" and body[3].startswith("odys:rl:public:203.0.113.9:")
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert not any(h.lower().startswith("upstash-telemetry") for h in headers)


def test_separate_identifiers_have_separate_budgets(upstash: UpstashDouble, frozen: dict[str, float]) -> None:
    for _ in range(5):
        assert ratelimit.check("booking", "203.0.113.1").allowed
    assert not ratelimit.check("booking", "203.0.113.1").allowed
    other = ratelimit.check("booking", "203.0.113.2")
    assert other.allowed and other.remaining == 4


def test_separate_limits_do_not_share_keys(
    upstash: UpstashDouble, frozen: dict[str, float], rdb: redis_py.Redis
) -> None:
    for _ in range(10):
        assert ratelimit.check("billing", "pro_1").allowed
    assert not ratelimit.check("billing", "pro_1").allowed
    aichat = ratelimit.check("aichat", "pro_1")  # same identifier, same (1 h) window: different budget
    assert aichat.allowed and aichat.remaining == 19
    window = int(FROZEN_NOW * 1000) // 3_600_000
    assert rdb.get(f"odys:rl:billing:pro_1:{window}") == "10"
    assert rdb.get(f"odys:rl:aichat:pro_1:{window}") == "1"


def test_keys_land_in_real_redis_with_the_prefix_and_expire(upstash: UpstashDouble, rdb: redis_py.Redis) -> None:
    ratelimit.check("messages", "pro_42")
    keys = rdb.keys("odys:rl:messages:pro_42:*")
    assert len(keys) == 1
    assert 0 < rdb.pttl(keys[0]) <= (2 * 60 + 1) * 1000


def test_enforce_raises_rate_limited_with_headers(upstash: UpstashDouble, frozen: dict[str, float]) -> None:
    for expected_remaining in (4, 3, 2, 1, 0):
        assert ratelimit.enforce("booking", "192.0.2.10").remaining == expected_remaining
    with pytest.raises(RateLimited) as caught:
        ratelimit.enforce("booking", "192.0.2.10")
    problem = caught.value
    assert problem.status == 429 and problem.code == "rate_limited"
    assert problem.headers == {
        "RateLimit-Limit": "5",
        "RateLimit-Remaining": "0",
        "RateLimit-Reset": "599",
        "Retry-After": "599",
    }
    assert "599 seconds" in problem.detail


# --- peek, require_room, record: the per-professional ceilings count what was done, not what was tried ----------


def test_peek_counts_nothing_and_sees_what_check_counted(
    upstash: UpstashDouble, frozen: dict[str, float], rdb: redis_py.Redis
) -> None:
    fresh = ratelimit.peek("professional_bookings", "pro_1")
    assert (fresh.allowed, fresh.limit, fresh.remaining, fresh.source) == (True, 30, 30, "upstash")
    assert [ratelimit.peek("professional_bookings", "pro_1").remaining for _ in range(40)] == [30] * 40
    assert rdb.keys("odys:rl:professional_bookings:*") == []  # peeking wrote nothing
    path, body, _ = upstash.requests[-1]
    window = int(FROZEN_NOW * 1000) // 3_600_000
    assert path == "/" and body == ["MGET", f"odys:rl:professional_bookings:pro_1:{window}",
                                    f"odys:rl:professional_bookings:pro_1:{window - 1}"]
    for _ in range(29):
        ratelimit.check("professional_bookings", "pro_1")
    assert ratelimit.peek("professional_bookings", "pro_1").remaining == 1
    assert ratelimit.check("professional_bookings", "pro_1").allowed  # the 30th
    full = ratelimit.peek("professional_bookings", "pro_1")
    assert (full.allowed, full.remaining, full.retry_after, full.reset_at) == (False, 0, 3599, FROZEN_NOW - 1 + 3600)
    assert full.headers() == {"RateLimit-Limit": "30", "RateLimit-Remaining": "0", "RateLimit-Reset": "3599",
                              "Retry-After": "3599"}
    assert rdb.get(f"odys:rl:professional_bookings:pro_1:{window}") == "30"
    frozen["now"] += 3600 + 1799  # exactly half-way through the next hour the old one weighs 50%: 15 left
    assert ratelimit.peek("professional_bookings", "pro_1").remaining == 15
    assert ratelimit.fallback_count() == 0


def test_memory_peek_matches_the_upstash_sliding_window() -> None:
    memory = ratelimit._MemoryLimiter()
    limit = ratelimit.Limit("t", 10, 60)
    assert memory.peek(limit, "x", now_ms=59_000).remaining == 10
    for _ in range(10):
        memory.hit(limit, "x", now_ms=59_000)
    full = memory.peek(limit, "x", now_ms=59_000)
    assert (full.allowed, full.remaining, full.source, full.reset_at) == (False, 0, "memory", 60.0)
    halfway = memory.peek(limit, "x", now_ms=90_000)  # the previous window weighs 50%
    assert (halfway.allowed, halfway.remaining) == (True, 5)
    assert [memory.peek(limit, "x", now_ms=90_000).remaining for _ in range(3)] == [5, 5, 5]  # nothing counted
    assert memory.hit(limit, "x", now_ms=90_000).remaining == 4


@pytest.mark.parametrize("mode", ["error", "timeout"])
def test_peek_falls_back_to_memory_like_check(upstash: UpstashDouble, frozen: dict[str, float], mode: str) -> None:
    ratelimit.check("professional_bookings", "pro_2")  # counted in Upstash, invisible to memory
    upstash.fail_mode = mode  # type: ignore[assignment]
    started = time.monotonic()
    first = ratelimit.peek("professional_bookings", "pro_2")
    assert (first.allowed, first.remaining, first.source) == (True, 30, "memory")
    assert ratelimit.fallback_count() == 1
    ratelimit.record(ratelimit.PROFESSIONAL_BOOKINGS, "pro_2")  # the cooldown: memory, no wait
    assert time.monotonic() - started < 2.0
    assert ratelimit.peek("professional_bookings", "pro_2").remaining == 29
    assert ratelimit.peek("professional_bookings_daily", "pro_2").remaining == 99
    assert ratelimit.fallback_count() == 5


def test_require_room_refuses_at_the_first_full_limit_and_counts_nothing(
    upstash: UpstashDouble, frozen: dict[str, float], rdb: redis_py.Redis
) -> None:
    assert ratelimit.require_room(ratelimit.PROFESSIONAL_BOOKINGS, "pro_3").remaining == 30
    assert rdb.keys("odys:rl:*") == []
    for _ in range(100):
        ratelimit.check("professional_bookings_daily", "pro_3")
    with pytest.raises(RateLimited) as caught:
        ratelimit.require_room(ratelimit.PROFESSIONAL_BOOKINGS, "pro_3")
    assert caught.value.status == 429 and caught.value.code == "rate_limited"
    assert caught.value.headers["RateLimit-Limit"] == "100" and caught.value.headers["RateLimit-Remaining"] == "0"
    assert int(caught.value.headers["Retry-After"]) > 3600  # the day window, not the hour
    assert rdb.keys("odys:rl:professional_bookings:*") == []  # the hourly one was only looked at


# --- middleware -------------------------------------------------------------------------------------------


def _app(*middlewares: Any) -> Any:
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response

    app = APIGatewayHttpResolver()

    @app.exception_handler(RateLimited)
    def _rate_limited(exc: RateLimited) -> Response:
        return Response(
            status_code=exc.status,
            content_type="application/problem+json",
            body=json.dumps(exc.to_dict()),
            headers=exc.headers,
        )

    @app.post("/api/booking", middlewares=list(middlewares))
    def _book() -> dict[str, bool]:
        return {"ok": True}

    return app


class _LambdaContext:
    function_name = "test"
    memory_limit_in_mb = 128
    invoked_function_arn = "arn:aws:lambda:sa-east-1:123456789012:function:test"
    aws_request_id = "req-1"


def test_middleware_adds_headers_and_refusal_reaches_the_exception_handler(
    upstash: UpstashDouble, frozen: dict[str, float]
) -> None:
    app = _app(ratelimit.middleware("booking"))
    responses = [app.resolve(http_api_event(), _LambdaContext()) for _ in range(6)]

    for index, response in enumerate(responses[:5]):
        headers = lower_keys(response["headers"])
        assert response["statusCode"] == 200 and json.loads(response["body"]) == {"ok": True}
        assert headers["ratelimit-limit"] == "5"
        assert headers["ratelimit-remaining"] == str(4 - index)
        assert headers["ratelimit-reset"] == "599"
        assert "retry-after" not in headers

    refused = responses[5]
    headers = lower_keys(refused["headers"])
    assert refused["statusCode"] == 429
    assert json.loads(refused["body"])["code"] == "rate_limited"
    assert headers["retry-after"] == "599" and headers["ratelimit-remaining"] == "0"

    other_ip = app.resolve(http_api_event(source_ip="203.0.113.99"), _LambdaContext())
    assert other_ip["statusCode"] == 200


def test_middleware_by_user_uses_the_context_user_id(upstash: UpstashDouble, frozen: dict[str, float]) -> None:
    def fake_auth(app: Any, next_middleware: Any) -> Any:
        if app.current_event.headers.get("x-test-user"):
            app.append_context(user_id=app.current_event.headers.get("x-test-user"))
        return next_middleware(app)

    app = _app(fake_auth, ratelimit.middleware("booking", by="user"))

    def call(ip: str, user: str | None) -> dict[str, Any]:
        event = http_api_event(source_ip=ip)
        if user:
            event["headers"]["x-test-user"] = user
        return app.resolve(event, _LambdaContext())

    # one user from five different IPs spends one budget
    assert [call(f"10.0.0.{i}", "user-1")["statusCode"] for i in range(6)] == [200] * 5 + [429]
    # no user id: falls back to the IP
    assert call("10.0.0.1", None)["statusCode"] == 200


def test_nested_middlewares_report_the_tighter_limit(upstash: UpstashDouble, frozen: dict[str, float]) -> None:
    app = _app(ratelimit.middleware("public"), ratelimit.middleware("booking"))
    headers = lower_keys(app.resolve(http_api_event(), _LambdaContext())["headers"])
    assert headers["ratelimit-limit"] == "5" and headers["ratelimit-remaining"] == "4"


def test_errors_of_a_rate_limited_route_carry_the_tighter_limits_headers(
    upstash: UpstashDouble, frozen: dict[str, float]
) -> None:
    from odys.errors import Conflict
    from odys.http import create_app

    app = create_app()

    @app.post("/api/booking", middlewares=[ratelimit.middleware("booking"), ratelimit.middleware("public")])
    def _book() -> dict[str, bool]:
        raise Conflict("slot_taken", "taken")

    response = app.resolve(http_api_event(), _LambdaContext())
    headers = lower_keys(response["headers"])
    assert response["statusCode"] == 409 and json.loads(response["body"])["code"] == "slot_taken"
    assert headers["ratelimit-limit"] == "5" and headers["ratelimit-remaining"] == "4"
    assert "retry-after" not in headers


def test_middleware_rejects_bad_wiring() -> None:
    with pytest.raises(ValueError):
        ratelimit.middleware("bookings")
    with pytest.raises(ValueError):
        ratelimit.middleware("booking", by="email")  # type: ignore[arg-type]


# --- outage and fallback ----------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["error", "timeout"])
def test_outage_falls_back_to_memory_with_the_same_rule(
    upstash: UpstashDouble, mode: str, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    upstash.fail_mode = mode  # type: ignore[assignment]
    caplog.set_level(logging.WARNING, logger="odys")

    started = time.monotonic()
    first = ratelimit.check("booking", "203.0.113.50")
    assert time.monotonic() - started < 2.0
    assert first.allowed and first.source == "memory" and first.remaining == 4

    rest = [ratelimit.check("booking", "203.0.113.50") for _ in range(5)]
    assert time.monotonic() - started < 2.0  # the cooldown skips Upstash after the first failure
    assert [d.allowed for d in rest] == [True] * 4 + [False]
    assert rest[-1].retry_after >= 1 and rest[-1].headers()["Retry-After"] == rest[-1].headers()["RateLimit-Reset"]
    assert ratelimit.fallback_count() == 6
    with pytest.raises(RateLimited):
        ratelimit.enforce("booking", "203.0.113.50")

    warnings = [r for r in caplog.records if "in-memory fallback" in r.getMessage()]
    assert len(warnings) == 1
    logged = repr(warnings[0].__dict__) + capsys.readouterr().out
    assert "203.0.113.50" not in logged and TOKEN not in logged
    assert warnings[0].__dict__["identifier_sha256"] == ratelimit._hash_id("203.0.113.50")
    assert '"RateLimitFallback"' in logged  # EMF line on stdout


def test_upstash_is_used_again_after_the_cooldown(
    upstash: UpstashDouble, monkeypatch: pytest.MonkeyPatch, rdb: redis_py.Redis
) -> None:
    monkeypatch.setenv("UPSTASH_COOLDOWN_SECONDS", "0")
    upstash.fail_mode = "error"
    assert ratelimit.check("api", "user-7").source == "memory"
    upstash.fail_mode = None
    recovered = ratelimit.check("api", "user-7")
    assert recovered.source == "upstash" and recovered.remaining == 119
    assert ratelimit.fallback_count() == 1
    assert rdb.keys("odys:rl:api:user-7:*")


def test_unreachable_upstash_falls_back_quickly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UPSTASH_REDIS_REST_URL", "http://127.0.0.1:9")  # discard port: connection refused
    monkeypatch.setenv("UPSTASH_REDIS_REST_TOKEN", TOKEN)
    ratelimit.reset_for_tests()
    try:
        started = time.monotonic()
        assert ratelimit.check("public", "203.0.113.60").source == "memory"
        assert time.monotonic() - started < 2.0
        assert ratelimit.fallback_count() == 1
    finally:
        ratelimit.reset_for_tests()


def test_bad_token_falls_back(upstash: UpstashDouble, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UPSTASH_REDIS_REST_TOKEN", "wrong")
    ratelimit.reset_for_tests()
    assert ratelimit.check("public", "203.0.113.61").source == "memory"
    assert ratelimit.fallback_count() == 1


def test_timeout_is_configurable(upstash: UpstashDouble, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UPSTASH_TIMEOUT_SECONDS", "0.25")
    ratelimit.reset_for_tests()
    ratelimit.check("public", "203.0.113.62")
    timeout = ratelimit._state.redis._http._client.timeout
    assert (timeout.connect, timeout.read, timeout.write, timeout.pool) == (0.25, 0.25, 0.25, 0.25)


# --- not configured (local dev) ----------------------------------------------------------------------------


def test_without_upstash_env_the_memory_limiter_is_used_directly(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, frozen: dict[str, float]
) -> None:
    monkeypatch.delenv("UPSTASH_REDIS_REST_URL", raising=False)
    monkeypatch.delenv("UPSTASH_REDIS_REST_TOKEN", raising=False)
    caplog.set_level(logging.INFO, logger="odys")  # the suite runs with POWERTOOLS_LOG_LEVEL=WARNING
    ratelimit.reset_for_tests()
    try:
        decisions = [ratelimit.check("booking", "127.0.0.1") for _ in range(6)]
        assert [d.allowed for d in decisions] == [True] * 5 + [False]
        assert {d.source for d in decisions} == {"memory"}
        assert decisions[-1].retry_after == 599
        assert ratelimit.fallback_count() == 0
        assert sum("not configured" in r.getMessage() for r in caplog.records) == 1

        frozen["now"] += 600 * 2  # two windows later nothing is left
        assert ratelimit.check("booking", "127.0.0.1").remaining == 4
    finally:
        ratelimit.reset_for_tests()


def test_memory_limiter_matches_the_upstash_sliding_window() -> None:
    memory = ratelimit._MemoryLimiter()
    limit = ratelimit.Limit("t", 10, 60)
    for _ in range(10):
        memory.hit(limit, "x", now_ms=59_000)
    # 30 s into the next window the previous one weighs 50%: 5 counted, 5 left
    assert [memory.hit(limit, "x", now_ms=90_000).allowed for _ in range(6)] == [True] * 5 + [False]
    assert memory.hit(limit, "y", now_ms=90_000).remaining == 9


def test_decision_headers_are_well_formed() -> None:
    allowed = ratelimit.Decision(True, 60, 59, reset_at=100.0, retry_after=0)
    assert allowed.headers(now=150.0) == {
        "RateLimit-Limit": "60",
        "RateLimit-Remaining": "59",
        "RateLimit-Reset": "0",
    }
    refused = ratelimit.Decision(False, 60, 0, reset_at=100.0, retry_after=1)
    assert refused.headers(now=150.0)["Retry-After"] == "1"
    assert refused.headers(now=150.0)["RateLimit-Reset"] == "1"
