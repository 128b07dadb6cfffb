"""One fresh process: what the AI assistant's first Groq call costs the ``ai_chat`` function.

    python -m benchmarks.ai_chat.child call      # env: GROQ_API_KEY, GROQ_BASE_URL (the Groq double)
    python -m benchmarks.ai_chat.child import    # `import groq` alone

Prints JSON. ``call``: the import of ``functions/ai_chat/app.py``, whether groq was loaded by then, the first chat
completion (``odys.assistant``: import groq, build the client, one round trip with the four tools) and the second
(the baseline: the same call once everything is loaded). ``import``: the time of ``import groq`` on its own.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "layers" / "shared"), str(ROOT)]


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 2)


def main() -> None:
    start = time.perf_counter()
    if sys.argv[1] == "import":
        import groq  # noqa: F401

        print(json.dumps({"import_groq_ms": _ms(start)}))
        return
    spec = importlib.util.spec_from_file_location("ai_chat_app", ROOT / "functions" / "ai_chat" / "app.py")
    assert spec and spec.loader
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
    imported, groq_loaded = _ms(start), "groq" in sys.modules
    from odys import assistant

    messages = [{"role": "system", "content": "benchmark"},
                {"role": "user", "content": "quais são meus atendimentos hoje?"}]
    calls = []
    for _ in range(2):
        start = time.perf_counter()
        assistant._complete(messages, assistant.DEFAULT_MODEL, 5.0)
        calls.append(_ms(start))
    print(json.dumps({"import_ms": imported, "groq_at_import": groq_loaded, "first_ms": calls[0],
                      "second_ms": calls[1]}))


if __name__ == "__main__":
    main()
