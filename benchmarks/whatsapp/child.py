"""One fresh process: what the first WhatsApp enqueue (SQS) and the first Cloud API send cost a function.

    python -m benchmarks.whatsapp.child enqueue      # env: WHATSAPP_QUEUE_URL, AWS_ENDPOINT_URL_SQS (moto's server)
    python -m benchmarks.whatsapp.child send         # env: WHATSAPP_GRAPH_URL, WHATSAPP_TOKEN (the Cloud API double)

Prints JSON: the import of the producer's modules, whether boto3 was loaded by then, the first call and the second
(the baseline: the same call once everything is loaded, in the same process).
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "layers" / "shared"), str(ROOT)]


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 2)


def main() -> None:
    what = sys.argv[1]
    start = time.perf_counter()
    if what == "enqueue":
        from odys import outbox, queue  # noqa: F401 - what a producer (booking, ...) imports
    else:
        from odys import whatsapp_api  # what the sender imports to send
    imported = _ms(start)
    boto3_loaded = "boto3" in sys.modules
    calls = []
    for _ in range(2):
        start = time.perf_counter()
        if what == "enqueue":
            assert queue.send_ids([str(uuid.uuid4())])
        else:
            whatsapp_api.send({"messaging_product": "whatsapp", "to": "5511988887777", "type": "text",
                               "text": {"body": "Olá"}})
        calls.append(_ms(start))
    print(json.dumps({"import_ms": imported, "boto3_at_import": boto3_loaded, "first_ms": calls[0],
                      "second_ms": calls[1]}))


if __name__ == "__main__":
    main()
