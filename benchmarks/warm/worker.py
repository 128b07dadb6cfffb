"""One measured execution environment of ``benchmarks.warm``: the code of one tree, its own PostgreSQL and JWKS.

    python -m benchmarks.warm.worker <tree>      # <tree> holds layers/shared, functions, devtools, template.yaml

Commands arrive one JSON line at a time on stdin and each answer is one JSON line on the file descriptor the parent
reads (fd 1 at start; the function's own log lines go to /dev/null like CloudWatch would take them, at the
production level INFO)::

    {"run": 500}            -> {"<kind>": {"outside_us": [...], "total_us": [...], "db_us": [...]}, ...}
    {"profile": 3000, "kind": "..."}  -> {"text": "<cProfile, top functions by own time>"}
    {"breakdown": 3000, "kind": "..."}  -> {"<piece>": mean µs per request, ...} (exclusive timers)
    {"stop": true}

Kinds: HS256 and ES256 (verified through the JWKS), each with the same token on every request (as a client sends
it for an hour) and with a fresh token on every request (nothing cached for it: minted outside the timing).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from benchmarks.jwks import Jwks

TREE = Path(sys.argv[1]).resolve() if __name__ == "__main__" else Path(__file__).resolve().parents[2]
JWT_SECRET = "bench-jwt-secret-0123456789-0123456789"
KINDS = ("HS256, same token", "ES256 via JWKS, same token", "HS256, fresh token", "ES256 via JWKS, fresh token")


class DatabaseClock:
    """Time spent inside odys.db's statement functions (outermost call only): 'the database'."""

    def __init__(self) -> None:
        from odys import db

        self.ns = 0
        self._depth = 0
        for name in ("run", "all", "one", "scalar"):
            setattr(db, name, self._timed(getattr(db, name)))

    def _timed(self, function: Any) -> Any:
        clock = self

        def timed(*args: Any, **kwargs: Any) -> Any:
            clock._depth += 1
            start = time.perf_counter_ns()
            try:
                return function(*args, **kwargs)
            finally:
                clock._depth -= 1
                if clock._depth == 0:
                    clock.ns += time.perf_counter_ns() - start

        return timed


def setup() -> tuple[Any, Any, Jwks]:
    os.environ.update({
        "ODYS_STAGE": "test", "POWERTOOLS_SERVICE_NAME": "odys", "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "INFO", "POWERTOOLS_METRICS_NAMESPACE": "Odys",
        "BOOKING_TOKEN_SECRET": "bench-booking-secret-0123456789-0123456789", "SUPABASE_JWT_SECRET": JWT_SECRET,
        "STRIPE_SECRET_KEY": "sk_test_bench", "STRIPE_PRICE_BASIC": "price_b", "STRIPE_PRICE_PRO": "price_p",
        "STRIPE_PRICE_PREMIUM": "price_pp", "AWS_DEFAULT_REGION": "us-east-1"})
    for leaked in ("ODYS_SECRETS_ID", "UPSTASH_REDIS_REST_URL", "UPSTASH_REDIS_REST_TOKEN", "ODYS_RATE_LIMITS_RELAXED"):
        os.environ.pop(leaked, None)
    from benchmarks.jwks import Jwks  # after main() put the tree first: its devtools serves the key set

    jwks = Jwks().start()
    os.environ["SUPABASE_JWKS_URL"] = jwks.jwks_url
    from devtools.pg import PostgresServer

    server = PostgresServer(Path(tempfile.mkdtemp(prefix="odys-bench-warm-")), durable=True).start()
    server.create_database("odys_bench")
    os.environ["DATABASE_URL"] = server.url("odys_bench")
    from odys import migrate

    migrate.apply_pending()
    return server, DatabaseClock(), jwks


class Bench:
    def __init__(self, jwks: Jwks, clock: DatabaseClock) -> None:
        from devtools import lambdas
        from devtools.tokens import mint_token

        self.lambdas, self.mint, self.jwks, self.clock = lambdas, mint_token, jwks, clock
        self.user_id = "0b6f3c8e-7d6a-4b8e-9a55-3c0b9f1d2e47"
        body = {"name": "Ana Souza", "slug": "ana-bench", "phone": "+5511987654321", "email": "ana@example.com",
                "profession": "Psicóloga", "sessionPrice": 15000, "sessionDurationMinutes": 50}
        created = lambdas.invoke("account", self.event(self.hs256(), "POST", body))
        assert created["statusCode"] == 201, created
        self.module = lambdas.load_function("account")
        self.same = {KINDS[0]: self.event(self.hs256()), KINDS[1]: self.event(self.es256())}

    def hs256(self) -> str:
        return self.mint(self.user_id, secret=JWT_SECRET, expires_in=86400)

    def es256(self) -> str:
        return self.jwks.token(self.user_id)

    def event(self, token: str, method: str = "GET", body: Any = None) -> dict[str, Any]:
        return self.lambdas.http_event(method, "/api/account", headers={"authorization": f"Bearer {token}"},
                                       body=body, source_ip="203.0.113.9")

    def events(self, count: int) -> dict[str, list[dict[str, Any]]]:
        """``count`` events per kind, the fresh ones each with a token of its own (minted here, untimed)."""
        return {KINDS[0]: [self.same[KINDS[0]]] * count, KINDS[1]: [self.same[KINDS[1]]] * count,
                KINDS[2]: [self.event(self.hs256()) for _ in range(count)],
                KINDS[3]: [self.event(self.es256()) for _ in range(count)]}

    @staticmethod
    def _make_room(i: int) -> None:
        """Before every 25th request, the in-memory rate limiter emptied (120 a minute per user)."""
        if i % 25 == 0:
            from odys import ratelimit

            ratelimit._state.memory.clear()  # noqa: SLF001

    def run(self, count: int) -> dict[str, dict[str, list[float]]]:
        events = self.events(count)
        out = {kind: {"outside_us": [], "total_us": [], "db_us": []} for kind in KINDS}
        handler, context = self.module.lambda_handler, self.lambdas.LambdaContext()
        for i in range(count):  # the kinds interleaved: the machine's noise spreads over all of them
            self._make_room(i)
            for kind in KINDS:
                event = events[kind][i]
                self.clock.ns = 0
                start = time.perf_counter_ns()
                result = handler(event, context)
                total = time.perf_counter_ns() - start
                if result["statusCode"] != 200:
                    raise AssertionError(f"{kind}: {result}")
                out[kind]["total_us"].append(total / 1000)
                out[kind]["db_us"].append(self.clock.ns / 1000)
                out[kind]["outside_us"].append((total - self.clock.ns) / 1000)
        return out

    def breakdown(self, count: int, kind: str) -> dict[str, float]:
        """Mean µs per request of each piece, exclusive of the timed pieces inside it (the timers cost a few µs)."""
        from benchmarks.durable.meter import ExclusiveTimers
        from odys import account, auth, db, http, ratelimit
        from odys.log import logger

        timers = ExclusiveTimers()
        for name in ("run", "all", "one", "scalar"):
            timers.wrap(db, name, "database (odys.db)")
        timers.wrap(self.module.app, "resolve", "resolver: dispatch, middleware calls, answer dict")
        timers.wrap(auth, "verify_token", "auth: verify_token")
        timers.wrap(auth, "bearer_token", "auth: bearer header")
        timers.wrap(ratelimit, "check", "rate limit: in-memory sliding window")
        timers.wrap(ratelimit, "merge_headers", "rate limit: RateLimit-* headers")
        timers.wrap(account, "view", "service: account view (Python)")
        timers.wrap(account, "get", "service: account.get + caller (Python around the SQL)")
        timers.wrap(http, "to_json", "JSON: the answer's text")
        timers.wrap(http, "_with_security_headers", "edge: security headers")
        if hasattr(logger, "start_request"):
            timers.wrap(logger, "start_request", "logging: the request's keys")
        events = self.events(count)[kind]
        handler, context = self.module.lambda_handler, self.lambdas.LambdaContext()
        start = time.perf_counter_ns()
        for i, event in enumerate(events):
            self._make_room(i)
            handler(event, context)
        total = (time.perf_counter_ns() - start) / count / 1000
        per = {name: ns / count / 1000 for name, ns in timers.ns.items()}
        per["edge: the rest (Lambda entry, body size, logging context, frames)"] = total - sum(per.values())
        per["total outside the database"] = total - per.get("database (odys.db)", 0)
        return per

    def profile(self, count: int, kind: str) -> str:
        import cProfile
        import io
        import pstats

        events = self.events(count)[kind]
        handler, context = self.module.lambda_handler, self.lambdas.LambdaContext()
        profiler = cProfile.Profile()
        for i, event in enumerate(events):
            self._make_room(i)
            profiler.enable()
            handler(event, context)
            profiler.disable()
        text = io.StringIO()
        stats = pstats.Stats(profiler, stream=text)
        stats.sort_stats("tottime").print_stats(45)
        stats.sort_stats("cumulative").print_stats(45)
        return text.getvalue()


def main() -> None:
    answers = os.fdopen(os.dup(1), "w")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # the function's log lines (stdout, like Lambda's) go nowhere
    sys.path[:0] = [str(TREE / "layers" / "shared"), str(TREE)]
    server, clock, jwks = setup()
    try:
        bench = Bench(jwks, clock)
        bench.run(200)  # warm: imports, connection, JWKS, plans
        answers.write(json.dumps({"ready": True}) + "\n")
        answers.flush()
        for line in sys.stdin:
            command = json.loads(line)
            if command.get("stop"):
                break
            if "run" in command:
                answer: Any = bench.run(int(command["run"]))
            elif "breakdown" in command:
                answer = bench.breakdown(int(command["breakdown"]), command["kind"])
            else:
                answer = {"text": bench.profile(int(command["profile"]), command["kind"])}
            answers.write(json.dumps(answer) + "\n")
            answers.flush()
    finally:
        from odys import db

        db.close()
        server.stop()
        shutil.rmtree(server.requested, ignore_errors=True)  # its data directory
        jwks.stop()


if __name__ == "__main__":
    main()
