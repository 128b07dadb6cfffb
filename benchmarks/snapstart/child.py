"""One execution environment, in this fresh process, either cold or as SnapStart splits it; reports JSON.

    python -m benchmarks.snapstart.child cold <function> <event.json> <spawned_at>
    python -m benchmarks.snapstart.child snapstart <function> <event.json> <spawned_at> [<module,module,...>]

``cold``: import ``functions/<function>/app.py`` and answer one request (the current cold path, as
benchmarks.coldstart.child). ``snapstart``: the same init, then the before-snapshot hooks (odys.snapstart's
stand-in; the listed modules are preloaded there) — what Lambda runs when it publishes the version — then the
after-restore hooks and the first request: what a resumed environment runs. ``spawned_at`` (``time.time()`` of the
parent just before it started this process) gives the interpreter's start-up. Wall and CPU milliseconds per phase,
the status, and (snapstart) the modules the first request imported, in import order.
"""

from __future__ import annotations

import time

T_WALL, T_START, C_START = time.time(), time.perf_counter(), time.process_time()

import importlib.util  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from benchmarks.coldstart.child import Context, _load  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


class _Clock:
    def __init__(self) -> None:
        self.wall, self.cpu, self.phases = time.perf_counter(), time.process_time(), {}

    def lap(self, phase: str) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        self.phases[phase] = {"ms": (wall - self.wall) * 1000, "cpu_ms": (cpu - self.cpu) * 1000}
        self.wall, self.cpu = wall, cpu


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a module made at run time (no spec), or a parent that is not a package
        return False


def main() -> None:
    mode, name, event, spawned_at = sys.argv[1], sys.argv[2], json.loads(Path(sys.argv[3]).read_text()), float(sys.argv[4])
    preloads = sys.argv[5].split(",") if len(sys.argv) > 5 and sys.argv[5] else []
    sys.path.insert(0, str(ROOT / "layers" / "shared"))
    clock = _Clock()
    clock.phases["interpreter"] = {"ms": (T_WALL - spawned_at) * 1000 + (clock.wall - T_START) * 1000,
                                   "cpu_ms": (clock.cpu - C_START) * 1000}  # cpu: after the clock started only
    module = _load(ROOT / "functions" / name / "app.py")
    clock.lap("init")
    new_modules: list[str] = []
    if mode == "snapstart":
        from odys import snapstart

        snapstart.preload(*[m for m in preloads if _importable(m)])
        snapstart.simulate_snapshot()
        clock.lap("before_snapshot")
        known = set(sys.modules)
        snapstart.simulate_restore()
        clock.lap("after_restore")
    result = module.lambda_handler(event, Context())
    clock.lap("first_request")
    if mode == "snapstart":
        new_modules = [m for m in sys.modules if m not in known]
    print(json.dumps({"phases": clock.phases, "status": result.get("statusCode"), "new_modules": new_modules}))


if __name__ == "__main__":
    main()
