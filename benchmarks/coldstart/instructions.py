"""Cold start of every HTTP function of template.yaml in instructions executed (callgrind), beside the baseline.

    .venv/bin/python -m benchmarks.coldstart.instructions [--only account,slots] [--layer /tmp/h3-base]

The same fresh processes as ``benchmarks.coldstart`` (``child.py``, the same arguments, environment and events
built by ``benchmarks.memory``'s ``demo_world``: ES256 token through a local JWKS, ``devtools.pg`` over its unix
socket, moto's SQS), each run once natively (writes the ``.pyc`` files) and then once under
``valgrind --tool=callgrind``, which counts the instructions (Ir) the process executes from its start to the
answer: interpreter start, the import of ``functions/<name>/app.py`` and its first request. ``child.py`` times
itself with ``time.perf_counter()`` and ``time.process_time()``; callgrind dumps its counters at every call of
those two C functions (``--dump-before``), so the import (t0 → t1) and the first request (t1 → t2) are read
separately; when something else calls ``perf_counter`` in between, only the total is shown. ``PYTHONHASHSEED=0``
and ``.pyc`` files present make a count repeat to a few parts in 10,000.

Why: wall time on this shared 2-vCPU VM moves by ±0.1 of the ratio between runs of the same code; instruction
counts do not. They leave out time spent waiting on the database, the JWKS and SQS sockets and cache-miss effects
(a page fault, a cold file), so they complement the wall-time ratio of ``benchmarks.coldstart``, not replace it.
The ratio is the function's instructions / the baseline's (hello.py + ``import pg8000.native``); goal <= 1.2.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.coldstart.__main__ import BASELINES, GOAL, ROOT, _child

CHILD = "benchmarks.coldstart.child"
CALLGRIND = ["valgrind", "--tool=callgrind", "-q", "--combine-dumps=yes",
             "--dump-before=time_perf_counter", "--dump-before=time_process_time"]


def _parts(out_file: Path) -> list[tuple[str, int]]:
    """(what ended the part, its Ir) for each part of a combined callgrind dump, in order."""
    parts, trigger = [], ""
    for line in out_file.read_text(errors="replace").splitlines():
        if line.startswith("desc: Trigger:"):
            trigger = line.split("=", 1)[-1] if "=" in line else line.removeprefix("desc: Trigger:").strip()
        elif line.startswith("totals:"):
            parts.append((trigger, int(line.split()[1])))
    return parts


def _split(parts: list[tuple[str, int]]) -> dict[str, int | None]:
    """Total Ir from process start to the answer (child.py's last ``process_time()``), import and first request
    when child.py's ``perf_counter()`` calls t0, t1, t2 are the only ones between its two ``process_time()``."""
    clocks = [i for i, (trigger, _) in enumerate(parts) if trigger == "time_process_time"]
    first, last = clocks[0], clocks[-1]
    timers = [i for i in range(first + 1, last) if parts[i][0] == "time_perf_counter"]
    exact = len(timers) == 3
    return {"total": sum(ir for _, ir in parts[:last + 1]),
            "import": parts[timers[1]][1] if exact else None, "first": parts[timers[2]][1] if exact else None}


def _count(args: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Run one child under callgrind: its Ir split and its own JSON answer (status)."""
    with tempfile.TemporaryDirectory(prefix="cgbench-", dir="/tmp") as tmp:
        out_file = Path(tmp) / "callgrind.out"
        run = subprocess.run([*CALLGRIND, f"--callgrind-out-file={out_file}", sys.executable, "-m", CHILD, *args],
                             capture_output=True, text=True, env=env, cwd=ROOT)
        if run.returncode:
            raise RuntimeError(f"{args[0]} failed under callgrind:\n{run.stderr[-3000:]}")
        return {**_split(_parts(out_file)), "status": json.loads(run.stdout.strip().splitlines()[-1])["status"]}


def _m(ir: int | None) -> str:
    return "?" if ir is None else f"{ir / 1e6:,.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated function names")
    parser.add_argument("--layer", type=Path, help="another tree holding functions/ and layers/, measured beside")
    args = parser.parse_args()
    if not shutil.which("valgrind"):
        sys.exit("valgrind not found: install it (apt-get install valgrind) to count instructions")

    from benchmarks.memory.__main__ import demo_world

    started = time.monotonic()
    with demo_world("instructions", stage="dev", PYTHONHASHSEED="0") as (env, events, work):
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # the warm-up run writes the .pyc files, as `make build` ships them
        from devtools import lambdas

        hello = lambdas.http_event("GET", "/hello")
        wanted = args.only.split(",") if args.only else list(events)
        trees = [None, *([args.layer.resolve()] if args.layer else [])]
        served: dict[str, int] = {}  # booking's events are distinct bookings: each process gets the next one

        def measure(target: str, tree: Path | None) -> dict[str, Any]:
            queue, n = events.get(target, [hello]), served.get(target, 0)
            served[target] = n + 2
            child_args = []
            for i in (n, n + 1):  # a warm-up run natively (.pyc, page cache), then the counted one
                path = work / f"{target.strip('-')}-{i}.json"
                path.write_text(json.dumps(queue[i % len(queue)]))
                child_args = [target, str(path), *([str(tree)] if tree else [])]
                if i == n:
                    _child([CHILD, *child_args], env)
            return _count(child_args, env)

        print(f"cold start in instructions (callgrind Ir, process start to the answer; python "
              f"{sys.version.split()[0]}, PYTHONHASHSEED=0); ratio = instructions / the baseline's; goal <= {GOAL}\n")
        head = "| function | instructions (M) | import (M) | 1st request (M) | ratio | status |"
        if args.layer:
            head += f" {args.layer}: instructions (M) | import (M) | 1st request (M) | ratio | status |"
        print(head + "\n" + "|---" * (head.count("|") - 1) + "|", flush=True)
        base: int | None = None
        ratios: list[list[float]] = [[] for _ in trees]
        failed: list[str] = []
        for target in [*BASELINES, *wanted]:
            cells = [BASELINES.get(target, target)]
            for t, tree in enumerate(trees if target not in BASELINES else [None]):
                try:
                    r = measure(target, tree)
                except RuntimeError as error:
                    failed.append(f"{target}{f' [{tree}]' if tree else ''}: {str(error).strip().splitlines()[-1]}")
                    cells += ["failed", "", "", "", ""]
                    continue
                base = base or r["total"]
                ratio = r["total"] / base
                if target not in BASELINES:
                    ratios[t].append(ratio)
                cells += [_m(r["total"]), _m(r["import"]), _m(r["first"]),
                          f"**{ratio:.2f}**" if ratio > GOAL else f"{ratio:.2f}", str(r["status"])]
            print("| " + " | ".join(cells) + " |", flush=True)
        for label, rs in zip(["now", str(args.layer)], ratios):
            if rs:
                print(f"\n{label}: {len(rs)} functions, ratio median {statistics.median(rs):.2f}, worst {max(rs):.2f}, "
                      f"{sum(r <= GOAL for r in rs)} at <= {GOAL}", end="")
        print(f"\n\n{len(wanted) * len(trees) + len(BASELINES)} processes counted in "
              f"{(time.monotonic() - started) / 60:.1f} min")
        if failed:
            print("FAILED: " + "; ".join(failed))
            sys.exit(1)


if __name__ == "__main__":
    main()
