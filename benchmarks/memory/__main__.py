"""Peak memory of every HTTP function of template.yaml after its first and its hundredth request, fresh processes.

    .venv/bin/python -m benchmarks.memory [--only account,booking]

For each function with an HttpApi event, a fresh interpreter (benchmarks/memory/child.py, one execution
environment) imports ``functions/<name>/app.py`` and answers 100 requests of its first route (GET preferred, as
benchmarks.coldstart picks it), reporting the resident high-water mark (``VmHWM``), the resident size (``VmRSS``)
and ``ru_maxrss`` after the import, the first and the hundredth request, beside the function's ``MemorySize``.

Requests are real where the seed allows: the demo professional (``devtools.seed``) with an ES256 token verified
through a JWKS endpoint (the token kind Supabase issues to new projects), real ids for ``{slug}``, ``{token}``,
appointment and client ids, 100 distinct real bookings for ``POST /api/booking``; other path ids are random and
bodies ``{}`` (404/422 after the auth, parsing and connection work a real request does). The WhatsApp queue is
moto's SQS server (``devtools.local_sqs``), so a function that enqueues loads boto3 as in AWS. PostgreSQL is
``devtools.pg`` (unix socket).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "layers" / "shared"), str(ROOT)]


# Linux carries a process's ru_maxrss over fork and exec: children forked by this (by then ~110 MB) process would
# all report at least its size. They are started by this small process instead, launched before anything heavy.
SPAWNER = """
import json, subprocess, sys
for line in sys.stdin:
    job = json.loads(line)
    out = subprocess.run(job["args"], cwd=job["cwd"], env=job["env"], capture_output=True, text=True)
    print(json.dumps({"returncode": out.returncode, "stdout": out.stdout, "stderr": out.stderr}), flush=True)
"""


class Spawner:
    def __init__(self) -> None:
        self.process = subprocess.Popen([sys.executable, "-c", SPAWNER], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True)

    def run(self, args: list[str], env: dict[str, str]) -> dict[str, Any]:
        assert self.process.stdin and self.process.stdout
        self.process.stdin.write(json.dumps({"args": args, "cwd": str(ROOT), "env": env}) + "\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def stop(self) -> None:
        assert self.process.stdin
        self.process.stdin.close()
        self.process.wait(10)


def _ids(demo_user: str) -> dict[str, Any]:
    """Real ids of the demo's data: a booking made through the handler gives an appointment, a client, a link."""
    from benchmarks.booking.__main__ import _free_starts
    from devtools import lambdas
    from devtools.seed import DEMO_SLUG
    from odys.store import professionals

    pro = professionals.by_slug(DEMO_SLUG)
    starts = _free_starts(pro, 60)
    assert len(starts) > 101, "the demo needs more free slots"
    answer = lambdas.invoke("booking", lambdas.http_event("POST", "/api/booking", body={
        "slug": DEMO_SLUG, "startsAt": starts[0], "client": {"name": "Bia Bench", "phone": "+5511988880000"}}))
    assert answer["statusCode"] == 201, answer
    body = json.loads(answer["body"])
    from odys import db

    client = str(db.scalar("SELECT client_id FROM appointments WHERE id = :id", id=body["appointment"]["id"]))
    return {"appointment": body["appointment"]["id"], "client": client, "token": body["manageToken"],
            "slug": DEMO_SLUG, "starts": starts[1:101]}


def _value(route: str, name: str, ids: dict[str, Any]) -> str:
    if name == "slug":
        return ids["slug"]
    if name == "token" and route.startswith("/api/booking/"):
        return ids["token"]
    if name == "id" and route.startswith("/api/appointments/"):
        return ids["appointment"]
    if name == "id" and route.startswith("/api/clients/"):
        return ids["client"]
    return str(uuid.uuid4())


def _events(token: str, ids: dict[str, Any]) -> dict[str, list[dict]]:
    """The 100 (or one repeated) events of each HTTP function."""
    from devtools import lambdas

    events: dict[str, list[dict]] = {}
    for route in sorted(lambdas.load_routes(), key=lambda r: (r.method != "GET", r.path)):
        if route.function in events:
            continue
        params = {n: _value(route.path, n, ids) for n in re.findall(r"\{(\w+)\}", route.path)}
        path = route.path
        for name, value in params.items():
            path = path.replace("{" + name + "}", value)
        if route.function == "booking":
            events["booking"] = [lambdas.http_event("POST", "/api/booking", source_ip=f"10.9.{i}.1", body={
                "slug": ids["slug"], "startsAt": at, "client": {"name": f"Cliente {i}", "phone": f"+55119{i:08d}"}})
                for i, at in enumerate(ids["starts"])]
            continue
        body = None if route.method in ("GET", "DELETE") else {}
        events[route.function] = [lambdas.http_event(route.method, path, route_path=route.path,
                                                     path_parameters=params or None, body=body,
                                                     headers={"authorization": f"Bearer {token}"})]
    return events


@contextlib.contextmanager
def demo_world(name: str, *, stage: str, **extra: str) -> Iterator[tuple[dict[str, str], dict[str, list[dict]], Path]]:
    """What a benchmark's child processes run against, for the ``with`` block: a PostgreSQL (``devtools.pg``) whose
    ``odys_bench`` database is migrated and seeded like ``make dev``, moto's SQS server, an ES256 JWKS endpoint.
    Yields the environment (also set in this process, ``extra`` added), the events of every HTTP function
    (``_events``, with the demo professional's ES256 token) and a directory for the children's event files;
    everything is stopped when the block ends."""
    from benchmarks.jwks import Jwks
    from devtools.local_sqs import LocalQueue, unique_name
    from devtools.pg import PostgresServer

    jwks = Jwks().start()
    local = LocalQueue(unique_name(f"odys-bench-{name}")).start()
    pg = PostgresServer(Path(tempfile.mkdtemp(prefix=f"odys-bench-{name}-")).resolve()).start()
    os.chmod(pg.base.parent, 0o755)
    try:
        pg.create_database("odys_bench")
        env = {**os.environ, **local.environment(), "DATABASE_URL": pg.url("odys_bench"), "ODYS_STAGE": stage,
               "SUPABASE_JWKS_URL": jwks.jwks_url, "SUPABASE_JWT_SECRET": "bench-jwt-secret-0123456789-0123456789",
               "BOOKING_TOKEN_SECRET": "bench-booking-secret-0123456789-0123456789",
               "POWERTOOLS_SERVICE_NAME": "odys", "POWERTOOLS_METRICS_NAMESPACE": "Odys",
               "POWERTOOLS_LOG_LEVEL": "ERROR", "POWERTOOLS_TRACE_DISABLED": "true",
               "STRIPE_SECRET_KEY": "sk_test_bench", "STRIPE_WEBHOOK_SECRET": "whsec_bench", **extra}
        for leaked in ("UPSTASH_REDIS_REST_URL", "UPSTASH_REDIS_REST_TOKEN", "ODYS_SECRETS_ID"):
            env.pop(leaked, None)
        os.environ.update(env)
        from devtools import seed
        from odys import db, migrate

        migrate.apply_pending()
        seed.seed_demo()
        events = _events(jwks.token(seed.DEMO_USER_ID), _ids(seed.DEMO_USER_ID))
        db.close()
        yield env, events, Path(tempfile.mkdtemp(prefix=f"odys-bench-{name}-events-"))
    finally:
        from odys import db

        db.close()
        pg.stop()
        local.stop()
        jwks.stop()


def _memory_sizes() -> dict[str, int]:
    from devtools import lambdas

    template = lambdas.load_template()
    default = ((template.get("Globals") or {}).get("Function") or {}).get("MemorySize", 128)
    return {lambdas.function_name(r["Properties"]["CodeUri"]): int(r["Properties"].get("MemorySize", default))
            for r in template["Resources"].values() if r.get("Type") == "AWS::Serverless::Function"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated function names")
    args = parser.parse_args()
    spawner = Spawner()
    try:
        with demo_world("memory", stage="test") as (env, events, work):
            sizes = _memory_sizes()
            wanted = args.only.split(",") if args.only else list(events)
            print(f"memory of one execution environment (python {sys.version.split()[0]}), MiB\n")
            print("| function | MemorySize | VmHWM after import | 1st request: VmHWM / VmRSS / ru_maxrss | "
                  "100th: VmHWM / VmRSS / ru_maxrss | peak / MemorySize | statuses |")
            print("|---|---|---|---|---|---|---|")
            for name in wanted:
                path = work / f"{name}.json"
                path.write_text(json.dumps(events[name]))
                out = spawner.run([sys.executable, "-m", "benchmarks.memory.child", name, str(path)], env)
                if out["returncode"] != 0:
                    print(f"| {name} | {sizes.get(name)} | failed: {out['stderr'].strip().splitlines()[-1]} |||||||")
                    continue
                r = json.loads(out["stdout"].strip().splitlines()[-1])
                statuses = ", ".join(f"{k}×{v}" for k, v in sorted(r["statuses"].items()))
                first, last = r["first"], r["last"]
                print(f"| {name} | {sizes.get(name)} | {r['imported']['hwm']:.1f} | "
                      f"{first['hwm']:.1f} / {first['rss']:.1f} / {first['maxrss']:.1f} | "
                      f"{last['hwm']:.1f} / {last['rss']:.1f} / {last['maxrss']:.1f} | "
                      f"{last['hwm'] / sizes.get(name, 1) * 100:.0f} % | {statuses} |", flush=True)
    finally:
        spawner.stop()


if __name__ == "__main__":
    main()
