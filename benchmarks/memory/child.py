"""One execution environment: import a function, answer 100 requests, report memory after the 1st and the 100th.

    python -m benchmarks.memory.child <function> <events.json>     # events: a JSON list, played in turn

Prints one JSON line: VmHWM / VmRSS (/proc/self/status) and ru_maxrss, in MiB, after the import, the first and the
last request, and the status codes answered.
"""

from __future__ import annotations

import importlib.util
import json
import resource
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REQUESTS = 100


def memory() -> dict[str, float]:
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    kib = {key: int(status[key].split()[0]) for key in ("VmHWM", "VmRSS")}
    return {"hwm": kib["VmHWM"] / 1024, "rss": kib["VmRSS"] / 1024,
            "maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


class Context:
    function_name = "bench"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    aws_request_id = "bench"


def main() -> None:
    name, events = sys.argv[1], json.loads(Path(sys.argv[2]).read_text())
    sys.path.insert(0, str(ROOT / "layers" / "shared"))
    started = memory()
    spec = importlib.util.spec_from_file_location("handler_under_test", ROOT / "functions" / name / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    from odys import ratelimit

    imported, statuses, first = memory(), Counter(), None
    for i in range(REQUESTS):
        ratelimit._state.memory.clear()  # noqa: SLF001 - 100 requests of one user in a second: not what is measured
        statuses[module.lambda_handler(events[i % len(events)], Context()).get("statusCode")] += 1
        if i == 0:
            first = memory()
    print(json.dumps({"start": started, "imported": imported, "first": first, "last": memory(),
                      "statuses": {str(k): v for k, v in statuses.items()}}))


if __name__ == "__main__":
    main()
