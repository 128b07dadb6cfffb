"""One cold start, in this fresh process: import a function's handler module, answer one request, report JSON.

    python -m benchmarks.coldstart.child <function> <event.json> [<tree>]   # tree: holds functions/ and layers/
    python -m benchmarks.coldstart.child --baseline <event.json>   # hello.py + import pg8000.native (issue 14's)
    python -m benchmarks.coldstart.child --hello <event.json>      # the Powertools hello-world alone

``<tree>`` (default: this checkout) is where ``functions/<function>/app.py`` and ``layers/shared`` are read from,
so another copy of the code (``git archive HEAD functions layers | tar -x -C /tmp/base``) runs the same request.
"""

from __future__ import annotations

import time

T_START, CPU_START = time.perf_counter(), time.process_time()

import importlib.util  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("stripe", "groq", "boto3", "botocore.session", "httpx", "upstash_redis", "upstash_ratelimit",
         "cryptography", "cryptography.x509", "jwt", "segno", "pg8000", "zoneinfo", "email_validator", "ssl")


class Context:
    function_name = "bench"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    aws_request_id = "bench"


def _load(path: Path):
    spec = importlib.util.spec_from_file_location("handler_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    target, event = sys.argv[1], json.loads(Path(sys.argv[2]).read_text())
    tree = Path(sys.argv[3]) if len(sys.argv) > 3 else ROOT
    sys.path.insert(0, str(tree / "layers" / "shared"))
    hello = Path(__file__).with_name("hello.py")
    t0 = time.perf_counter()
    if target == "--baseline":
        import pg8000.native  # noqa: F401 - issue 14's baseline: the hello-world plus the database driver
    module = _load(hello if target in ("--hello", "--baseline") else tree / "functions" / target / "app.py")
    t1 = time.perf_counter()
    result = module.lambda_handler(event, Context())
    t2, cpu = time.perf_counter(), time.process_time()
    print(json.dumps({"import_ms": (t1 - t0) * 1000, "first_ms": (t2 - t1) * 1000, "total_ms": (t2 - T_START) * 1000,
                      "cpu_ms": (cpu - CPU_START) * 1000,
                      "status": result.get("statusCode") if isinstance(result, dict) else None,
                      "heavy": sorted(m.split(".")[0] if m != "cryptography.x509" else m
                                      for m in HEAVY if m in sys.modules)}))


if __name__ == "__main__":
    main()
