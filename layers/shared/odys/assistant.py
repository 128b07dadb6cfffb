"""The AI assistant (``POST /api/ai/chat``): a bounded Groq tool-calling loop over the professional's own data.

    assistant.chat(user_id, ChatRequest.model_validate({"messages": [
        {"role": "user", "content": "quais são meus atendimentos hoje?"}]}))
    # -> {"reply": "Hoje você tem 2 atendimentos: …",
    #     "toolCalls": [{"name": "get_appointments_today", "arguments": {}, "ok": True,
    #                    "summary": "2 atendimento(s) hoje"}],
    #     "usage": {"rounds": 2, "promptTokens": 1234, "completionTokens": 88, "totalTokens": 1322,
    #               "limitReached": None, "model": "llama-3.3-70b-versatile"}}

- **Who may ask:** the premium plan, or anyone during the trial (whose effective plan is ``pro``, so the trial is
  checked on its own); anyone else gets 402 ``plan_limit_reached`` naming ``premium``.
- **The conversation** is what the client sends (``user`` / ``assistant`` turns, bounded in count and length, the
  last one the professional's); a system prompt in the professional's language (pt-BR, or en) says who they are,
  their local date and time, and the rules. Nothing of it is stored, and no message content is logged: the log line
  of a chat holds ids, counts, tool names and token usage.
- **The loop:** each round is one chat completion with the four tools of :mod:`odys.assistant_tools` and
  ``tool_choice="auto"``; the tool calls of a round run in order (at most :data:`MAX_TOOL_CALLS_PER_ROUND`) and
  go back as ``tool`` messages. It stops when the model answers, or — saying so plainly in the reply, with
  ``usage.limitReached`` — after :data:`MAX_ROUNDS` rounds, when the token budget (``AI_CHAT_TOKEN_BUDGET``) is
  spent, or when too little of the time budget (``AI_CHAT_DEADLINE_SECONDS``, inside API Gateway's 30 s) is left
  for another round. A round that still asks for tools at the bound does not run them, and a call is not started
  once the time budget is that low (a status change may wait on the PSP). An answer Groq cut at the
  completion limit (``finish_reason: length``) is given as it is, saying it was cut (``limitReached: tokens``).
- **Groq** (``GROQ_API_KEY`` from the secret bundle, ``GROQ_MODEL``, and the SDK's own ``GROQ_BASE_URL``: a local
  stand-in in dev and tests, refused elsewhere unless it is Groq's) is imported only when a request reaches it.
  The SDK's retries are off: its default (2 retries, honouring a ``Retry-After`` of up to 60 s) would hold the
  professional longer than an honest "try again". A timeout, a
  connection failure, 408, 429, 498 (capacity) or 5xx answers 503 ``ai_unavailable`` (with ``Retry-After`` when
  Groq gave one); a refused API key, a missing one, a request Groq rejects or an answer in a shape Groq never sends
  (not JSON, no choice, a tool call without a function) answers 503 too, and logs an error for us to fix. Tool calls
  without an id (or with a repeated one) get one of ours, so each still gets its answer. When Groq fails *after* a
  tool changed something (a status), the answer is 200 with what was done and ``limitReached: unavailable``: a 503
  would hide a change the client was already told about. The SDK's own debug log (which holds the whole request) is
  kept off.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, NonNegativeInt, ValidationError, field_validator

from odys import assistant_tools, caller, clock, config, plans
from odys.assistant_tools import ToolContext, ToolRun
from odys.errors import PlanLimitReached, ServiceUnavailable
from odys.fields import ApiModel
from odys.log import logger
from odys.message_templates import format_datetime

FEATURE = "ai_assistant"
DEFAULT_MODEL = "llama-3.3-70b-versatile"
GROQ_API = "https://api.groq.com"
MAX_ROUNDS = 5
MAX_TOOL_CALLS_PER_ROUND = 8
MAX_COMPLETION_TOKENS = 1024
DEFAULT_TOKEN_BUDGET = 24_000  # prompt + completion tokens over all rounds of one request
DEFAULT_DEADLINE_SECONDS = 24.0  # the whole loop; the function's Timeout is 29 s, API Gateway's limit 30 s
DEFAULT_CALL_TIMEOUT_SECONDS = 10.0  # one chat completion
MIN_ROUND_SECONDS = 2.0  # less left than this: no further round
MAX_MESSAGES = 30
MAX_MESSAGE_CHARS = 4000
MAX_TOTAL_CHARS = 16_000

Limit = Literal["rounds", "tokens", "time", "unavailable"]
TRANSIENT_STATUSES = frozenset({408, 429, 498})  # and every 5xx; 498: Groq's flex tier is out of capacity


class ChatMessage(ApiModel):
    role: Literal["user", "assistant"]
    content: Annotated[str, Field(min_length=1, max_length=MAX_MESSAGE_CHARS)]


class ChatRequest(ApiModel):
    """``POST /api/ai/chat``: the conversation so far, oldest first, ending with the professional's question."""

    messages: Annotated[list[ChatMessage], Field(min_length=1, max_length=MAX_MESSAGES)]

    @field_validator("messages")
    @classmethod
    def _bounded_and_last_from_user(cls, messages: list[ChatMessage]) -> list[ChatMessage]:
        if sum(len(m.content) for m in messages) > MAX_TOTAL_CHARS:
            raise ValueError(f"the conversation may hold at most {MAX_TOTAL_CHARS} characters; start a new one")
        if messages[-1].role != "user":
            raise ValueError("the last message must be the professional's (role user)")
        return messages


# --- who may ask ---------------------------------------------------------------------------------------------------

def _require_plan(professional: dict[str, Any], now: Any) -> None:
    plan = plans.effective_plan(professional["plan"], professional["trial_ends_at"], now)
    if plans.has_feature(plan, FEATURE) or plans.in_trial(professional["trial_ends_at"], now):
        return
    raise PlanLimitReached("ai_assistant", current_plan=plan, required_plan=plans.plan_with_feature(FEATURE),
                           detail="The AI assistant is part of the Premium plan; upgrade to premium to use it.")


# --- the prompt and the plain answers ------------------------------------------------------------------------------

_SYSTEM = {
    "pt-BR": (
        "Você é o assistente da Odys de {name} ({profession}), e fala com {name}. Agora é {now} "
        "(fuso {timezone}).\n"
        "Regras:\n"
        "- Responda em português do Brasil, de forma breve e direta.\n"
        "- Use só os dados que as ferramentas devolvem. Nunca invente atendimentos, clientes, horários ou valores; "
        "se uma ferramenta não trouxe o dado, diga que não encontrou.\n"
        "- Valores vêm em centavos (15000 = R$ 150,00); horários já estão no fuso de {name}.\n"
        "- Antes de mudar o status de um atendimento, tenha certeza de qual é e de que foi pedido; na dúvida "
        "(mais de um possível, pedido ambíguo), pergunte antes de agir.\n"
        "- Telefones vêm mascarados; peça o número completo só quando {name} pedir.\n"
        "- Você não tem outros dados nem faz outras ações além das ferramentas."),
    "en": (
        "You are the Odys assistant of {name} ({profession}), talking to {name}. It is now {now} "
        "(time zone {timezone}).\n"
        "Rules:\n"
        "- Answer in English, briefly and to the point.\n"
        "- Use only the data the tools return. Never invent appointments, clients, times or amounts; if a tool did "
        "not return something, say you did not find it.\n"
        "- Amounts are in cents (15000 = R$ 150.00); times are already in {name}'s time zone.\n"
        "- Before changing an appointment's status, be sure which one it is and that it was asked for; when unsure "
        "(several candidates, an ambiguous request), ask before acting.\n"
        "- Phones come masked; ask for the full number only when {name} asks for it.\n"
        "- You have no other data and take no other action than the tools."),
}

_LIMIT_REPLY = {
    "pt-BR": {
        "rounds": "Parei aqui: esta pergunta precisou de mais de {rounds} etapas de consulta, o limite de uma "
                  "pergunta. O que já foi feito está listado abaixo; tente uma pergunta mais específica.",
        "tokens": "Parei aqui: esta conversa chegou ao limite de processamento de uma pergunta. O que já foi feito "
                  "está listado abaixo; tente uma pergunta mais curta ou comece uma conversa nova.",
        "time": "Parei aqui: a resposta estava demorando demais. O que já foi feito está listado abaixo; tente de "
                "novo ou faça uma pergunta mais específica.",
        "unavailable": "O assistente ficou indisponível no meio desta resposta. O que já foi feito está listado "
                       "abaixo; confira antes de pedir de novo.",
        "length": "(A resposta foi cortada no limite de tamanho; peça a continuação ou uma resposta mais curta.)",
        "empty": "Não consegui formular uma resposta. Tente perguntar de outro jeito.",
    },
    "en": {
        "rounds": "I stopped here: this question needed more than {rounds} lookup steps, the limit for one "
                  "question. What was done is listed below; try a more specific question.",
        "tokens": "I stopped here: this conversation reached the processing limit of one question. What was done "
                  "is listed below; try a shorter question or start a new conversation.",
        "time": "I stopped here: the answer was taking too long. What was done is listed below; try again or ask "
                "a more specific question.",
        "unavailable": "The assistant became unavailable in the middle of this answer. What was done is listed "
                       "below; check it before asking again.",
        "length": "(The answer was cut at the length limit; ask for the rest or for a shorter answer.)",
        "empty": "I could not put an answer together. Try asking another way.",
    },
}


def system_prompt(professional: dict[str, Any], now: Any, locale: str) -> str:
    return _SYSTEM[locale].format(name=professional["name"], profession=professional["profession"],
                                  now=format_datetime(now, professional["timezone"], locale),
                                  timezone=professional["timezone"])


# --- Groq ----------------------------------------------------------------------------------------------------------

def unavailable(retry_after: int | None = None) -> ServiceUnavailable:
    return ServiceUnavailable("The AI assistant is unavailable right now; please try again in a moment.",
                              code="ai_unavailable",
                              headers={"Retry-After": str(retry_after)} if retry_after else None)


def _retry_after(headers: Any) -> int | None:
    """Groq's ``Retry-After`` (seconds, possibly fractional) rounded up; None when absent or not a number."""
    try:
        seconds = float(headers.get("retry-after"))
    except (TypeError, ValueError):
        return None
    return max(1, math.ceil(seconds)) if math.isfinite(seconds) and seconds > 0 else None


def _error_code(body: object) -> str | None:
    """Groq's ``error.code`` (or ``type``): safe to log, unlike its message (which may quote the model's output)."""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        code = error.get("code") or error.get("type")
        return str(code)[:64] if code else None
    return None


class _Function(BaseModel):
    name: str | None = None
    arguments: str | None = None


class _ToolCall(BaseModel):
    id: str | None = None
    function: _Function


class _Message(BaseModel):
    content: str | None = None
    tool_calls: list[_ToolCall] | None = None


class _Choice(BaseModel):
    message: _Message
    finish_reason: str | None = None


class _TokenUsage(BaseModel):
    prompt_tokens: NonNegativeInt | None = None
    completion_tokens: NonNegativeInt | None = None


class Completion(BaseModel):
    """What the loop reads of a ``chat.completion`` (the wire JSON, validated: anything else is Groq's fault)."""

    choices: Annotated[list[_Choice], Field(min_length=1)]
    usage: _TokenUsage | None = None


_clients: dict[tuple[str, str | None], Any] = {}


def _client(api_key: str) -> Any:
    """One Groq client per process (its connection pool outlives a request); the SDK reads ``GROQ_BASE_URL``."""
    import groq  # only here: a request that never reaches Groq never pays for the SDK

    key = (api_key, config.env("GROQ_BASE_URL"))
    client = _clients.get(key)
    if client is None:
        _clients.clear()
        client = _clients[key] = groq.Groq(api_key=api_key, max_retries=0)
        # its DEBUG line "Request options" holds the whole conversation and the tools' results: never below INFO
        logging.getLogger("groq").setLevel(logging.INFO)
    return client


def _complete(messages: list[dict[str, Any]], model: str, timeout: float) -> Completion:
    """One chat completion with the tools; Groq's failures become :func:`unavailable` (503)."""
    try:
        api_key = config.secret("GROQ_API_KEY")
    except config.ConfigurationError:
        logger.error("ai chat: GROQ_API_KEY is not configured")
        raise unavailable() from None
    base_url = config.env("GROQ_BASE_URL")
    if base_url and base_url.rstrip("/") != GROQ_API and not config.is_local():
        logger.error("ai chat: GROQ_BASE_URL is not Groq's (only https://api.groq.com outside dev/test)")
        raise unavailable()
    client = _client(api_key)
    import groq

    try:  # the raw answer: the loop validates the wire JSON itself rather than trust a loosely built object
        response = client.chat.completions.with_raw_response.create(
            model=model, messages=messages, tools=assistant_tools.SCHEMAS, tool_choice="auto",
            max_completion_tokens=MAX_COMPLETION_TOKENS, temperature=0.2, timeout=timeout)
    except (groq.AuthenticationError, groq.PermissionDeniedError) as error:
        logger.error("ai chat: Groq refused the API key", extra={"status": error.status_code,
                                                                 "groq_code": _error_code(error.body)})
        raise unavailable() from None
    except groq.APIStatusError as error:
        retry_after = _retry_after(error.response.headers)
        if error.status_code in TRANSIENT_STATUSES or error.status_code >= 500:
            logger.warning("ai chat: Groq unavailable", extra={"status": error.status_code, "retry_after": retry_after})
            raise unavailable(retry_after) from None
        logger.error("ai chat: Groq rejected the request", extra={"status": error.status_code,
                                                                  "groq_code": _error_code(error.body)})
        raise unavailable() from None
    except groq.APIConnectionError as error:  # APITimeoutError included
        logger.warning("ai chat: Groq unreachable", extra={"error_type": type(error).__name__})
        raise unavailable() from None
    except groq.APIError as error:  # any other failure the SDK knows (e.g. its own response validation)
        logger.error("ai chat: Groq call failed", extra={"error_type": type(error).__name__})
        raise unavailable() from None
    try:
        return Completion.model_validate(response.json())
    except ValidationError as error:  # not a completion: the fields at fault, never their content
        fields = [".".join(map(str, e["loc"])) for e in error.errors(include_url=False)][:5]
        logger.error("ai chat: Groq answered in an unexpected shape", extra={"fields": fields})
    except ValueError:  # not JSON
        logger.error("ai chat: Groq answered in an unexpected shape", extra={"fields": []})
    raise unavailable()


# --- the loop ------------------------------------------------------------------------------------------------------

def _with_ids(calls: list[_ToolCall], round_number: int) -> list[_ToolCall]:
    """The calls, each with its own id (ours when Groq gave none or repeated one): each tool message answers one."""
    seen: set[str] = set()
    for index, call in enumerate(calls):
        if not call.id or call.id in seen:
            call.id = f"call_odys_{round_number}_{index}"
        seen.add(call.id)
    return calls


def _assistant_turn(message: _Message) -> dict[str, Any]:
    """The model's tool-calling message as it goes back into the conversation."""
    turn: dict[str, Any] = {"role": "assistant", "tool_calls": [
        {"id": call.id, "type": "function",
         "function": {"name": call.function.name or "", "arguments": call.function.arguments or ""}}
        for call in message.tool_calls or []]}
    if message.content:
        turn["content"] = message.content
    return turn


class _Usage:
    def __init__(self, model: str) -> None:
        self.model, self.rounds, self.prompt, self.completion = model, 0, 0, 0

    def add(self, usage: _TokenUsage | None) -> None:
        self.rounds += 1
        if usage is not None:
            self.prompt += usage.prompt_tokens or 0
            self.completion += usage.completion_tokens or 0

    @property
    def total(self) -> int:
        return self.prompt + self.completion

    def view(self, limit: Limit | None) -> dict[str, Any]:
        return {"rounds": self.rounds, "promptTokens": self.prompt, "completionTokens": self.completion,
                "totalTokens": self.total, "limitReached": limit, "model": self.model}


def chat(user_id: str, request: ChatRequest, now: Any = None) -> dict[str, Any]:
    """Answer the professional's last message, using the tools as needed, within the bounds."""
    now = now or clock.now()
    professional = caller.professional(user_id)
    _require_plan(professional, now)
    context = ToolContext(user_id=user_id, professional=professional, now=now)
    model = config.env("GROQ_MODEL", DEFAULT_MODEL) or DEFAULT_MODEL
    budget = config.env_int("AI_CHAT_TOKEN_BUDGET", DEFAULT_TOKEN_BUDGET)
    deadline = time.monotonic() + float(config.env("AI_CHAT_DEADLINE_SECONDS") or DEFAULT_DEADLINE_SECONDS)
    call_timeout = float(config.env("GROQ_TIMEOUT_SECONDS") or DEFAULT_CALL_TIMEOUT_SECONDS)
    messages: list[dict[str, Any]] = [{"role": "system", "content": system_prompt(professional, now, context.locale)}]
    messages += [{"role": m.role, "content": m.content} for m in request.messages]
    usage, runs = _Usage(model), []
    limit: Limit | None = None
    reply: str | None = None
    texts = _LIMIT_REPLY[context.locale]
    while True:
        if usage.rounds and deadline - time.monotonic() < MIN_ROUND_SECONDS:  # the tools took the time left
            limit = "time"
            break
        try:
            completion = _complete(messages, model, max(0.1, min(call_timeout, deadline - time.monotonic())))
        except ServiceUnavailable:
            if not any(run.wrote for run in runs):
                raise  # nothing was changed: "try again" is the honest answer
            limit = "unavailable"
            break
        usage.add(completion.usage)
        choice = completion.choices[0]
        message = choice.message
        if not message.tool_calls:
            reply = (message.content or "").strip() or texts["empty"]
            if choice.finish_reason == "length":
                reply, limit = f"{reply}\n\n{texts['length']}", "tokens"
            break
        if usage.rounds >= MAX_ROUNDS:
            limit = "rounds"
        elif usage.total >= budget:
            limit = "tokens"
        elif deadline - time.monotonic() < MIN_ROUND_SECONDS:
            limit = "time"
        if limit:
            break
        _with_ids(message.tool_calls, usage.rounds)
        messages.append(_assistant_turn(message))
        for index, call in enumerate(message.tool_calls):
            run = _run_call(context, call, index, deadline)
            runs.append(run)
            messages.append({"role": "tool", "tool_call_id": call.id, "content": run.content})
    if reply is None:
        assert limit is not None
        reply = texts[limit].format(rounds=MAX_ROUNDS)
    logger.info("ai chat answered", extra={
        "professional_id": str(professional["id"]), "messages": len(request.messages), "rounds": usage.rounds,
        "tools": [f"{r.name if r.name in assistant_tools.TOOLS else 'unknown'}:{'ok' if r.ok else 'error'}"
                  for r in runs],  # the model's own name for an unknown tool is free text: not logged
        "prompt_tokens": usage.prompt,
        "completion_tokens": usage.completion, "limit_reached": limit})
    return {"reply": reply, "toolCalls": [r.report() for r in runs], "usage": usage.view(limit)}


def _run_call(context: ToolContext, call: _ToolCall, index: int, deadline: float) -> ToolRun:
    """Run one call of the model's turn, unless it is over the per-turn cap or the time budget is spent (a call
    may wait on the PSP or the database: the calls of one turn must not outlast the function)."""
    name, arguments = call.function.name or "", call.function.arguments
    if index >= MAX_TOOL_CALLS_PER_ROUND:
        return assistant_tools.refused(context, name, arguments,
                                       f"At most {MAX_TOOL_CALLS_PER_ROUND} tool calls per turn; call it again "
                                       f"in the next turn if it is still needed.")
    if deadline - time.monotonic() < MIN_ROUND_SECONDS:
        return assistant_tools.refused(context, name, arguments, "Out of time for this question: not run.")
    return assistant_tools.run(context, name, arguments)
