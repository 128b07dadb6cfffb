"""What sending on WhatsApp costs a function: the first SQS enqueue of a producer, the first Cloud API send of the
sender, each in fresh processes against local stand-ins (moto's SQS server, the Cloud API double).

    .venv/bin/python -m benchmarks.whatsapp [--rounds 7]

For each: the median over fresh processes of the import, the first call (boto3 / http.client loaded and the
connection opened on first use) and the second call in the same process (the baseline: the call alone).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "layers" / "shared"), str(ROOT)]


def _run(what: str, env: dict[str, str], rounds: int) -> dict[str, float]:
    results = []
    for _ in range(rounds + 1):  # one warm-up round writes the .pyc files
        out = subprocess.run([sys.executable, "-m", "benchmarks.whatsapp.child", what], cwd=ROOT, env=env,
                             capture_output=True, text=True, check=True).stdout
        results.append(json.loads(out.strip().splitlines()[-1]))
    results = results[1:]
    assert not any(r["boto3_at_import"] for r in results), "a producer must not import boto3 at cold start"
    return {key: statistics.median(r[key] for r in results) for key in ("import_ms", "first_ms", "second_ms")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    from devtools.local_sqs import LocalQueue
    from devtools.whatsapp_double import WhatsAppDouble

    queue = LocalQueue("odys-bench").start()
    double = WhatsAppDouble(token="bench-token").start()
    try:
        env = {**os.environ, **queue.environment(), "ODYS_STAGE": "test", "WHATSAPP_GRAPH_URL": double.url,
               "WHATSAPP_TOKEN": "bench-token", "WHATSAPP_PHONE_NUMBER_ID": double.phone_number_id,
               "POWERTOOLS_LOG_LEVEL": "WARNING"}
        print(f"median of {args.rounds} fresh processes (python {sys.version.split()[0]}, {os.cpu_count()} CPUs), ms:")
        print("| what | import | first call | second call (baseline) |\n|---|---|---|---|")
        for what, label in (("enqueue", "producer: odys.outbox + odys.queue, SendMessageBatch to SQS (moto)"),
                            ("send", "sender: odys.whatsapp_api, POST /messages to the Cloud API double")):
            r = _run(what, env, args.rounds)
            print(f"| {label} | {r['import_ms']:.1f} | {r['first_ms']:.1f} | {r['second_ms']:.1f} |")
    finally:
        double.stop()
        queue.stop()


if __name__ == "__main__":
    main()
