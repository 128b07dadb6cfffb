"""The hot paths through the real handlers against a durable PostgreSQL, each beside one durable INSERT.

    .venv/bin/python -m benchmarks.durable [--professionals 50] [--bookings 300] [--tcp]

The baseline for issue 14, every figure a ratio to a baseline of the same run:

(a) one durable single-row INSERT (autocommit) on the same server and connection (pg8000 native, the same
    ``db.run`` every statement of the code goes through), interleaved: one after every measured request;
(b) ``POST /api/booking``: a few hundred bookings (new client + Idempotency-Key each) spread over many
    professionals (50, each with availability every day), with statements, round trips and the statements of
    one booking with their timing;
(c) the other hot paths: the manage link (GET, PATCH reschedule, PATCH cancel), ``PATCH /api/appointments/{id}``
    (status change), the Stripe webhook (signed ``customer.subscription.updated``), the Meta webhook (a signed
    delivery holding a ``delivered`` status and the client's text message), the WhatsApp sender's batch (an SQS
    event of 10 records, Cloud API double) and slots beside their SQL (the first request of the range, then
    the same request again, as a booking page's visitors send it).

The warm overhead outside the database is ``benchmarks.warm``'s subject.

PostgreSQL is ``devtools.pg.PostgresServer(durable=True)``: the server's defaults (``fsync``,
``synchronous_commit``, ``full_page_writes`` on), unix socket (``--tcp``: loopback TCP). Events are API Gateway
HTTP API v2 events (``devtools.lambdas.http_event``) handed to the functions of template.yaml
(``devtools.lambdas.invoke``); SQS events come from ``devtools.local_sqs.sqs_event``. Rate limits run in memory; SQS
SendMessageBatch is answered in-process (what SQS costs is ``benchmarks.whatsapp``'s subject), so the UPDATE that
stamps ``enqueued_at`` after it stays in the count. Statements and round trips: :mod:`benchmarks.durable.meter`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "layers" / "shared"), str(ROOT)]

from benchmarks.durable.meter import Meter, Sample, label, median, pct  # noqa: E402
from benchmarks.jwks import Jwks  # noqa: E402

UTC = dt.timezone.utc
JWT_SECRET = "bench-jwt-secret-0123456789-0123456789"
STRIPE_SECRET = "whsec_bench_0123456789abcdef"
WA_SECRET = "bench-whatsapp-app-secret-0123456789"
PRICES = {"pro": "price_bench_pro", "premium": "price_bench_premium"}
INSERT = "INSERT INTO bench_insert (v) VALUES (:v)"
METER = Meter()
BASELINE: list[float] = []  # every interleaved INSERT of the run, ms
ROWS: list[tuple[str, list[Sample]]] = []
_ips = iter(f"10.{a}.{b}.{c}" for a in range(1, 250) for b in range(250) for c in range(1, 250))


# --- setup ----------------------------------------------------------------------------------------------------

class _Sqs:
    """SendMessageBatch answered here: every entry accepted."""

    calls = 0

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
        _Sqs.calls += 1
        return {"Successful": [{"Id": e["Id"], "MessageId": str(uuid.uuid4()),
                                "MD5OfMessageBody": hashlib.md5(e["MessageBody"].encode()).hexdigest()}
                               for e in Entries], "Failed": []}


def start(tcp: bool) -> tuple[Any, Any, Any]:
    from devtools.whatsapp_double import WhatsAppDouble

    jwks = Jwks().start()
    double = WhatsAppDouble(token="bench-wa-token", phone_number_id="106540352242922").start()
    os.environ.update({
        "ODYS_STAGE": "test", "POWERTOOLS_SERVICE_NAME": "odys", "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "WARNING", "POWERTOOLS_METRICS_NAMESPACE": "Odys",
        "BOOKING_TOKEN_SECRET": "bench-booking-secret-0123456789-0123456789", "SUPABASE_JWT_SECRET": JWT_SECRET,
        "SUPABASE_JWKS_URL": jwks.jwks_url, "STRIPE_SECRET_KEY": "sk_test_bench", "STRIPE_WEBHOOK_SECRET": STRIPE_SECRET,
        "STRIPE_PRICE_BASIC": "price_bench_basic", "STRIPE_PRICE_PRO": PRICES["pro"],
        "STRIPE_PRICE_PREMIUM": PRICES["premium"], "WHATSAPP_APP_SECRET": WA_SECRET,
        "WHATSAPP_VERIFY_TOKEN": "bench-verify", "WHATSAPP_GRAPH_URL": double.url, "WHATSAPP_TOKEN": "bench-wa-token",
        "WHATSAPP_PHONE_NUMBER_ID": double.phone_number_id,
        "WHATSAPP_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/odys-bench"})
    for leaked in ("ODYS_SECRETS_ID", "UPSTASH_REDIS_REST_URL", "UPSTASH_REDIS_REST_TOKEN"):
        os.environ.pop(leaked, None)
    from devtools.pg import PostgresServer

    server = PostgresServer(Path(tempfile.mkdtemp(prefix="odys-bench-durable-")), durable=True).start()
    server.create_database("odys_bench")
    os.environ["DATABASE_URL"] = server.url("odys_bench", tcp=tcp)
    from odys import db, migrate, sqs

    migrate.apply_pending()
    sqs._client = _Sqs()  # type: ignore[assignment]  # noqa: SLF001 - the in-process SQS stand-in
    settings = {name: db.scalar(f"SHOW {name}") for name in ("fsync", "synchronous_commit", "full_page_writes")}
    assert settings == {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}, settings
    db.run("CREATE TABLE bench_insert (id bigserial PRIMARY KEY, v integer NOT NULL, at timestamptz DEFAULT now())")
    return server, jwks, double


def seed_professionals(count: int) -> list[dict[str, Any]]:
    from benchmarks.booking.__main__ import professional

    windows = [(d, "08:00", "20:00") for d in range(7)]
    return [professional(f"bench-{i:03d}", windows) for i in range(count)]


# --- measuring ------------------------------------------------------------------------------------------------

def insert_once(i: int) -> float:
    from odys import db

    BASELINE.append(METER.measure(lambda: db.run(INSERT, v=i)).total_ms)
    return BASELINE[-1]


def invoke(function: str, event: dict[str, Any], expect: int | tuple[int, ...] | None = 200) -> Sample:
    """One measured invocation, then one interleaved baseline INSERT (not measured with it)."""
    from devtools import lambdas

    sample = METER.measure(lambda: lambdas.invoke(function, event))
    if expect is not None:
        codes = expect if isinstance(expect, tuple) else (expect,)
        status = sample.result.get("statusCode") if isinstance(sample.result, dict) and "statusCode" in \
            sample.result else 200
        assert status in codes, (function, sample.result)
    sample.baseline_ms = insert_once(len(BASELINE))  # type: ignore[attr-defined]
    return sample


def http(method: str, path: str, route: str, *, params: dict[str, str] | None = None, body: Any = None,
         headers: dict[str, str] | None = None, token: str | None = None, query: dict[str, str] | None = None) -> dict:
    from devtools import lambdas

    headers = dict(headers or {})
    if token:
        headers["authorization"] = f"Bearer {token}"
    return lambdas.http_event(method, path, route_path=route, path_parameters=params, body=body, headers=headers,
                              query=query, source_ip=next(_ips))


def bench_prepared(rounds: int) -> list[str]:
    """The same INSERT three ways, interleaved: ``db.run`` (one flush), pg8000's own ``run()`` (three exchanges)
    and a pg8000 named prepared statement (one exchange per execution, but a named statement on the session)."""
    from pg8000.native import Connection as Pg8000Connection

    from odys import db

    con = db.connection()
    prepared = con.prepare(INSERT)
    ours, theirs, ready = [], [], []
    for i in range(rounds):
        ours.append(METER.measure(lambda: db.run(INSERT, v=i)))
        theirs.append(METER.measure(lambda: Pg8000Connection.run(con, INSERT, v=i)))
        ready.append(METER.measure(lambda: prepared.run(v=i)))
    prepared.close()
    return [f"The same durable INSERT, {rounds} of each interleaved: `db.run` (Parse/Bind/Describe/Execute/Sync in "
            f"one flush) p50 **{median([s.total_ms for s in ours]):.3f} ms** ({ours[-1].round_trips} round trip) vs "
            f"pg8000's own `run()` p50 {median([s.total_ms for s in theirs]):.3f} ms ({theirs[-1].round_trips} round "
            f"trips) vs a pg8000 named prepared statement p50 {median([s.total_ms for s in ready]):.3f} ms "
            f"({ready[-1].round_trips} round trip, and a statement left on the session, which pins it on an RDS "
            f"Proxy): the WAL flush is the floor."]


# --- the hot paths --------------------------------------------------------------------------------------------

def free_starts(pro: dict[str, Any], days: int) -> list[str]:
    from benchmarks.booking.__main__ import _free_starts

    return _free_starts(pro, days)


def booking_event(slug: str, starts_at: str, i: int) -> dict:
    body = {"slug": slug, "startsAt": starts_at, "client": {"name": f"Cliente {i}", "phone": f"+55119{i:08d}"}}
    return http("POST", "/api/booking", "/api/booking", body=body, headers={"Idempotency-Key": str(uuid.uuid4())})


def bench_bookings(pros: list[dict[str, Any]], count: int) -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
    """``count`` bookings round-robin over ``pros``: (the bookings, the starts left free per professional)."""
    starts = {str(p["id"]): free_starts(p, 30) for p in pros}
    booked, samples = [], []
    for i in range(count):
        pro = pros[i % len(pros)]
        pid = str(pro["id"])
        at = starts[pid].pop(len(starts[pid]) // 2)  # spread over the month, not only tomorrow morning
        sample = invoke("booking", booking_event(pro["slug"], at, i), expect=201)
        body = json.loads(sample.result["body"])
        booked.append({"pid": pid, "pro": pro, "id": body["appointment"]["id"], "token": body["manageToken"],
                       "phone": f"+55119{i:08d}", "starts_at": at})
        samples.append(sample)
    ROWS.append((f"POST /api/booking ({count} bookings, {len(pros)} professionals)", samples))
    return booked, starts


def bench_sender(double: Any) -> list[Sample]:
    from devtools.local_sqs import sqs_event
    from odys import db, queue

    ids = [str(r[0]) for r in db.run("SELECT id FROM messages WHERE status = 'queued' AND direction = 'outbound' "
                                     "ORDER BY created_at, id")]
    samples = []
    for start in range(0, len(ids) - len(ids) % 10, 10):
        records = []
        for message_id in ids[start:start + 10]:
            body = queue.body(message_id)
            records.append({"MessageId": str(uuid.uuid4()), "ReceiptHandle": uuid.uuid4().hex, "Body": body,
                            "MD5OfBody": hashlib.md5(body.encode()).hexdigest()})
        sample = invoke("whatsapp_sender", sqs_event(records, queue_arn="arn:aws:sqs:us-east-1:123456789012:odys"),
                        expect=None)
        assert sample.result == {"batchItemFailures": []}, sample.result
        samples.append(sample)
    outcomes = Counter(r[0] for r in db.run("SELECT status FROM messages WHERE id = ANY(CAST(:ids AS uuid[]))",
                                            ids=ids))
    ROWS.append((f"whatsapp_sender: SQS batch of 10 records ({len(samples)} batches; rows now "
                 f"{dict(outcomes)})", samples))
    return samples


def bench_meta_webhook(double: Any, booked: list[dict[str, Any]]) -> None:
    """A signed delivery: the ``delivered`` status of the last message sent to the client + the client's text."""
    import hmac

    double.post_webhook = lambda document: document  # build Meta's documents, post them ourselves
    samples = []
    for b in booked:
        try:
            status = double.status("delivered", to=b["phone"])
        except LookupError:
            continue
        reply = double.reply(b["phone"], "Oi! Até lá.")
        status["entry"][0]["changes"] += reply["entry"][0]["changes"]
        raw = json.dumps(status).encode()
        signature = "sha256=" + hmac.new(WA_SECRET.encode(), raw, hashlib.sha256).hexdigest()
        sample = invoke("whatsapp_webhook", http("POST", "/api/whatsapp/webhook", "/api/whatsapp/webhook", body=raw,
                                                 headers={"content-type": "application/json",
                                                          "x-hub-signature-256": signature}))
        assert json.loads(sample.result["body"]) == {"received": True, "statuses": 1, "messages": 1, "ignored": 0}, \
            sample.result["body"]
        samples.append(sample)
    ROWS.append((f"POST /api/whatsapp/webhook (delivered status + inbound text, {len(samples)} deliveries)", samples))


def bench_manage(booked: list[dict[str, Any]], starts: dict[str, list[str]]) -> list[dict[str, Any]]:
    """GET every link; PATCH reschedule a third, PATCH cancel a third. Returns the bookings left untouched."""
    gets = [invoke("booking_manage", http("GET", f"/api/booking/{b['token']}", "/api/booking/{token}",
                                          params={"token": b["token"]})) for b in booked]
    ROWS.append((f"GET /api/booking/{{token}} ({len(gets)} links)", gets))
    third = len(booked) // 3
    moves, cancels = [], []
    for b in booked[:third]:
        to = starts[b["pid"]].pop(0)
        moves.append(invoke("booking_manage", http("PATCH", f"/api/booking/{b['token']}", "/api/booking/{token}",
                                                   params={"token": b["token"]},
                                                   body={"action": "reschedule", "startsAt": to})))
    for b in booked[third:2 * third]:
        cancels.append(invoke("booking_manage", http("PATCH", f"/api/booking/{b['token']}", "/api/booking/{token}",
                                                     params={"token": b["token"]}, body={"action": "cancel"})))
    ROWS.append((f"PATCH /api/booking/{{token}} reschedule ({len(moves)})", moves))
    ROWS.append((f"PATCH /api/booking/{{token}} cancel ({len(cancels)})", cancels))
    return booked[2 * third:]


def bench_status_change(left: list[dict[str, Any]], jwks: Jwks) -> None:
    from odys import ratelimit

    tokens = {b["pid"]: jwks.token(b["pro"]["user_id"]) for b in left}
    samples = []
    for b in left:
        ratelimit._state.memory.clear()  # noqa: SLF001 - the api limit is per user; outside the timing
        samples.append(invoke("appointment", http("PATCH", f"/api/appointments/{b['id']}", "/api/appointments/{id}",
                                                  params={"id": b["id"]},
                                                  body={"status": "completed"}, token=tokens[b["pid"]])))
    ROWS.append((f"PATCH /api/appointments/{{id}} status → completed, ES256 token ({len(samples)})", samples))


def bench_stripe(pros: list[dict[str, Any]], per_professional: int) -> None:
    from devtools.stripe_double import price_object, signed_delivery, subscription_object, subscription_updated
    from odys import db

    subscriptions = {}
    for pro in pros:
        customer, sub_id = f"cus_bench{str(pro['id'])[:8]}", f"sub_bench{str(pro['id'])[:8]}"
        db.run("UPDATE professionals SET plan = 'pro', stripe_customer_id = :c, stripe_subscription_id = :s, "
               "stripe_state_at = now() - interval '1 day' WHERE id = :id", c=customer, s=sub_id, id=pro["id"])
        subscriptions[str(pro["id"])] = (customer, sub_id)
    first = int(time.time()) - 3600
    samples = []
    for round_ in range(per_professional):
        plan = ("premium", "pro")[round_ % 2]
        for n, pro in enumerate(pros):
            customer, sub_id = subscriptions[str(pro["id"])]
            sub = subscription_object(customer=customer, price=price_object(PRICES[plan]), id=sub_id,
                                      metadata={"professionalId": str(pro["id"])})
            evt = subscription_updated(sub, {"items": {}}, created=first + round_ * 100 + n % 100)
            body, headers = signed_delivery(evt, STRIPE_SECRET)
            sample = invoke("stripe_webhook", http("POST", "/api/stripe/webhook", "/api/stripe/webhook", body=body,
                                                   headers=headers))
            assert json.loads(sample.result["body"]).get("outcome") == "applied", sample.result["body"]
            samples.append(sample)
    ROWS.append((f"POST /api/stripe/webhook (customer.subscription.updated, plan change, {len(samples)} events)",
                 samples))


def bench_slots(rounds: int) -> list[str]:
    from zoneinfo import ZoneInfo

    from benchmarks.booking.__main__ import SQL_SLOTS, professional, seed_appointments
    from odys import db

    pro = professional("bench-slots", [(d, "07:00", "21:00") for d in range(7)])
    seed_appointments(pro, 2000, range(-90, 91), range(7, 21))
    first = dt.datetime.now(ZoneInfo(pro["timezone"])).date()
    last = first + dt.timedelta(days=61)
    query = {"from": first.isoformat(), "to": last.isoformat()}

    def event() -> dict:
        return http("GET", "/api/professionals/bench-slots/slots", "/api/professionals/{slug}/slots",
                    params={"slug": "bench-slots"}, query=query)

    from odys import slots

    for _ in range(10):
        invoke("slots", event())
    samples, fresh, sql_side = [], [], []
    for _ in range(rounds):  # the same page again (its slots' views cached), and as its first visitor (not cached)
        samples.append(invoke("slots", event()))
        slots._view.cache_clear()  # noqa: SLF001 - nothing of the page computed yet
        slots._day_slots.cache_clear()  # noqa: SLF001
        fresh.append(invoke("slots", event()))
        sql_side.append(METER.measure(lambda: db.scalar(SQL_SLOTS, pid=pro["id"], first=first, last=last)).total_ms)
    ROWS.append((f"GET /api/professionals/{{slug}}/slots, 62 days, 2,000 appointments ({rounds})", samples))
    ROWS.append((f"GET /api/professionals/{{slug}}/slots, the same, first visitor of the range ({rounds})", fresh))

    def ratio(measured: list[Sample]) -> str:
        handler, sql = median([s.total_ms for s in measured]), median([s.db_ms for s in measured])
        return f"handler p50 {handler:.2f} ms = **{handler / sql:.2f}× its own SQL** (p50 {sql:.2f} ms)"

    return [f"Slots ({samples[0].statements} statements, {samples[0].round_trips} round trips): the page again "
            f"{ratio(samples)}; its first visitor (its days' slots and texts not cached yet) {ratio(fresh)}; slots computed in one "
            f"SQL statement instead (benchmarks.booking's alternative): p50 {median(sql_side):.2f} ms."]


def warm_up(pros: list[dict[str, Any]], jwks: Jwks) -> None:
    """Load every function used and its plans (not measured): a few bookings, links, a status change."""
    from benchmarks.booking.__main__ import professional
    from devtools import lambdas

    pro = professional("bench-warm", [(d, "08:00", "20:00") for d in range(7)])
    starts = free_starts(pro, 5)
    for i in range(10):
        result = lambdas.invoke("booking", booking_event("bench-warm", starts[i], 900_000 + i))
        assert result["statusCode"] == 201, result
        body = json.loads(result["body"])
        token = body["manageToken"]
        lambdas.invoke("booking_manage", http("GET", f"/api/booking/{token}", "/api/booking/{token}",
                                              params={"token": token}))
    lambdas.invoke("appointment", http("PATCH", f"/api/appointments/{body['appointment']['id']}",
                                       "/api/appointments/{id}", params={"id": body["appointment"]["id"]},
                                       body={"status": "completed"}, token=jwks.token(pro["user_id"])))
    for _ in range(50):
        insert_once(-1)
    BASELINE.clear()


# --- report ---------------------------------------------------------------------------------------------------

def spread(values: list[int]) -> str:
    lo, hi, mid = min(values), max(values), median(values)
    return f"{mid:.0f}" if lo == hi else f"{mid:.0f} ({lo}–{hi})"


def table() -> list[str]:
    base = median(BASELINE)
    lines = [f"Baseline: one durable single-row INSERT, autocommit, `db.run` (1 round trip), interleaved after every "
             f"request: p50 **{base:.2f} ms**, p99 "
             f"{pct(BASELINE, 99):.2f} ms ({len(BASELINE)} INSERTs).", "",
             "Each row's ratio is to the INSERTs interleaved with that row's own requests (a checkpoint or a busy "
             "neighbour moves both).", "",
             "| path | n | statements | round trips | p50 ms | p99 ms | DB p50 ms | outside DB p50 ms | "
             "INSERT p50 ms (this row) | **p50 / INSERT** |", "|---|---|---|---|---|---|---|---|---|---|"]
    for name, samples in ROWS:
        total = [s.total_ms for s in samples]
        own = median([s.baseline_ms for s in samples])  # type: ignore[attr-defined]
        lines.append(f"| {name} | {len(samples)} | {spread([s.statements for s in samples])} | "
                     f"{spread([s.round_trips for s in samples])} | {median(total):.2f} | {pct(total, 99):.2f} | "
                     f"{median([s.db_ms for s in samples]):.2f} | {median([s.outside_db_ms for s in samples]):.2f} | "
                     f"{own:.2f} | **{median(total) / own:.1f}×** |")
    waits = sum(s.waits for _, samples in ROWS for s in samples)
    trips = sum(s.round_trips for _, samples in ROWS for s in samples)
    statements = sum(s.statements for _, samples in ROWS for s in samples)
    lines += ["", f"Round trips counted on the socket: {trips:,}. Statements: {statements:,}; ReadyForQuery waits "
                  f"(`odys.db.Connection.handle_messages`): {waits:,} (each statement of a pipeline ends with its "
                  f"own Sync; a transaction's deferred writes and its COMMIT share one; several Syncs share a round "
                  f"trip)."]
    return lines


def statement_list(name: str, samples: list[Sample]) -> list[str]:
    """The most common statement sequence of ``samples``, each statement's median time and its round trips."""
    shapes = Counter(tuple(label(step.sql, 60) for step in s.trace) for s in samples)
    shape, seen = shapes.most_common(1)[0]
    same = [s for s in samples if tuple(label(step.sql, 60) for step in s.trace) == shape]
    lines = [f"Statements of one {name} ({seen} of {len(samples)} requests ran exactly this sequence; "
             f"median ms of each over them):", "", "| # | statement | round trips | median ms |", "|---|---|---|---|"]
    trace = same[len(same) // 2].trace
    starts = [i for i, step in enumerate(trace) if step.sql == "START TRANSACTION"]
    shown = starts[1] if name.startswith("whatsapp_sender") and len(starts) > 1 else len(trace)
    for i, step in enumerate(trace[:shown]):
        ms = median([s.trace[i].ms for s in same])
        lines.append(f"| {i + 1} | `{label(step.sql)}` | {step.round_trips} | {ms:.3f} |")
    if shown < len(trace):
        lines.append(f"| … | the same for each further record of the batch ({len(trace) - shown} more statements; a "
                     f"record whose client's wa_id is new adds `UPDATE clients SET wa_id`) | | |")
    lines.append(f"| | **sum** | **{sum(st.round_trips for st in same[0].trace)}** | "
                 f"**{sum(median([s.trace[i].ms for s in same]) for i in range(len(shape))):.3f}** |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--professionals", type=int, default=50)
    parser.add_argument("--bookings", type=int, default=300)
    parser.add_argument("--stripe-rounds", type=int, default=4, help="Stripe events per professional")
    parser.add_argument("--slots-rounds", type=int, default=100)
    parser.add_argument("--tcp", action="store_true", help="loopback TCP instead of the unix socket")
    args = parser.parse_args()
    server, jwks, double = start(args.tcp)
    METER.install()
    try:
        from odys import db

        print(f"Python {platform.python_version()}, PostgreSQL {db.scalar('SHOW server_version')} (fsync, "
              f"synchronous_commit, full_page_writes on; {'TCP' if args.tcp else 'unix socket'}), "
              f"{os.cpu_count()} CPUs, {dt.datetime.now(UTC):%Y-%m-%d %H:%M} UTC\n", flush=True)
        pros = seed_professionals(args.professionals)
        warm_up(pros, jwks)
        sections: list[list[str]] = []
        booked, starts = bench_bookings(pros, args.bookings)
        bench_sender(double)
        bench_meta_webhook(double, booked)
        left = bench_manage(booked, starts)
        bench_status_change(left, jwks)
        bench_stripe(pros, args.stripe_rounds)
        slots_note = bench_slots(args.slots_rounds)
        sections += [table(), slots_note, bench_prepared(300)]
        for name, samples in ROWS:
            if name.startswith(("POST /api/booking", "GET /api/booking", "PATCH /api/booking/{token} resch",
                                "PATCH /api/appointments", "POST /api/stripe", "POST /api/whatsapp",
                                "whatsapp_sender")):
                sections.append(statement_list(name.split(" (")[0], samples))
        for section in sections:
            print("\n".join(section) + "\n", flush=True)
    finally:
        from odys import db

        db.close()
        server.stop()
        double.stop()
        jwks.stop()


if __name__ == "__main__":
    main()
