"""Cold start of every HTTP function of template.yaml, beside issue 14's baseline, in fresh processes.

    .venv/bin/python -m benchmarks.coldstart [--rounds 7] [--only account,slots] [--layer /tmp/base] [--no-secrets]

The baseline is the Powertools hello-world (``hello.py``: resolver + Logger + one pydantic model) plus
``import pg8000.native``; the hello-world alone is shown too. For each function with an HttpApi event a fresh
interpreter imports ``functions/<name>/app.py`` and answers one request of its first route (GET preferred), as
``benchmarks.memory`` builds them: the demo professional (``devtools.seed``) with an ES256 token verified through
a JWKS endpoint served here (the token kind Supabase issues to new projects, so the first request fetches the key
set), real ids for ``{slug}``, ``{token}``, appointment and client ids, a real booking for ``POST /api/booking``
(its confirmation goes to moto's SQS server, so boto3 loads as in AWS); other path ids are random and bodies
``{}`` (404/422 after the auth, parsing and connection work a real request does). PostgreSQL is ``devtools.pg``
(unix socket); rate limits run in memory.

Reported per function: the median import time, first-request time and process-start-to-answer time, the ratio of
that total to the baseline's (goal: ≤ 1.2), the same ratio of the process's CPU time (user + system: on a shared VM
it moves less than wall time, which waits for the other tenants), the status and which heavy packages the process
had loaded. Each round runs every process once in a shuffled order, with the baseline again every 8th process (the
load drifts within a round), after one warm-up round that writes the ``.pyc`` files. ``--layer`` runs every function also against another copy of ``functions/`` and
``layers/`` (e.g. ``git archive HEAD functions layers | tar -x -C /tmp/base``), in the same rounds. The run fails
if a function other than the Stripe ones loads ``stripe``, or any loads ``groq``; a ratio over 1.2 is reported,
not failed. It also measures the two ways of reading the secret bundle (Lambda extension over localhost HTTP vs
Powertools Parameters/boto3), both against local stand-ins.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "layers" / "shared"), str(ROOT)]

GOAL = 1.2  # issue 14: every HTTP function within 1.2x the baseline
# What each function may load: a function that is not listed here must load neither stripe nor groq. ai_chat is not
# listed: it imports groq only when a request reaches Groq (benchmarks/ai_chat measures that first call).
ALLOWED_HEAVY = {"stripe_checkout": {"stripe"}, "stripe_portal": {"stripe"}, "stripe_webhook": {"stripe"}}
BASELINES = {"--baseline": "hello + pg8000 (baseline)", "--hello": "hello-world alone"}


def _child(args: list[str], env: dict[str, str]) -> dict:
    out = subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, env=env, cwd=ROOT)
    if out.returncode:
        raise RuntimeError(f"{args[1]} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _secrets_stand_ins() -> tuple[str, str, str, callable]:
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


def _secrets(env: dict[str, str], rounds: int) -> None:
    moto_url, ext_url, arn, stop = _secrets_stand_ins()
    try:
        ways = {"extension": ext_url, "powertools": moto_url}
        samples: dict[str, list[dict]] = {w: [] for w in ways}
        for _ in range(rounds):
            for way, url in ways.items():
                secret_env = {**env, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}
                secret_env.pop("STRIPE_SECRET_KEY")  # must come from the bundle, not the environment
                samples[way].append(_child(["benchmarks.coldstart.secrets_child", way, url, arn], secret_env))
        print("\nreading the secret bundle cold (median ms): import + first fetch, local stand-ins")
        for way, rows in samples.items():
            label = {"extension": "Lambda extension (odys.config, http.client)",
                     "powertools": "Powertools Parameters (boto3 client)"}[way]
            print(f"  {label:<42} import {statistics.median(r['import_ms'] for r in rows):7.1f}  "
                  f"fetch {statistics.median(r['fetch_ms'] for r in rows):7.1f}  "
                  f"total {statistics.median(r['total_ms'] for r in rows):7.1f}")
    finally:
        stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--only", help="comma-separated function names")
    parser.add_argument("--layer", type=Path, help="another tree holding functions/ and layers/, measured beside")
    parser.add_argument("--no-secrets", action="store_true", help="skip the secret-bundle comparison")
    args = parser.parse_args()

    from benchmarks.memory.__main__ import demo_world
    from devtools import lambdas

    with demo_world("coldstart", stage="dev", PYTHONDONTWRITEBYTECODE="0") as (env, events, work):
        wanted = args.only.split(",") if args.only else list(events)
        hello = lambdas.http_event("GET", "/hello")
        trees = {"now": None, **({"layer": args.layer.resolve()} if args.layer else {})}
        jobs = [(b, None) for b in BASELINES] + [(f, t) for f in wanted for t in trees]
        served: dict[str, int] = {}  # a function with several events (booking) gets the next one each process

        def run(target: str, tree: str | None) -> dict:
            queue = events.get(target, [hello])
            path = work / f"{target.strip('-')}-{served.get(target, 0)}.json"
            path.write_text(json.dumps(queue[served.get(target, 0) % len(queue)]))
            served[target] = served.get(target, 0) + 1
            return _child(["benchmarks.coldstart.child", target, str(path),
                           *([str(trees[tree])] if tree and trees[tree] else [])], env)

        for target, tree in jobs:  # warm the OS page cache and .pyc files once
            run(target, tree)
        samples: dict[tuple[str, str | None], list[dict]] = {job: [] for job in jobs}
        order, baseline = random.Random(14), ("--baseline", None)
        for _ in range(args.rounds):  # each round in its own order, the baseline every 8th process: the load drifts
            for i, job in enumerate(order.sample(jobs, len(jobs))):
                samples[job].append(run(*job))
                if i % 8 == 7:
                    samples[baseline].append(run(*baseline))

        def med(job: tuple[str, str | None], key: str) -> float:
            return statistics.median(s[key] for s in samples[job])

        base, base_cpu = med(baseline, "total_ms"), med(baseline, "cpu_ms")
        print(f"cold start, median of {args.rounds} fresh processes (python {sys.version.split()[0]}, "
              f"{os.cpu_count()} CPUs); ratio = median total / the baseline's ({base:.1f} ms); cpu ratio = median CPU "
              f"time of the process / the baseline's ({base_cpu:.1f} ms); goal <= {GOAL}\n")
        print(f"{'function':<30}{'import ms':>10}{'1st req ms':>11}{'total ms':>10}{'ratio':>7}{'cpu ms':>9}"
              f"{'cpu ratio':>10}  status  heavy imports")
        violations, over = [], []
        for job in jobs:
            target, tree = job
            name = BASELINES.get(target, target) + (f" [{tree}]" if tree and args.layer else "")
            ratio, cpu_ratio = med(job, "total_ms") / base, med(job, "cpu_ms") / base_cpu
            last = samples[job][-1]
            flag = " !" if max(ratio, cpu_ratio) > GOAL and target not in BASELINES else "  "
            print(f"{name:<30}{med(job, 'import_ms'):>10.1f}{med(job, 'first_ms'):>11.1f}"
                  f"{med(job, 'total_ms'):>10.1f}{ratio:>7.2f}{med(job, 'cpu_ms'):>9.1f}{cpu_ratio:>10.2f}{flag}"
                  f"{last['status']!s:>5}  {', '.join(last['heavy']) or '-'}")
            if target not in BASELINES and tree == "now":
                forbidden = {"stripe", "groq"} - ALLOWED_HEAVY.get(target, set())
                if forbidden & set(last["heavy"]):
                    violations.append(f"{target} imports {sorted(forbidden & set(last['heavy']))}")
                if max(ratio, cpu_ratio) > GOAL:
                    over.append(target)
        for key, label, of in (("total_ms", "ratio", base), ("cpu_ms", "cpu ratio", base_cpu)):
            now = sorted(med((f, "now"), key) / of for f in wanted)
            print(f"\n{len(wanted)} functions, {label}: median {statistics.median(now):.2f}, worst {now[-1]:.2f}", end="")
        print(f"\nover {GOAL} (either ratio): {', '.join(over) or 'none'}")
        if not args.no_secrets:
            _secrets(env, args.rounds)
        if violations:
            print("\nFAIL: " + "; ".join(violations))
            sys.exit(1)


if __name__ == "__main__":
    main()
