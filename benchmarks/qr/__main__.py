"""The PIX QR code's rendering: segno's automatic mask search (scores 8 masks) beside the fixed mask odys.pix uses.

    .venv/bin/python -m benchmarks.qr [--rounds 200]

Both render the same booking payload (a dynamic-charge-length BR Code) to SVG, interleaved, in one process.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[2] / "layers" / "shared")]

import segno  # noqa: E402

from odys import pix  # noqa: E402


def _render(payload: str, mask: int | None) -> None:
    buffer = io.BytesIO()
    segno.make(payload, error="m", micro=False, mask=mask).save(buffer, kind="svg", scale=4, border=2,
                                                                  xmldecl=False)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=200)
    rounds = parser.parse_args().rounds
    payload = pix.build_pix_payload("bench@odys.local", "Ana Souza Psicologia", city="Sao Paulo", amount_cents=15000,
                                    txid=pix.new_txid())
    timings: dict[str, list[float]] = {"automatic mask (search of 8)": [], f"fixed mask {pix.QR_MASK} (odys.pix)": []}
    for _ in range(rounds):
        for label, mask in zip(timings, (None, pix.QR_MASK)):
            started = time.perf_counter()
            _render(payload, mask)
            timings[label].append((time.perf_counter() - started) * 1000)
    baseline = statistics.median(next(iter(timings.values())))
    print(f"QR SVG of a {len(payload)}-character BR Code, {rounds} rounds (median / p99 ms):")
    for label, values in timings.items():
        values.sort()
        median = statistics.median(values)
        print(f"  {label:32} {median:7.2f} {values[int(len(values) * 0.99) - 1]:7.2f}   {median / baseline:5.2f}x")


if __name__ == "__main__":
    main()
