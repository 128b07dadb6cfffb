"""GET /api/account/export for a five-year practice, against a throwaway PostgreSQL and moto's S3.

    .venv/bin/python -m benchmarks.export [--clients 2000] [--appointments 20000] [--notes 10000] [--messages 50000]

Seeds one professional with the practice (set-based, benchmarks/export/seed.py: every exported table, notes of
~600 characters, messages of ~110), then runs the real handler once per case, each in a fresh process
(benchmarks/export/child.py): the JSON document with and without ``Accept-Encoding: gzip`` (inline when the
base64 body fits EXPORT_INLINE_MAX_BYTES, else a file in moto's S3 and a presigned URL), both again under
tracemalloc, and the appointments spreadsheet with and without gzip. Reports the handler's time, the sizes (file
raw and gzip, or the link and the stored object; the whole Lambda payload as it would be serialised) and memory
(the process's resident high-water mark after the imports and after the request, and the peak of Python
allocations). The database is devtools.pg.PostgresServer (unix socket, fsync off).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "layers" / "shared"), str(ROOT)]
SECRET = "bench-jwt-secret-0123456789-0123456789"
LAMBDA_LIMIT = 6 * 1024 * 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=2000)
    parser.add_argument("--appointments", type=int, default=20_000)
    parser.add_argument("--notes", type=int, default=10_000)
    parser.add_argument("--messages", type=int, default=50_000)
    args = parser.parse_args()

    os.environ.update({"ODYS_STAGE": "test", "POWERTOOLS_SERVICE_NAME": "odys", "POWERTOOLS_LOG_LEVEL": "WARNING",
                       "SUPABASE_JWT_SECRET": SECRET, "AWS_DEFAULT_REGION": "us-east-1",
                       "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"})
    os.environ.pop("POWERTOOLS_METRICS_NAMESPACE", None)
    for leaked in ("UPSTASH_REDIS_REST_URL", "ODYS_SECRETS_ID"):
        os.environ.pop(leaked, None)
    from devtools.local_s3 import LocalBucket
    from devtools.pg import PostgresServer
    from devtools.tokens import mint_token

    server = PostgresServer(Path(tempfile.mkdtemp(prefix="odys-bench-export-"))).start()
    bucket = LocalBucket("odys-bench-exports").start()
    try:
        server.create_database("odys_bench")
        os.environ["DATABASE_URL"] = server.url("odys_bench")
        os.environ.update(bucket.environment())
        from benchmarks.export.seed import seed_practice
        from odys import db, migrate

        migrate.apply_pending()
        pid = db.scalar("INSERT INTO professionals (user_id, name, slug, phone, email, profession, plan) VALUES "
                        "('bench-user', 'Ana Souza', 'ana-psi', '+5511987654321', 'ana@example.com', 'Psicóloga', "
                        "'pro') RETURNING id::text")
        t0 = time.perf_counter()
        counts = seed_practice(pid, clients=args.clients, appointments=args.appointments, notes=args.notes,
                               messages=args.messages)
        db.run("ANALYZE")
        db.close()
        print(f"seeded {', '.join(f'{k} {v:,}' for k, v in counts.items())} in {time.perf_counter() - t0:.1f} s")
        env = {**os.environ, "BENCH_TOKEN": mint_token("bench-user", secret=SECRET)}
        csv_query = "format=csv&what=appointments"
        for label, args in (("json, gzip", ["gzip, deflate, br"]),
                            ("json, no gzip", ["-"]),
                            ("json, gzip, traced", ["gzip, deflate, br", "--tracemalloc"]),
                            ("json, no gzip, traced", ["-", "--tracemalloc"]),
                            ("csv appointments", ["gzip, deflate, br", csv_query]),
                            ("csv appts, no gzip", ["-", csv_query])):
            run = subprocess.run([sys.executable, "-m", "benchmarks.export.child", *args], cwd=ROOT,
                                 env=env, capture_output=True, text=True, check=True)
            out = json.loads(run.stdout.strip().splitlines()[-1])
            if out.get("counts") is not None and "rows" not in out["counts"]:
                assert all(out["counts"][k] == v for k, v in counts.items()), out["counts"]
            sizes = (f"file {out['raw_bytes'] / 1e6:.1f} MB raw, "
                     f"{(out['gzip_bytes'] or 0) / 1e6:.2f} MB gzip, "
                     f"Lambda payload {out['payload_bytes'] / 1e6:.2f} MB "
                     f"({out['payload_bytes'] / LAMBDA_LIMIT:.0%} of 6 MB)") if out.get("raw_bytes") else (
                     f"link answer {out['payload_bytes']} B; S3 object {out['link']['sizeBytes'] / 1e6:.1f} MB")
            memory = f"peak RSS {out['peak_rss_mb']} MB (after the imports {out['rss_before_mb']} MB)"
            if out["tracemalloc_peak_mb"] is not None:
                memory += f", Python allocations peak {out['tracemalloc_peak_mb']} MB"
            print(f"{label:22s} {out['ms']:6,} ms  status {out['status']}  {sizes}; {memory}")
    finally:
        bucket.stop()
        server.stop()


if __name__ == "__main__":
    main()
