"""One fresh process (one execution environment): GET /api/account/export once through the real handler.

    python -m benchmarks.export.child <accept-encoding or "-"> [<query string>] [--tracemalloc]
    # env: DATABASE_URL, SUPABASE_JWT_SECRET, BENCH_TOKEN; EXPORT_BUCKET + AWS_ENDPOINT_URL_S3 (moto) for the S3 path

Prints JSON: the handler's time, the answer (status, isBase64Encoded, body and whole-payload sizes as Lambda would
serialise it, the document's raw and gzip sizes, or the link), the process's peak resident memory (VmHWM: the
interpreter and its imports included; not ru_maxrss, which carries over the forked parent's peak across exec) after
the imports and after the request, and, with --tracemalloc, the peak of Python allocations during the request.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import resource
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "layers" / "shared"), str(ROOT)]


def _peak_rss_mb() -> float:
    """This process's resident high-water mark (Linux), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def main() -> None:
    args = [a for a in sys.argv[1:] if a != "--tracemalloc"]
    accept, query, traced = args[0], (args[1] if len(args) > 1 else None), "--tracemalloc" in sys.argv
    from devtools import lambdas

    lambdas.load_function("account_export")
    headers = {"authorization": f"Bearer {os.environ['BENCH_TOKEN']}"}
    if accept != "-":
        headers["accept-encoding"] = accept
    event = lambdas.http_event("GET", "/api/account/export", route_path="/api/account/export", headers=headers,
                               query=query)
    rss_before = _peak_rss_mb()
    if traced:
        tracemalloc.start()
    start = time.perf_counter()
    result = lambdas.invoke("account_export", event)
    took = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1] if traced else None
    if traced:
        tracemalloc.stop()
    out = {"ms": round(took * 1000), "status": result["statusCode"], "base64": result.get("isBase64Encoded"),
           "payload_bytes": len(json.dumps(result)), "body_bytes": len(result.get("body") or ""),
           "rss_before_mb": rss_before, "peak_rss_mb": _peak_rss_mb(),
           "tracemalloc_peak_mb": round(peak / 2**20, 1) if peak is not None else None}
    if result.get("isBase64Encoded"):
        data = base64.b64decode(result["body"])
        zipped = (result.get("headers") or {}).get("Content-Encoding") == "gzip"
        raw = gzip.decompress(data) if zipped else data
        counts = json.loads(raw)["counts"] if not query else {"rows": raw.count(b"\r\n") - 1}
        out.update(gzip_bytes=len(data) if zipped else None, raw_bytes=len(raw), counts=counts)
    else:
        out["link"] = json.loads(result["body"])
    print(json.dumps(out))


if __name__ == "__main__":
    main()
