"""SnapStart, measured locally: a function's init split into what the snapshot keeps and what a resumed
environment still runs, beside the current cold path, in fresh processes of the same run.

    .venv/bin/python -m benchmarks.snapstart [--rounds 5] [--only account,booking,slots,availability,appointments]

Per function, three kinds of fresh process, interleaved round by round (benchmarks/snapstart/child.py):

* ``cold``: interpreter start-up + import of ``functions/<name>/app.py`` + the first request (as benchmarks.coldstart);
* ``snapstart``: the same init, then odys.snapstart's before-snapshot hooks (nothing is preloaded), then the
  after-restore hooks and the first request: the part after "|" is what a resumed environment pays;
* ``primed``: as ``snapstart`` with every module the first request imported (found by a discovery process of the
  ``snapstart`` kind) preloaded before the snapshot (``odys.snapstart.preload``): what declaring the lazy imports
  would leave after restore.

The requests are benchmarks.memory's (the demo professional, an ES256 token verified through a JWKS endpoint,
real ids, a real booking whose confirmation goes to moto's SQS server); PostgreSQL over its unix socket (no TLS:
in AWS the reconnection after restore also pays the TLS handshake with RDS Proxy and its round trips). What this
cannot measure: Lambda's restore itself (loading the snapshot's memory), which only AWS's ``Restore Duration``
(the REPORT line of a resumed invocation) shows.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "layers" / "shared"), str(ROOT)]
DEFAULT = "account,appointments,availability,slots,booking"


def _child(args: list[str], env: dict[str, str]) -> dict:
    spawned = time.time()
    out = subprocess.run([sys.executable, "-m", "benchmarks.snapstart.child", args[0], args[1], args[2],
                          repr(spawned), *args[3:]], capture_output=True, text=True, env=env, cwd=ROOT)
    if out.returncode:
        raise RuntimeError(f"{args[:2]} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--only", default=DEFAULT, help=f"comma-separated function names (default {DEFAULT})")
    args = parser.parse_args()

    from benchmarks.memory.__main__ import demo_world

    with demo_world("snapstart", stage="dev") as (env, events, work):
        wanted = args.only.split(",")
        served: dict[str, int] = {}

        def event_file(name: str) -> str:  # booking: a new real booking each process
            queue, n = events[name], served.get(name, 0)
            served[name] = n + 1
            path = work / f"{name}-{n}.json"
            path.write_text(json.dumps(queue[n % len(queue)]))
            return str(path)

        preloads = {}
        for name in wanted:  # discovery (also warms the page cache and the .pyc files)
            _child(["cold", name, event_file(name)], env)
            preloads[name] = ",".join(_child(["snapstart", name, event_file(name)], env)["new_modules"])
        kinds = {"cold": lambda n: ["cold", n, event_file(n)],
                 "snapstart": lambda n: ["snapstart", n, event_file(n)],
                 "primed": lambda n: ["snapstart", n, event_file(n), preloads[n]]}
        samples: dict[tuple[str, str], list[dict]] = {(n, k): [] for n in wanted for k in kinds}
        for _ in range(args.rounds):
            for name in wanted:
                for kind, argv in kinds.items():
                    samples[(name, kind)].append(_child(argv(name), env))

        def med(name: str, kind: str, phase: str, key: str = "ms") -> float:
            return statistics.median(s["phases"].get(phase, {}).get(key, 0.0) for s in samples[(name, kind)])

        print(f"SnapStart split, median of {args.rounds} fresh processes per kind (python {sys.version.split()[0]}, "
              f"{os.cpu_count()} CPUs), wall ms (CPU ms)\n")
        print("| function | cold: interpreter + init + 1st request = total | snapshot side: init + before-snapshot "
              "hooks | resumed: after-restore hooks + 1st request = total (CPU) | primed: resumed total (CPU) | "
              "resumed / cold | primed / cold | status |")
        print("|---|---|---|---|---|---|---|---|")
        for name in wanted:
            cold = {p: med(name, "cold", p) for p in ("interpreter", "init", "first_request")}
            cold_total = sum(cold.values())
            snap_side = med(name, "snapstart", "init") + med(name, "snapstart", "before_snapshot")
            resumed = {kind: (med(name, kind, "after_restore"), med(name, kind, "first_request"),
                              med(name, kind, "after_restore", "cpu_ms") + med(name, kind, "first_request", "cpu_ms"))
                       for kind in ("snapstart", "primed")}
            hooks, first, cpu = resumed["snapstart"]
            p_hooks, p_first, p_cpu = resumed["primed"]
            print(f"| {name} | {cold['interpreter']:.1f} + {cold['init']:.1f} + {cold['first_request']:.1f} = "
                  f"{cold_total:.1f} | {med(name, 'snapstart', 'init'):.1f} + "
                  f"{med(name, 'snapstart', 'before_snapshot'):.1f} = {snap_side:.1f} | {hooks:.2f} + {first:.1f} = "
                  f"{hooks + first:.1f} ({cpu:.1f}) | {p_hooks + p_first:.1f} ({p_cpu:.1f}) | "
                  f"{(hooks + first) / cold_total:.2f} | {(p_hooks + p_first) / cold_total:.2f} | "
                  f"{samples[(name, 'cold')][-1]['status']} |")
        print("\nmodules the first request imports (preloaded in 'primed'):")
        for name in wanted:
            tops = sorted({m.split(".")[0] for m in preloads[name].split(",") if m})
            print(f"  {name}: {len(preloads[name].split(',')) if preloads[name] else 0} modules: {', '.join(tops)}")


if __name__ == "__main__":
    main()
