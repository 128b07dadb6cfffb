"""Warm overhead outside the database: ``GET /api/account`` through the real handler, beside the baseline commit.

    .venv/bin/python -m benchmarks.warm [--count 10000] [--chunk 500] [--baseline HEAD | --baseline none]
                                        [--profile KIND] [--profile-count 3000] [--breakdown 3000]

Two execution environments (worker processes, :mod:`benchmarks.warm.worker`), each with its own PostgreSQL
(``devtools.pg``, durable) and JWKS endpoint: one runs this tree, the other the baseline commit's
``layers/shared``, ``functions``, ``devtools`` and ``template.yaml`` (``git archive``, into a temporary directory).
They take turns, ``--chunk`` requests per kind at a time, so the machine's noise falls on both alike. Each request
is the API Gateway HTTP API v2 event of ``GET /api/account`` handed to the function's ``lambda_handler`` as Lambda
calls it, logging at the production level (INFO); its time outside the database is the handler's time minus the
time inside ``odys.db``'s statement functions. The in-memory rate limiter is cleared every 25 requests, untimed.

Token kinds: HS256 (legacy projects' secret) and ES256 verified through the JWKS (what Supabase issues to new
projects), each with the same token on every request (a client reuses its token for its hour) and with a fresh
token on every request (no cache can help). ``--breakdown N`` adds, after the table, where the time goes in each
tree (exclusive timers around the pieces, N more requests per kind: they cost a few µs themselves); ``--profile
KIND`` prints cProfile's view of this tree's handler instead of all that.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT)]

from benchmarks.warm.worker import KINDS  # noqa: E402


class Worker:
    def __init__(self, label: str, tree: Path) -> None:
        self.label = label
        self.process = subprocess.Popen([sys.executable, "-m", "benchmarks.warm.worker", str(tree)], cwd=ROOT,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert json.loads(self._read()) == {"ready": True}

    def _read(self) -> str:
        line = self.process.stdout.readline()  # type: ignore[union-attr]
        if not line:
            raise RuntimeError(f"{self.label}: the worker stopped (see its stderr above)")
        return line

    def ask(self, command: dict[str, Any]) -> Any:
        self.process.stdin.write(json.dumps(command) + "\n")  # type: ignore[union-attr]
        self.process.stdin.flush()  # type: ignore[union-attr]
        return json.loads(self._read())

    def stop(self) -> None:
        try:
            self.process.stdin.write(json.dumps({"stop": True}) + "\n")  # type: ignore[union-attr]
            self.process.stdin.close()  # type: ignore[union-attr]
        except OSError:
            pass
        self.process.wait(timeout=60)


def baseline_tree(revision: str) -> Path:
    """The baseline commit's code, extracted (git archive reads the repository; it writes nothing to it)."""
    tree = Path(tempfile.mkdtemp(prefix=f"odys-warm-{revision}-"))
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", revision, "layers/shared", "functions", "devtools",
                              "template.yaml"], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    return tree


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q / 100))]


def report(results: dict[str, dict[str, dict[str, list[float]]]], count: int) -> list[str]:
    labels = list(results)
    lines = [f"`GET /api/account`, {count:,} warm invocations per token kind and tree, µs per request "
             "(outside the database = handler time minus the time inside `odys.db`):", "",
             "| token | tree | outside the database p50 | p90 | p99 | mean | handler p50 | database p50 |",
             "|---|---|---|---|---|---|---|---|"]
    for kind in KINDS:
        for label in labels:
            data = results[label][kind]
            out = data["outside_us"]
            lines.append(f"| {kind} | {label} | **{statistics.median(out):.0f}** | {pct(out, 90):.0f} | "
                         f"{pct(out, 99):.0f} | {statistics.fmean(out):.0f} | "
                         f"{statistics.median(data['total_us']):.0f} | {statistics.median(data['db_us']):.0f} |")
    if len(labels) == 2:
        lines += ["", "Ratio of the p50s outside the database (this tree / baseline): " + ", ".join(
            f"{kind} {statistics.median(results[labels[1]][kind]['outside_us']) / statistics.median(results[labels[0]][kind]['outside_us']):.2f}"
            for kind in KINDS) + "."]
    return lines


def breakdown(workers: list[Worker], count: int) -> list[str]:
    kinds = [KINDS[1], KINDS[0], KINDS[3]]
    columns = [(worker, kind) for kind in kinds for worker in workers]
    per = {(w.label, kind): w.ask({"breakdown": count, "kind": kind}) for w, kind in columns}
    names = sorted({n for piece in per.values() for n in piece if n != "total outside the database"},
                   key=lambda n: -max(piece.get(n, 0) for piece in per.values()))
    lines = [f"Where the time goes ({count:,} more requests per kind and tree, exclusive timers: each piece's time "
             "excludes the timed pieces inside it; the timers add their own few µs), mean µs per request:", "",
             "| piece | " + " | ".join(f"{kind}: {w.label}" for w, kind in columns) + " |",
             "|---|" + "---|" * len(columns)]
    for name in names + ["total outside the database"]:
        cells = [f"{per[(w.label, kind)].get(name, 0):.1f}" for w, kind in columns]
        if name == "total outside the database":
            name, cells = f"**{name}**", [f"**{c}**" for c in cells]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000, help="warm invocations per token kind and tree")
    parser.add_argument("--chunk", type=int, default=500, help="requests per kind before the other tree's turn")
    parser.add_argument("--baseline", default="HEAD", help="git revision to compare with, or 'none'")
    parser.add_argument("--profile", choices=KINDS, help="print cProfile of this tree's handler for one kind")
    parser.add_argument("--profile-count", type=int, default=3000)
    parser.add_argument("--breakdown", type=int, default=0, help="requests per kind timed piece by piece")
    args = parser.parse_args()
    trees = {} if args.baseline == "none" or args.profile else {f"baseline ({args.baseline})": baseline_tree(args.baseline)}
    trees["this tree"] = ROOT
    print(f"Python {platform.python_version()}, {os.cpu_count()} CPUs\n", flush=True)
    workers = [Worker(label, tree) for label, tree in trees.items()]
    try:
        if args.profile:
            print(workers[0].ask({"profile": args.profile_count, "kind": args.profile})["text"])
            return
        results: dict[str, dict[str, dict[str, list[float]]]] = {
            w.label: {kind: {"outside_us": [], "total_us": [], "db_us": []} for kind in KINDS} for w in workers}
        done = 0
        while done < args.count:
            step = min(args.chunk, args.count - done)
            for worker in workers if (done // args.chunk) % 2 == 0 else reversed(workers):
                for kind, data in worker.ask({"run": step}).items():
                    for key, values in data.items():
                        results[worker.label][kind][key] += values
            done += step
        print("\n".join(report(results, args.count)))
        if args.breakdown:
            print("\n" + "\n".join(breakdown(workers, args.breakdown)))
    finally:
        for worker in workers:
            worker.stop()
        for label, tree in trees.items():
            if tree != ROOT:
                shutil.rmtree(tree, ignore_errors=True)


if __name__ == "__main__":
    main()
