"""cron_reminders over 10,000 due appointments, against a throwaway PostgreSQL and moto's SQS.

    .venv/bin/python -m benchmarks.reminders [--appointments 10000] [--professionals 400]

Seeds N professionals (São Paulo, Manaus, Noronha in turn), each with its share of clients and appointments
tomorrow (in its own zone), then invokes the real handler once with an EventBridge Scheduler event and reports:
duration, SQL round trips (every pg8000 ``Connection.run``), outbox rows per second, the SQS SendMessageBatch
calls (counted and answered locally: moto's in-process SQS slows down to seconds per call
with thousands of delayed messages, which says nothing about SQS); a second run (the scheduler's retry: nothing new); and, in the same run, one bulk ``INSERT … SELECT`` of
the same rows (the rows the handler wrote, copied into a scratch table of the same shape) as the floor.
The database is devtools.pg.PostgresServer (unix socket, fsync off, synchronous_commit off).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "layers" / "shared"), str(ROOT)]
UTC = dt.timezone.utc
ZONES = ("America/Sao_Paulo", "America/Manaus", "America/Noronha")


class Meter:
    """Counts SQL round trips (each ``odys.db.Connection.pipeline`` or ``batch`` is one) and SQS SendMessageBatch
    calls."""

    def __init__(self) -> None:
        self.sql = 0
        self.sqs = 0

    def install(self) -> None:
        from odys import queue
        from odys.db import Connection

        meter = self

        def counted(send):
            def exchange(self, *args, **kwargs):
                meter.sql += 1
                return send(self, *args, **kwargs)

            return exchange

        Connection.pipeline = counted(Connection.pipeline)
        Connection.batch = counted(Connection.batch)
        client = queue._sqs()

        def batch(**kwargs):  # counted, answered locally: moto's in-process SQS slows down with thousands of
            meter.sqs += 1    # delayed messages (seconds per call), which says nothing about SQS
            return {"Successful": [{"Id": e["Id"]} for e in kwargs["Entries"]]}

        client.send_message_batch = batch

    def reset(self) -> None:
        self.sql = self.sqs = 0


def seed(appointments: int, professionals: int, at: dt.datetime) -> None:
    from zoneinfo import ZoneInfo

    from odys import db

    per = -(-appointments // professionals)
    for i in range(professionals):
        tz = ZONES[i % len(ZONES)]
        pid = db.scalar("INSERT INTO professionals (user_id, name, slug, phone, email, profession, timezone, plan) "
                        "VALUES (:u, :n, :s, :ph, :e, 'Psicóloga', :tz, 'pro') RETURNING id::text",
                        u=f"bench-{i}", n=f"Profissional {i}", s=f"bench-{i:04d}", ph=f"+55119{10_000_000 + i}",
                        e=f"p{i}@example.com", tz=tz)
        count = min(per, appointments - i * per)
        if count <= 0:
            continue
        day = at.astimezone(ZoneInfo(tz)).date() + dt.timedelta(days=1)
        first = dt.datetime.combine(day, dt.time(6), ZoneInfo(tz))
        # one client per appointment, then every 10th appointment is given to the previous client
        db.run("INSERT INTO clients (professional_id, name, phone) SELECT CAST(:p AS uuid), 'Cliente ' || k, "
               "'+55219' || lpad((CAST(:base AS bigint) + k)::text, 8, '0') FROM generate_series(0, :n - 1) k",
               p=pid, base=i * 1000, n=count)
        db.run("INSERT INTO appointments (professional_id, client_id, starts_at, ends_at, status, created_at) "
               "SELECT CAST(:p AS uuid), c.id, CAST(:first AS timestamptz) + k * interval '30 minutes', "
               "CAST(:first AS timestamptz) + k * interval '30 minutes' + interval '25 minutes', 'confirmed', "
               "CAST(:at AS timestamptz) - interval '2 days' "
               "FROM (SELECT id, row_number() OVER (ORDER BY phone) - 1 AS k FROM clients "
               "      WHERE professional_id = CAST(:p AS uuid)) c ", p=pid, first=first, at=at)
        # every 10th appointment moves to the previous client: a client with two appointments tomorrow
        db.run("UPDATE appointments a SET client_id = prev.id FROM ("
               " SELECT id, lag(id) OVER (ORDER BY phone) AS prev_id, row_number() OVER (ORDER BY phone) AS n "
               " FROM clients WHERE professional_id = CAST(:p AS uuid)) c "
               "JOIN clients prev ON prev.id = c.prev_id WHERE a.client_id = c.id AND c.n % 10 = 0", p=pid)
    db.run("ANALYZE")


def bulk_floor() -> tuple[float, int]:
    """One INSERT … SELECT of the same rows into a scratch copy of messages (same columns, unique dedupe_key)."""
    from odys import db

    db.run("DROP TABLE IF EXISTS bench_messages")
    db.run("CREATE TABLE bench_messages (LIKE messages INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES)")
    start = time.perf_counter()
    n = len(db.run("INSERT INTO bench_messages SELECT * FROM messages WHERE template = 'msgReminder24h' "
                   "ON CONFLICT (dedupe_key) DO NOTHING RETURNING id"))
    return time.perf_counter() - start, n


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--appointments", type=int, default=10_000)
    parser.add_argument("--professionals", type=int, default=400)
    args = parser.parse_args()

    os.environ.update({"ODYS_STAGE": "test", "POWERTOOLS_SERVICE_NAME": "odys", "POWERTOOLS_LOG_LEVEL": "WARNING",
                       "BOOKING_TOKEN_SECRET": "bench-booking-secret-0123456789-0123456789",
                       "AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
                       "AWS_SECRET_ACCESS_KEY": "testing"})
    os.environ.pop("POWERTOOLS_METRICS_NAMESPACE", None)
    from devtools.local_sqs import LocalQueue, unique_name
    from devtools.pg import PostgresServer

    server = PostgresServer(Path(tempfile.mkdtemp(prefix="odys-bench-reminders-"))).start()
    local = LocalQueue(unique_name("odys-bench")).start()
    try:
        server.create_database("odys_bench")
        os.environ["DATABASE_URL"] = server.url("odys_bench")
        os.environ.update(local.environment())
        from devtools import lambdas
        from odys import db, migrate

        migrate.apply_pending()
        at = (dt.datetime.now(UTC) + dt.timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
        t0 = time.perf_counter()
        seed(args.appointments, args.professionals, at)
        print(f"seeded {args.appointments:,} appointments over {args.professionals} professionals "
              f"({', '.join(ZONES)}) in {time.perf_counter() - t0:.1f} s")
        event = {"scheduledTime": at.strftime("%Y-%m-%dT%H:%M:%SZ")}
        lambdas.load_function("cron_reminders")
        meter = Meter()
        meter.install()
        for label in ("first run", "second run (retry)"):
            meter.reset()
            start = time.perf_counter()
            result = lambdas.invoke("cron_reminders", event)
            took = time.perf_counter() - start
            rows = result["reminders"] + result["dailyAgendas"]
            print(f"{label:20s} {took * 1000:8.0f} ms  SQL round trips {meter.sql:4d}  SendMessageBatch "
                  f"{meter.sqs:5d}  outbox rows {rows:6,}  rows/s {rows / took:8,.0f}  enqueued {result['enqueued']:,}")
        delayed = db.scalar("SELECT count(*) FROM messages WHERE enqueued_at > created_at + interval '30 seconds'")
        print(f"paced (a second message to the same phone, enqueued_at later): {delayed:,}")
        meter.reset()
        took, n = bulk_floor()
        print(f"{'one bulk INSERT':20s} {took * 1000:8.0f} ms  SQL round trips 1 (+ scratch table setup)  "
              f"rows {n:,}  rows/s {n / took:8,.0f}")
        db.close()
    finally:
        local.stop()
        server.stop()


if __name__ == "__main__":
    main()
