"""The public booking path through the real handlers, against a throwaway PostgreSQL.

    .venv/bin/python -m benchmarks.booking [--slots-rounds 200] [--bookings 500] [--racers 50] [--races 5]

(a) GET /api/professionals/{slug}/slots for 62 days, professional with 2,000 appointments: median handler time
    beside the time spent in the SQL it runs (every statement timed at pg8000's ``Connection.run``), plus the
    alternatives that were not chosen: fetching the appointments as timestamptz rows, and computing the slots in
    SQL.
(b) POST /api/booking, sequentially (each with a new client and an Idempotency-Key): p50/p99, beside a single-row
    INSERT round trip to the same database, interleaved in the same run; then the same with a PIX key (QR SVG).
(c) N processes booking one slot at once (each its own execution environment and connection, as Lambda runs
    them; devtools.concurrency): 201/409/other.

Requests are API Gateway HTTP API v2 events (devtools.lambdas.http_event) handed to the function of template.yaml
(devtools.lambdas.invoke). Rate limits run in memory (no Upstash round trip); every booking comes from its own IP,
and the per-professional booking ceiling (30 an hour) is reset before each booking, outside the timing — its
check and count stay in the measured path.
The database is devtools.pg.PostgresServer (unix socket, fsync off, synchronous_commit off).
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import os
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "layers" / "shared"), str(ROOT)]

UTC = dt.timezone.utc

SQL_SLOTS = """
WITH p AS (
    SELECT id, timezone AS tz, session_duration_minutes AS dur, buffer_minutes AS buf,
           now() + make_interval(mins => min_notice_minutes) AS earliest,
           now() + make_interval(days => booking_window_days) AS latest
    FROM professionals WHERE id = :pid),
grid AS (
    SELECT d::date + a.start_time + k * make_interval(mins => p.dur + p.buf) AS wall, p.*
    FROM p
    CROSS JOIN generate_series(CAST(:first AS date), CAST(:last AS date), interval '1 day') AS d
    JOIN availability a ON a.professional_id = p.id AND a.day_of_week = extract(dow FROM d)
    CROSS JOIN LATERAL generate_series(0, floor((extract(epoch FROM a.end_time - a.start_time) / 60 - p.dur)
                                               / (p.dur + p.buf))::int) AS k),
cand AS (
    SELECT wall AT TIME ZONE tz AS s, dur, buf, earliest, latest, id FROM grid
    WHERE (wall AT TIME ZONE tz) AT TIME ZONE tz = wall)
SELECT coalesce(string_agg(extract(epoch FROM s)::bigint::text, ' ' ORDER BY s), '') FROM cand c
WHERE s >= earliest AND s <= latest
  AND NOT EXISTS (SELECT 1 FROM appointments x WHERE x.professional_id = c.id AND x.status IN ('pending', 'confirmed')
      AND tstzrange(x.starts_at, x.ends_at, '[)')
          && tstzrange(c.s - make_interval(mins => c.buf), c.s + make_interval(mins => c.dur + c.buf), '[)'))
"""


# --- measurement helpers --------------------------------------------------------------------------------------

class SqlMeter:
    """Times every pg8000 ``Connection.run`` (statements, START, COMMIT) per thread."""

    def __init__(self) -> None:
        self._local = threading.local()

    def install(self) -> None:
        from pg8000.native import Connection

        original = Connection.run
        meter = self

        def run(con: Any, sql: str, stream: Any = None, types: Any = None, **params: Any) -> Any:
            start = time.perf_counter_ns()
            try:
                return original(con, sql, stream=stream, types=types, **params)
            finally:
                meter._local.ns = getattr(meter._local, "ns", 0) + time.perf_counter_ns() - start
                meter._local.count = getattr(meter._local, "count", 0) + 1

        Connection.run = run  # type: ignore[method-assign]

    def reset(self) -> None:
        self._local.ns, self._local.count = 0, 0

    def read(self) -> tuple[float, int]:
        """(milliseconds, statements) since the last reset, in this thread."""
        return getattr(self._local, "ns", 0) / 1e6, getattr(self._local, "count", 0)


METER = SqlMeter()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def timed(call: Any) -> tuple[Any, float, float, int]:
    """(result, total ms, SQL ms, statements) of one call in this thread."""
    METER.reset()
    start = time.perf_counter_ns()
    result = call()
    total = (time.perf_counter_ns() - start) / 1e6
    sql_ms, count = METER.read()
    return result, total, sql_ms, count


def row(name: str, values: list[float]) -> str:
    return f"| {name} | {statistics.median(values):.2f} | {pct(values, 90):.2f} | {pct(values, 99):.2f} |"


# --- setup ----------------------------------------------------------------------------------------------------

def start_database() -> Any:
    os.environ.update({"ODYS_STAGE": "test", "POWERTOOLS_SERVICE_NAME": "odys", "POWERTOOLS_TRACE_DISABLED": "true",
                       "POWERTOOLS_LOG_LEVEL": "WARNING", "POWERTOOLS_METRICS_NAMESPACE": "Odys",
                       "BOOKING_TOKEN_SECRET": "bench-booking-secret-0123456789-0123456789"})
    for leaked in ("ODYS_SECRETS_ID", "UPSTASH_REDIS_REST_URL", "UPSTASH_REDIS_REST_TOKEN"):
        os.environ.pop(leaked, None)
    from devtools.pg import PostgresServer

    server = PostgresServer(Path(tempfile.mkdtemp(prefix="odys-bench-booking-"))).start()
    server.create_database("odys_bench")
    os.environ["DATABASE_URL"] = server.url("odys_bench")
    from odys import migrate

    migrate.apply_pending()
    return server


def professional(slug: str, windows: list[tuple[int, str, str]], **settings: Any) -> dict[str, Any]:
    """Onboard through the account service, then apply settings (plain SQL: benchmark-only values)."""
    from odys import account, availability, db
    from odys.store import professionals

    user = str(uuid.uuid4())
    account.onboard(user, account.AccountCreate(name="Dra. Bench", slug=slug, phone="+5511987654321",
                                                email=f"{slug}@odys.local", profession="Psicóloga",
                                                session_price=15000, session_duration_minutes=50))
    availability.replace(user, availability.AvailabilityIn.model_validate({"windows": [
        {"dayOfWeek": d, "startTime": s, "endTime": e} for d, s, e in windows]}))
    if settings:
        account.update(user, account.AccountUpdate(**settings))
    row = professionals.by_slug(slug)
    assert row is not None
    db.run("UPDATE professionals SET min_notice_minutes = 0, booking_window_days = 365 WHERE id = :id", id=row["id"])
    return professionals.by_slug(slug)  # type: ignore[return-value]


def seed_appointments(pro: dict[str, Any], count: int, days: range, hours: range) -> None:
    """``count`` appointments on the hour grid of ``days`` (offsets from today), 10 % of them cancelled."""
    from zoneinfo import ZoneInfo

    from odys import db
    from odys.store import clients

    tz = ZoneInfo(pro["timezone"])
    today = dt.datetime.now(tz).date()
    places = [dt.datetime.combine(today + dt.timedelta(days=d), dt.time(h), tz) for d in days for h in hours]
    rng = random.Random(7)
    chosen = sorted(rng.sample(places, count))
    client = clients.insert(str(pro["id"]), "Cliente Bench", "+5511911110000", None)
    statuses = ["cancelled" if rng.random() < 0.1 else "confirmed" for _ in chosen]
    db.run("INSERT INTO appointments (professional_id, client_id, starts_at, ends_at, status, price) "
           "SELECT :pid, :cid, s, s + interval '50 minutes', st, 15000 "
           "FROM unnest(CAST(:starts AS timestamptz[]), CAST(:statuses AS text[])) AS t(s, st)",
           pid=pro["id"], cid=client["id"], starts=[c.astimezone(UTC) for c in chosen], statuses=statuses)
    db.run("ANALYZE appointments")


# --- (a) slots ------------------------------------------------------------------------------------------------

def bench_slots(rounds: int) -> list[str]:
    from zoneinfo import ZoneInfo

    from devtools import lambdas
    from odys import db, slots
    from odys.store import booking as store

    pro = professional("bench-slots", [(d, "07:00", "21:00") for d in range(7)])
    seed_appointments(pro, 2000, range(-90, 91), range(7, 21))
    pid = str(pro["id"])
    first = dt.datetime.now(ZoneInfo(pro["timezone"])).date()
    last = first + dt.timedelta(days=61)
    events = iter([lambdas.http_event("GET", "/api/professionals/bench-slots/slots",
                                      route_path="/api/professionals/{slug}/slots",
                                      path_parameters={"slug": "bench-slots"},
                                      query={"from": first.isoformat(), "to": last.isoformat()},
                                      source_ip=f"10.200.{i // 250}.{i % 250}")  # public limit: 60/min per IP
                   for i in range(rounds + 20)])
    now = dt.datetime.now(UTC)
    candidates = slots.grid(slots.Rules.of(pro), slots._windows(pid), first, last, now)
    since, until = candidates[0].start - 600, candidates[-1].end + 600
    in_range = db.scalar("SELECT count(*) FROM appointments WHERE professional_id = :p AND status = 'confirmed' "
                         "AND starts_at >= to_timestamp(:a) AND starts_at < to_timestamp(:b)", p=pid, a=since, b=until)

    def handler() -> dict:
        return lambdas.invoke("slots", next(events))

    def busy_text() -> list:
        return store.busy_intervals(pid, since, until)

    def busy_rows() -> list:
        return db.run("SELECT starts_at, ends_at FROM appointments WHERE professional_id = :pid "
                      "AND status IN ('pending', 'confirmed') AND tstzrange(starts_at, ends_at, '[)') "
                      "&& tstzrange(to_timestamp(:since), to_timestamp(:until), '[)')", pid=pid, since=since,
                      until=until)

    def sql_slots() -> str:
        return db.scalar(SQL_SLOTS, pid=pid, first=first, last=last)

    def python_compute() -> list:
        return slots.without_busy(slots.grid(slots.Rules.of(pro), slots._windows(pid), first, last, now),
                                  busy_text(), 600)

    for _ in range(20):  # warm: module load, connection, plans
        handler(), busy_text(), busy_rows(), sql_slots()
    totals, sqls, counts, texts, rows_ms, sql_side = [], [], [], [], [], []
    for _ in range(rounds):  # interleaved, so that machine noise spreads evenly
        result, total, sql_ms, count = timed(handler)
        assert result["statusCode"] == 200, result
        totals.append(total), sqls.append(sql_ms), counts.append(count)
        texts.append(timed(busy_text)[1]), rows_ms.append(timed(busy_rows)[1]), sql_side.append(timed(sql_slots)[1])
    import json

    offered = json.loads(result["body"])["slots"]
    sql_epochs = [int(x) for x in sql_slots().split()]
    same = [int(dt.datetime.fromisoformat(s["startsAt"]).timestamp()) for s in offered] == sql_epochs
    body_kb = len(result["body"]) / 1024
    plan = "\n".join(r[0] for r in db.run(
        "EXPLAIN SELECT 1 FROM appointments WHERE professional_id = :pid AND status IN ('pending', 'confirmed') "
        "AND tstzrange(starts_at, ends_at, '[)') && tstzrange(to_timestamp(:since), to_timestamp(:until), '[)')",
        pid=pid, since=since, until=until))
    return [
        f"(a) slots, 62 days, 2,000 appointments ({in_range} active in the range), {len(candidates)} grid slots, "
        f"{len(offered)} offered, body {body_kb:.1f} KiB, {rounds} rounds, ms:",
        "",
        "| what | median | p90 | p99 |",
        "|---|---|---|---|",
        row("handler: GET /api/professionals/{slug}/slots (whole invocation)", totals),
        row(f"… of which SQL ({statistics.median(counts):.0f} statements: professional, availability, busy)", sqls),
        row("… of which Python (resolver, grid, busy filter, JSON)", [t - s for t, s in zip(totals, sqls)]),
        row("busy intervals query alone (chosen: one text value of epoch pairs)", texts),
        row("alternative: the same appointments as timestamptz rows", rows_ms),
        row("alternative: slots computed in SQL (epochs only; no JSON yet)", sql_side),
        "",
        f"SQL-computed slots equal the handler's: {same}. Python grid + busy filter alone: "
        f"{statistics.median([timed(python_compute)[1] for _ in range(50)]):.2f} ms median (incl. its busy query).",
        "",
        "Plan of the busy query: " + " / ".join(line.strip() for line in plan.splitlines()[:3]),
    ]


# --- (b) sequential bookings ----------------------------------------------------------------------------------

def _booking_event(slug: str, starts_at: str, i: int, key: bool = True) -> dict:
    from devtools import lambdas

    body = {"slug": slug, "startsAt": starts_at, "client": {"name": f"Cliente {i}", "phone": f"+55119{i:08d}"}}
    headers = {"Idempotency-Key": str(uuid.uuid4())} if key else {}
    return lambdas.http_event("POST", "/api/booking", body=body, headers=headers,
                              source_ip=f"10.{(i // 250) % 250}.{i % 250}.{i // 62500 + 1}")


def _free_starts(pro: dict[str, Any], days: int) -> list[str]:
    from zoneinfo import ZoneInfo

    from odys import slots

    first = dt.datetime.now(ZoneInfo(pro["timezone"])).date() + dt.timedelta(days=1)
    found = slots.compute(pro, first, first + dt.timedelta(days=days), dt.datetime.now(UTC))
    return [s.view()["startsAt"] for s in found]


def bench_bookings(count: int, with_pix: int) -> list[str]:
    from devtools import lambdas
    from odys import db, ratelimit

    pro = professional("bench-book", [(d, "00:00", "23:59") for d in range(7)])
    starts = _free_starts(pro, 40)
    assert len(starts) >= count
    db.run("CREATE TABLE bench_insert (id bigserial PRIMARY KEY, v integer NOT NULL, at timestamptz DEFAULT now())")
    for i in range(20):  # warm the function instance and the baseline statement
        db.run("INSERT INTO bench_insert (v) VALUES (:v)", v=-i)
    warm = _free_starts(professional("bench-warm", [(d, "00:00", "23:59") for d in range(7)]), 2)
    for i in range(10):
        ratelimit.reset_for_tests()
        lambdas.invoke("booking", _booking_event("bench-warm", warm[i], 900_000 + i))
    totals, sqls, counts, inserts = [], [], [], []
    for i in range(count):
        event = _booking_event("bench-book", starts[i], i)
        ratelimit.reset_for_tests()
        result, total, sql_ms, stmts = timed(lambda: lambdas.invoke("booking", event))
        assert result["statusCode"] == 201, result
        totals.append(total), sqls.append(sql_ms), counts.append(stmts)
        inserts.append(timed(lambda: db.run("INSERT INTO bench_insert (v) VALUES (:v)", v=i))[1])
    pix_pro = professional("bench-pix", [(d, "00:00", "23:59") for d in range(7)],
                           pix_key_type="email", pix_key="bench@odys.local")
    pix_starts = _free_starts(pix_pro, 10)
    pix_totals = []
    for i in range(with_pix):
        event = _booking_event("bench-pix", pix_starts[i], 500_000 + i)
        ratelimit.reset_for_tests()
        result, total, _, _ = timed(lambda: lambdas.invoke("booking", event))
        assert result["statusCode"] == 201 and '"pix"' in result["body"], result
        pix_totals.append(total)
    booked = db.scalar("SELECT count(*) FROM appointments a JOIN professionals p ON p.id = a.professional_id "
                       "WHERE p.slug = 'bench-book'")
    return [
        f"(b) {count} sequential bookings (new client + Idempotency-Key each; {booked} rows written), ms:",
        "",
        "| what | median | p90 | p99 |",
        "|---|---|---|---|",
        row("handler: POST /api/booking (whole invocation)", totals),
        row(f"… of which SQL ({statistics.median(counts):.0f} statements incl. START/COMMIT)", sqls),
        row("… of which Python", [t - s for t, s in zip(totals, sqls)]),
        row("baseline: single-row INSERT round trip (autocommit), same run, interleaved", inserts),
        row(f"handler with a PIX key (payload + QR SVG), {with_pix} bookings", pix_totals),
    ]


# --- (c) concurrent bookings of one slot ----------------------------------------------------------------------

def bench_race(racers: int, races: int) -> list[str]:
    from devtools import lambdas
    from devtools.concurrency import concurrently
    from odys import db, ratelimit

    pro = professional("bench-race", [(d, "00:00", "23:59") for d in range(7)])
    starts = _free_starts(pro, 5)
    lines = [f"(c) {racers} concurrent bookings of one slot, {races} races (distinct clients and IPs):", "",
             "| race | 201 | 409 slot_taken | other | wall ms |", "|---|---|---|---|---|"]
    total: Counter = Counter()
    for race in range(races):
        ratelimit.reset_for_tests()

        def book(i: int, race: int = race) -> str:
            result = lambdas.invoke("booking", _booking_event("bench-race", starts[race], 100_000 + race * 1000 + i))
            code = result["statusCode"]
            return "409" if code == 409 and "slot_taken" in result["body"] else str(code)

        start = time.perf_counter()
        results = concurrently([functools.partial(book, i) for i in range(racers)], timeout=120)
        wall = (time.perf_counter() - start) * 1000
        outcomes = [r if isinstance(r, str) else type(r).__name__ for r in results]
        counts = Counter(outcomes)
        other = sum(v for k, v in counts.items() if k not in ("201", "409"))
        total.update({"201": counts["201"], "409": counts["409"], "other": other})
        lines.append(f"| {race + 1} | {counts['201']} | {counts['409']} | {other} | {wall:.0f} |")
    rows = db.scalar("SELECT count(*) FROM appointments a JOIN professionals p ON p.id = a.professional_id "
                     "WHERE p.slug = 'bench-race'")
    lines += ["", f"Total: {total['201']} × 201, {total['409']} × 409, {total['other']} other; "
                  f"{rows} appointments in the database for {races} slots."]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slots-rounds", type=int, default=200)
    parser.add_argument("--bookings", type=int, default=500)
    parser.add_argument("--pix-bookings", type=int, default=100)
    parser.add_argument("--racers", type=int, default=50)
    parser.add_argument("--races", type=int, default=5)
    args = parser.parse_args()
    server = start_database()
    METER.install()
    try:
        import platform

        from odys import db

        print(f"Python {platform.python_version()}, PostgreSQL {db.scalar('SHOW server_version')}, "
              f"{os.cpu_count()} CPUs, {dt.datetime.now(UTC):%Y-%m-%d %H:%M} UTC\n")
        for section in (bench_slots(args.slots_rounds), bench_bookings(args.bookings, args.pix_bookings),
                        bench_race(args.racers, args.races)):
            print("\n".join(section) + "\n", flush=True)
    finally:
        from odys import db

        db.close()
        server.stop()


if __name__ == "__main__":
    main()
