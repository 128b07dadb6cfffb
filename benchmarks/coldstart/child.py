"""One cold start, in this fresh process: import a function's handler module, answer one request, report JSON.

    python -m benchmarks.coldstart.child <function> '<event json>'
    python -m benchmarks.coldstart.child --hello '<event json>'     # the Powertools hello-world baseline
"""

from __future__ import annotations

import time

T_START = time.perf_counter()

import importlib.util  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("stripe", "groq", "boto3", "botocore", "httpx", "upstash_redis", "upstash_ratelimit", "cryptography",
         "jwt", "segno", "pg8000")


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
    target, event = sys.argv[1], json.loads(sys.argv[2])
    sys.path.insert(0, str(ROOT / "layers" / "shared"))
    path = Path(__file__).with_name("hello.py") if target == "--hello" else ROOT / "functions" / target / "app.py"
    t0 = time.perf_counter()
    module = _load(path)
    t1 = time.perf_counter()
    result = module.lambda_handler(event, Context())
    t2 = time.perf_counter()
    print(json.dumps({"import_ms": (t1 - t0) * 1000, "first_ms": (t2 - t1) * 1000, "total_ms": (t2 - T_START) * 1000,
                      "status": result.get("statusCode") if isinstance(result, dict) else None,
                      "heavy": sorted(m for m in HEAVY if m in sys.modules)}))


if __name__ == "__main__":
    main()
