"""Cold start of every function of template.yaml, beside a Powertools hello-world, in fresh processes.

    .venv/bin/python -m benchmarks.coldstart [--rounds 7]

For each function: a fresh interpreter imports its handler module and answers one request (its first route, with
the demo professional's token, against a throwaway PostgreSQL seeded like `make dev`). Reports the median import
time, first-request time and process-start-to-answer time, and which heavy packages the process loaded. Rounds are
interleaved across functions so machine noise spreads evenly. It also measures the two ways of reading the secret
bundle (Lambda extension over localhost HTTP vs Powertools Parameters/boto3), both against local stand-ins.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "layers" / "shared"), str(ROOT)]

# What each function may load: a function that is not listed here must load neither stripe nor groq. ai_chat is not
# listed: it imports groq only when a request reaches Groq (benchmarks/ai_chat measures that first call).
ALLOWED_HEAVY = {"stripe_checkout": {"stripe"}, "stripe_portal": {"stripe"}, "stripe_webhook": {"stripe"}}


def _child(args: list[str], env: dict[str, str]) -> dict:
    out = subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, env=env, cwd=ROOT, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _events(token: str) -> dict[str, dict]:
    from devtools import lambdas
    from devtools.seed import DEMO_SLUG

    events: dict[str, dict] = {}
    for route in sorted(lambdas.load_routes(), key=lambda r: (r.method != "GET", r.path)):
        if route.function in events:
            continue
        params = {name: (DEMO_SLUG if name == "slug" else str(uuid.uuid4()))
                  for name in __import__("re").findall(r"\{(\w+)\}", route.path)}
        path = route.path
        for name, value in params.items():
            path = path.replace("{" + name + "}", value)
        body = None if route.method in ("GET", "DELETE") else {}
        events[route.function] = lambdas.http_event(route.method, path, route_path=route.path,
                                                    path_parameters=params or None, body=body,
                                                    headers={"authorization": f"Bearer {token}"})
    return events


def _secrets_stand_ins() -> tuple[str, str, callable]:
    """A moto server (Secrets Manager API, for boto3) and an extension stand-in reading from it."""
    from moto.server import ThreadedMotoServer
    import boto3

    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    moto_url = f"http://127.0.0.1:{moto._server.server_port}"
    client = boto3.client("secretsmanager", endpoint_url=moto_url, region_name="us-east-1",
                          aws_access_key_id="x", aws_secret_access_key="x")
    arn = client.create_secret(Name="odys/bench", SecretString=json.dumps({"STRIPE_SECRET_KEY": "sk_test_bench"}))["ARN"]

    class Extension(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            value = client.get_secret_value(SecretId=arn)
            data = json.dumps({"ARN": arn, "SecretString": value["SecretString"]}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *a) -> None:
            pass

    ext = ThreadingHTTPServer(("127.0.0.1", 0), Extension)
    threading.Thread(target=ext.serve_forever, daemon=True).start()

    def stop() -> None:
        ext.shutdown()
        moto.stop()

    return moto_url, f"http://127.0.0.1:{ext.server_address[1]}", arn, stop


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()

    from devtools.pg import PostgresServer
    from devtools.server import DEV_JWT_SECRET
    from devtools import seed
    from devtools.tokens import mint_token

    pg = PostgresServer(Path(tempfile.mkdtemp(prefix="odys-bench-")).resolve()).start()
    os.chmod(pg.base.parent, 0o755)
    try:
        pg.create_database("odys_bench")
        env = {**os.environ, "DATABASE_URL": pg.url("odys_bench"), "ODYS_STAGE": "dev",
               "SUPABASE_JWT_SECRET": DEV_JWT_SECRET, "BOOKING_TOKEN_SECRET": "bench-booking-secret-0123456789",
               "POWERTOOLS_SERVICE_NAME": "odys", "POWERTOOLS_METRICS_NAMESPACE": "Odys",
               "POWERTOOLS_LOG_LEVEL": "ERROR", "POWERTOOLS_TRACE_DISABLED": "true", "PYTHONDONTWRITEBYTECODE": "0",
               "AWS_DEFAULT_REGION": "us-east-1", "STRIPE_SECRET_KEY": "sk_test_bench",
               "STRIPE_WEBHOOK_SECRET": "whsec_bench"}
        for leaked in ("UPSTASH_REDIS_REST_URL", "UPSTASH_REDIS_REST_TOKEN", "ODYS_SECRETS_ID"):
            env.pop(leaked, None)
        os.environ.update({k: env[k] for k in ("DATABASE_URL", "ODYS_STAGE", "SUPABASE_JWT_SECRET")})
        from odys import migrate

        migrate.apply_pending()
        seed.seed_demo()
        events = _events(mint_token(seed.DEMO_USER_ID, secret=DEV_JWT_SECRET))
        targets = ["--hello", *events]
        hello_event = __import__("devtools.lambdas", fromlist=["http_event"]).http_event("GET", "/hello")
        samples: dict[str, list[dict]] = {t: [] for t in targets}
        for target in targets:  # warm the OS page cache and .pyc files once
            _child(["benchmarks.coldstart.child", target, json.dumps(events.get(target, hello_event))], env)
        for _ in range(args.rounds):
            for target in targets:
                samples[target].append(_child(["benchmarks.coldstart.child", target,
                                               json.dumps(events.get(target, hello_event))], env))

        def med(target: str, key: str) -> float:
            return statistics.median(s[key] for s in samples[target])

        base = med("--hello", "total_ms")
        print(f"cold start, median of {args.rounds} fresh processes (python {sys.version.split()[0]}, "
              f"{os.cpu_count()} CPUs)\n")
        print(f"{'function':<24}{'import ms':>10}{'1st req ms':>11}{'total ms':>10}{'vs hello':>10}  status  heavy imports")
        violations = []
        for target in targets:
            name = "hello-world (baseline)" if target == "--hello" else target
            heavy = samples[target][-1]["heavy"]
            print(f"{name:<24}{med(target, 'import_ms'):>10.1f}{med(target, 'first_ms'):>11.1f}"
                  f"{med(target, 'total_ms'):>10.1f}{med(target, 'total_ms') - base:>+10.1f}  "
                  f"{samples[target][-1]['status']!s:>6}  {', '.join(heavy) or '-'}")
            forbidden = {"stripe", "groq"} - ALLOWED_HEAVY.get(target, set()) if target != "--hello" else set()
            if forbidden & set(heavy):
                violations.append(f"{target} imports {sorted(forbidden & set(heavy))}")

        moto_url, ext_url, arn, stop = _secrets_stand_ins()
        try:
            ways = {"extension": ext_url, "powertools": moto_url}
            secret_samples: dict[str, list[dict]] = {w: [] for w in ways}
            for _ in range(args.rounds):
                for way, url in ways.items():
                    secret_env = {**env, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}
                    secret_env.pop("STRIPE_SECRET_KEY")  # must come from the bundle, not the environment
                    secret_samples[way].append(_child(["benchmarks.coldstart.secrets_child", way, url, arn],
                                                      secret_env))
            print("\nreading the secret bundle cold (median ms): import + first fetch, local stand-ins")
            for way, rows in secret_samples.items():
                label = {"extension": "Lambda extension (odys.config, urllib)",
                         "powertools": "Powertools Parameters (boto3 client)"}[way]
                print(f"  {label:<42} import {statistics.median(r['import_ms'] for r in rows):7.1f}  "
                      f"fetch {statistics.median(r['fetch_ms'] for r in rows):7.1f}  "
                      f"total {statistics.median(r['total_ms'] for r in rows):7.1f}")
        finally:
            stop()
        if violations:
            print("\nFAIL: " + "; ".join(violations))
            sys.exit(1)
    finally:
        from odys import db

        db.close()
        pg.stop()


if __name__ == "__main__":
    main()
