"""What the AI assistant's first Groq call costs ``ai_chat``: fresh processes against the local Groq double.

    .venv/bin/python -m benchmarks.ai_chat [--rounds 7]

Medians over fresh processes of: the handler's import (groq must not be loaded by it), the first chat completion
(groq imported and its client built on first use, then one round trip) and the second in the same process (the
baseline: the round trip alone), and ``import groq`` on its own.
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


def _run(mode: str, env: dict[str, str], rounds: int) -> list[dict]:
    results = []
    for _ in range(rounds + 1):  # one warm-up round writes the .pyc files
        out = subprocess.run([sys.executable, "-m", "benchmarks.ai_chat.child", mode], cwd=ROOT, env=env,
                             capture_output=True, text=True, check=True).stdout
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results[1:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    from devtools.groq_double import GroqDouble, text

    double = GroqDouble(api_key="gsk_bench").start()
    double.always(text("Hoje você não tem atendimentos."))
    try:
        env = {**os.environ, "ODYS_STAGE": "test", "GROQ_API_KEY": "gsk_bench", "GROQ_BASE_URL": double.url,
               "POWERTOOLS_LOG_LEVEL": "WARNING"}
        calls = _run("call", env, args.rounds)
        assert not any(r["groq_at_import"] for r in calls), "ai_chat must not import groq at cold start"
        imports = _run("import", env, args.rounds)
        median = {key: statistics.median(r[key] for r in calls) for key in ("import_ms", "first_ms", "second_ms")}
        print(f"median of {args.rounds} fresh processes (python {sys.version.split()[0]}, {os.cpu_count()} CPUs), ms:")
        print("| what | import of the handler | first chat completion | second (baseline) | import groq alone |")
        print("|---|---|---|---|---|")
        print(f"| ai_chat: odys.assistant against the Groq double | {median['import_ms']:.1f} | "
              f"{median['first_ms']:.1f} | {median['second_ms']:.1f} | "
              f"{statistics.median(r['import_groq_ms'] for r in imports):.1f} |")
    finally:
        double.stop()


if __name__ == "__main__":
    main()
