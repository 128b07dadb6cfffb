"""A local HTTP stand-in for Groq's chat completions (``POST /openai/v1/chat/completions``), for tests and `make dev`.

    double = GroqDouble(api_key="gsk_test_odys").start()
    os.environ.update(GROQ_API_KEY="gsk_test_odys", GROQ_BASE_URL=double.url)       # the real groq SDK talks to it
    double.script(tool_calls(("get_appointments_today", {})), text("Hoje você tem 2 atendimentos."))
    ...                                                      # each completion request takes the next scripted turn
    double.requests[-1]["messages"][-1]   # {"role": "tool", "tool_call_id": "call_…", "content": "{…}"}
    double.always(tool_calls(("get_appointments_today", {})))                # a model that never stops calling tools
    double.script(failure(429, retry_after=7), failure(500), slow(3, text("tarde demais")))
    double.script(raw(200, "{not json"), raw(200, {"choices": []}))          # answers Groq should never give

It speaks the OpenAI-compatible wire format Groq serves: ``Authorization: Bearer <key>`` (anything else is 401
``invalid_api_key``), a JSON body with ``model``, ``messages``, ``tools``, ``tool_choice``; the answer a
``chat.completion`` object (``choices[0].message`` with ``content`` or ``tool_calls`` whose ``arguments`` is a JSON
*string*, ``finish_reason``, ``usage`` with token counts, ``x_groq.id``); errors ``{"error": {"message", "type",
"code"}}`` with Groq's statuses and ``retry-after`` on 429. Like Groq it refuses (400) a conversation whose
``tool`` messages do not answer the tool calls of the assistant message before them, or leave one unanswered
(tool call ids must be distinct non-empty strings).
Token counts are estimates (characters / 4).

With no scripted turn left it answers 500 (a test asked more than it scripted) — unless it was started with
``fixed_questions=True`` (what `make dev` does): then it plays a small model that drives the tools for a few fixed
questions, in pt-BR: "quais são meus atendimentos hoje?", "quanto faturei este mês?" (semana, hoje, mês passado),
"quem é o cliente (11) 98888-7777?", "marque a consulta <id> como concluída" (cancelada, confirmada, falta); and
after the tools ran, it answers from their results.
"""

from __future__ import annotations

import itertools
import json
import re
import secrets
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any

from devtools.http_double import HttpDouble

PATH = "/openai/v1/chat/completions"
Reply = tuple[int, dict[str, str], dict[str, Any] | str]  # a str body is sent verbatim (see raw)
Turn = Callable[[dict[str, Any]], Reply]
_ids = itertools.count(1)


def _estimate_tokens(value: Any) -> int:
    return max(1, len(json.dumps(value, ensure_ascii=False)) // 4)


def completion(request: dict[str, Any], message: dict[str, Any], finish_reason: str) -> dict[str, Any]:
    """A ``chat.completion`` object answering ``request`` with ``message``."""
    prompt_tokens = _estimate_tokens(request.get("messages")) + _estimate_tokens(request.get("tools") or [])
    completion_tokens = _estimate_tokens(message)
    return {
        "id": f"chatcmpl-{secrets.token_hex(12)}", "object": "chat.completion", "created": int(time.time()),
        "model": request.get("model"), "system_fingerprint": "fp_odys_double",
        "choices": [{"index": 0, "message": {"role": "assistant", **message}, "logprobs": None,
                     "finish_reason": finish_reason}],
        "usage": {"queue_time": 0.001, "prompt_tokens": prompt_tokens, "prompt_time": 0.002,
                  "completion_tokens": completion_tokens, "completion_time": 0.003,
                  "total_tokens": prompt_tokens + completion_tokens, "total_time": 0.005},
        "x_groq": {"id": f"req_{secrets.token_hex(12)}"},
    }


def text(content: str) -> Turn:
    """A turn that answers with ``content`` (``finish_reason: stop``)."""
    return lambda request: (200, {}, completion(request, {"content": content}, "stop"))


def tool_calls(*calls: tuple[str, dict[str, Any] | str]) -> Turn:
    """A turn calling tools: each call a ``(name, arguments)``, arguments a dict (sent as JSON) or a raw string
    (sent as it is: malformed JSON, say)."""
    def turn(request: dict[str, Any]) -> Reply:
        sent = [{"id": f"call_{next(_ids):04d}", "type": "function",
                 "function": {"name": name, "arguments": args if isinstance(args, str) else json.dumps(args)}}
                for name, args in calls]
        return 200, {}, completion(request, {"content": None, "tool_calls": sent}, "tool_calls")

    return turn


def failure(status: int, *, retry_after: float | None = None, code: str | None = None,
            message: str | None = None) -> Turn:
    """A turn failing as Groq does: 401 ``invalid_api_key``, 429 ``rate_limit_exceeded`` (with ``retry-after``),
    500/503 ``internal_server_error`` (or ``code``/``message``)."""
    defaults = {401: ("invalid_api_key", "Invalid API Key"), 429: ("rate_limit_exceeded", "Rate limit reached")}
    error_code, error_message = defaults.get(status, ("internal_server_error", "Internal Server Error"))
    headers = {"retry-after": f"{retry_after:g}"} if retry_after is not None else {}
    error_type = "invalid_request_error" if status < 500 and status != 429 else "tokens" if status == 429 \
        else "internal_server_error"
    body = {"error": {"message": message or error_message, "type": error_type, "code": code or error_code}}
    return lambda request: (status, headers, body)


def raw(status: int, body: str | dict[str, Any] | list[Any] | None, content_type: str = "application/json") -> Turn:
    """A turn answering ``body`` as it is: a string is sent verbatim (malformed JSON, an HTML error page), anything
    else as JSON (a completion in a shape Groq never sends: no choices, a tool call without an id, ...)."""
    payload = body if isinstance(body, str) else json.dumps(body)
    return lambda request: (status, {"content-type": content_type}, payload)


def slow(seconds: float, turn: Turn) -> Turn:
    """``turn``, answered after ``seconds`` (a client with a shorter timeout gives up first)."""
    def delayed(request: dict[str, Any]) -> Reply:
        time.sleep(seconds)
        return turn(request)

    return delayed


def _conversation_error(request: dict[str, Any]) -> str | None:
    """What Groq would refuse in the request's shape (None when it is fine)."""
    messages = request.get("messages")
    if not isinstance(request.get("model"), str) or not isinstance(messages, list) or not messages:
        return "'model' and a non-empty 'messages' are required"
    pending: set[str] = set()
    for message in messages:
        role = message.get("role") if isinstance(message, dict) else None
        if role not in ("system", "user", "assistant", "tool"):
            return f"unknown role {role!r}"
        if role == "tool":
            if message.get("tool_call_id") not in pending:
                return "a 'tool' message must answer a tool call of the assistant message before it"
            if not isinstance(message.get("content"), str):
                return "a 'tool' message needs string content"
            pending.discard(message["tool_call_id"])
            continue
        if pending:
            return "every tool call of an assistant message needs a 'tool' message answering it"
        if role == "assistant":
            ids = [call.get("id") for call in message.get("tool_calls") or []]
            if not all(isinstance(i, str) and i for i in ids) or len(ids) != len(set(ids)):
                return "each tool call of an assistant message needs its own non-empty string 'id'"
            pending = set(ids)
        elif not isinstance(message.get("content"), str):
            return f"a '{role}' message needs string content"
    if pending:
        return "every tool call of an assistant message needs a 'tool' message answering it"
    names = [t.get("function", {}).get("name") for t in request.get("tools") or []]
    if len(names) != len(set(names)):
        return "tool names must be unique"
    return None


# --- the fixed questions of `make dev` -----------------------------------------------------------------------------

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
_PHONE = re.compile(r"\+?\(?\d[\d\s().-]{7,}\d")
_STATUS_WORDS = (("conclu", "completed"), ("complet", "completed"), ("cancel", "cancelled"),
                 ("confirm", "confirmed"), ("falt", "no_show"), ("no_show", "no_show"), ("pendente", "pending"))


def _money(cents: int) -> str:
    return f"R$ {cents // 100:,}".replace(",", ".") + f",{cents % 100:02d}"


def _from_tool(name: str, result: dict[str, Any]) -> str:
    if "error" in result:
        return f"Não deu certo ({name}): {result.get('message')}"
    if name == "get_appointments_today":
        items = result.get("appointments") or []
        if not items:
            return "Você não tem atendimentos hoje."
        lines = [f"- {a['start']} {a.get('client', '')} ({a['status']}, pagamento {a['payment']}, id {a['id']})"
                 for a in items]
        return f"Hoje você tem {len(items)} atendimento(s):\n" + "\n".join(lines)
    if name == "get_revenue_summary":
        return (f"De {result['from']} a {result['to']}: {_money(result['paidCents'])} recebidos e "
                f"{_money(result['pendingCents'])} pendentes, em {result['appointments']} atendimento(s).")
    if name == "get_customer_by_phone":
        client, following = result["client"], result.get("nextAppointment")
        nxt = f"próximo atendimento em {following['date']} às {following['start']}" if following else \
            "nenhum atendimento marcado"
        return f"{client['name']} ({client['phone']}): {nxt}; deve {_money(result['owedCents'])}."
    if name == "update_appointment_status":
        appointment = result["appointment"]
        return (f"Pronto: o atendimento de {appointment.get('client', '')} em {appointment['date']} às "
                f"{appointment['start']} agora está {appointment['status']} (antes: {result['previousStatus']}).")
    return f"{name}: {json.dumps(result, ensure_ascii=False)}"


def fixed_questions(request: dict[str, Any]) -> Reply:
    """The `make dev` model: a tool call for a known question, then an answer from the tools' results."""
    messages = request["messages"]
    if messages[-1].get("role") == "tool":
        names: dict[str, str] = {}
        results = []
        for message in reversed(messages):
            if message.get("role") != "tool":
                names = {c["id"]: c["function"]["name"] for c in message.get("tool_calls") or []}
                break
            results.insert(0, message)
        parts = []
        for message in results:
            try:
                result = json.loads(message["content"])
            except ValueError:
                result = {"error": "invalid", "message": "resultado ilegível"}
            parts.append(_from_tool(names.get(message["tool_call_id"], "?"), result))
        return text("\n\n".join(parts))(request)
    question = str(messages[-1].get("content") or "")
    lowered = question.lower()
    appointment = _UUID.search(question)
    status = next((s for word, s in _STATUS_WORDS if word in lowered), None)
    if appointment and status:
        return tool_calls(("update_appointment_status", {"appointment_id": appointment.group(0),
                                                         "status": status}))(request)
    phone = _PHONE.search(question)
    if phone:
        return tool_calls(("get_customer_by_phone", {"phone": phone.group(0).strip()}))(request)
    if any(word in lowered for word in ("fatur", "receita", "recebi", "ganhei", "revenue")):
        period = ("last_month" if "passado" in lowered or "last month" in lowered else
                  "week" if "semana" in lowered or "week" in lowered else
                  "today" if "hoje" in lowered or "today" in lowered else "month")
        return tool_calls(("get_revenue_summary", {"period": period}))(request)
    if any(word in lowered for word in ("hoje", "today", "atendimento", "agenda")):
        return tool_calls(("get_appointments_today", {}))(request)
    return text("Sou o assistente local de desenvolvimento (sem Groq). Pergunte: \"quais são meus atendimentos "
                "hoje?\", \"quanto faturei este mês?\", \"quem é o cliente (11) 98888-7777?\" ou \"marque a "
                "consulta <id> como concluída\".")(request)


class GroqDouble(HttpDouble):
    """Groq's chat completions on loopback: scripted turns (tests) or the fixed questions (`make dev`)."""

    def __init__(self, api_key: str = "gsk_test_odys", *, fixed_questions: bool = False) -> None:
        self.api_key = api_key
        self.fixed_questions = fixed_questions
        self.requests: list[dict[str, Any]] = []
        self._turns: list[Turn] = []
        self._always: Turn | None = None
        self._lock = threading.Lock()

    def handler(self) -> type[BaseHTTPRequestHandler]:
        return _Handler

    def script(self, *turns: Turn) -> None:
        """Append turns: each completion request takes the next one."""
        with self._lock:
            self._turns.extend(turns)

    def always(self, turn: Turn) -> None:
        """Answer every request (after the scripted turns) with ``turn``."""
        with self._lock:
            self._always = turn

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self._turns.clear()
            self._always = None

    def answer(self, request: dict[str, Any]) -> Reply:
        with self._lock:
            self.requests.append(request)
            turn = self._turns.pop(0) if self._turns else self._always
        if turn is not None:
            return turn(request)
        if self.fixed_questions:
            return fixed_questions(request)
        return failure(500, message="groq double: no scripted turn left for this request")(request)


class _Handler(BaseHTTPRequestHandler):
    double: GroqDouble
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        if self.path.split("?")[0] != PATH:
            return self._send(404, {}, {"error": {"message": f"Unknown request URL: POST {self.path}",
                                                  "type": "invalid_request_error", "code": "unknown_url"}})
        if self.headers.get("authorization") != f"Bearer {self.double.api_key}":
            return self._send(*failure(401)({}))
        try:
            request = json.loads(body)
        except ValueError:
            return self._send(400, {}, {"error": {"message": "invalid JSON body", "type": "invalid_request_error"}})
        problem = _conversation_error(request) if isinstance(request, dict) else "the body must be an object"
        if problem:
            return self._send(400, {}, {"error": {"message": problem, "type": "invalid_request_error"}})
        self._send(*self.double.answer(request))

    def _send(self, status: int, headers: dict[str, str], body: dict[str, Any] | str) -> None:
        payload = (body if isinstance(body, str) else json.dumps(body)).encode()
        try:
            self.send_response(status)
            for key, value in {"content-type": "application/json", **headers}.items():
                self.send_header(key, value)
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up waiting (a timeout test)
            pass

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        pass
