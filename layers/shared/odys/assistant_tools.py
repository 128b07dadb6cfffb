"""The AI assistant's four tools: JSON schemas from pydantic models, run through the services the HTTP routes use.

    context = ToolContext(user_id=user_id, professional=professional_row, now=clock.now())
    SCHEMAS                                            # the ``tools`` of a Groq chat-completions request
    done = run(context, "get_appointments_today", "{}")
    done.content       # '{"date":"2026-12-02","appointments":[{"id":…,"start":"09:00","client":"Bia Lima",…}]}'
    done.report()      # {"name": "get_appointments_today", "arguments": {}, "ok": True,
                       #  "summary": "3 atendimento(s) hoje"}

Every tool acts as the caller and only as the caller: each one goes through the service of its route
(:mod:`odys.appointments` for the day and for status changes — the agenda's unit of work, so plan limits, the
transition rules and the client's WhatsApp follow as for ``PATCH /api/appointments/{id}`` —, :mod:`odys.clients`
for the phone lookup), so another professional's id is simply not found. The revenue summary has no route; its
SQL is :mod:`odys.store.revenue`, in the professional's time zone.

:func:`run` never raises for what the model sends: malformed JSON, arguments the schema refuses, an unknown tool,
an id that is not the caller's, a refused transition — each becomes a tool result ``{"error": <code>, "message":
…}`` for the model (and ``ok: false`` in the report). Results are compact (the model pays per token) and carry what
a question needs: client phones are masked to their last 4 digits unless the professional asked for the number.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from odys import pagination, snapstart
from odys.appointment_views import Status, local_date
from odys.errors import NotFound, Problem
from odys.fields import Phone, phone_variants
from odys.message_templates import format_money, resolve_locale
from odys.store import revenue as revenue_store

# The tools' services, imported by the tool that runs them (a chat may call none): in the snapshot all the same.
snapstart.preload("odys.appointments", "odys.clients")

MAX_CUSTOM_DAYS = 366
SHOWN_PHONE_DIGITS = 4
Locale = Literal["pt-BR", "en"]


@dataclass(frozen=True)
class ToolContext:
    """Who the tools act for: the authenticated user, their professional row, and the request's instant."""

    user_id: str
    professional: dict[str, Any]
    now: dt.datetime

    @property
    def timezone(self) -> str:
        return self.professional["timezone"]

    @property
    def locale(self) -> Locale:
        return "en" if resolve_locale(self.professional.get("locale")) == "en" else "pt-BR"

    @property
    def today(self) -> dt.date:
        return local_date(self.now, self.timezone)

    def local(self, instant: dt.datetime) -> dt.datetime:
        return instant.astimezone(ZoneInfo(self.timezone))


@dataclass
class ToolRun:
    """One tool call as it went: what goes back to the model (``content``) and what the professional is shown."""

    name: str
    arguments: dict[str, Any] | None  # None when the model's arguments were not a JSON object
    ok: bool
    summary: str
    result: dict[str, Any] = field(default_factory=dict)
    wrote: bool = False  # a tool that changes data ran (its change may be a no-op: the status it already had)

    @property
    def content(self) -> str:
        return json.dumps(self.result, separators=(",", ":"), ensure_ascii=False)

    def report(self) -> dict[str, Any]:
        return {"name": self.name, "arguments": self.arguments, "ok": self.ok, "summary": self.summary}


class ToolFailed(Exception):
    """Raised inside a tool: becomes ``{"error": code, "message": message, **extra}`` for the model."""

    def __init__(self, code: str, message: str, summary: str, **extra: Any) -> None:
        super().__init__(message)
        self.code, self.message, self.summary, self.extra = code, message, summary, extra


# --- arguments ---------------------------------------------------------------------------------------------------

class ToolArgs(BaseModel):
    """Arguments as the model sends them: snake_case, unknown keys refused."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class NoArgs(ToolArgs):
    pass


class CustomerByPhoneArgs(ToolArgs):
    phone: Phone = Field(description="The client's phone as the professional wrote it, with the DDD (area code): "
                                     "Brazilian formats with or without +55 and the 9th digit, spaces or dashes.")
    show_full_phone: bool = Field(default=False, description="true only when the professional explicitly asked for "
                                                             "the full number; otherwise phones come masked.")


class RevenueSummaryArgs(ToolArgs):
    period: Literal["today", "week", "month", "last_month", "custom"] = Field(
        description="today; week (Monday to Sunday, this week); month (this calendar month); last_month; custom "
                    "(give from and to).")
    from_: dt.date | None = Field(default=None, alias="from", description="custom only: first day, YYYY-MM-DD.")
    to: dt.date | None = Field(default=None, description="custom only: last day (included), YYYY-MM-DD.")

    model_config = ConfigDict(populate_by_name=True)

    @model_validator(mode="after")
    def _custom_range(self) -> RevenueSummaryArgs:
        if self.period != "custom":
            if self.from_ is not None or self.to is not None:
                raise ValueError("from and to are only for period custom")
            return self
        if self.from_ is None or self.to is None:
            raise ValueError("period custom needs from and to (YYYY-MM-DD)")
        if self.to < self.from_:
            raise ValueError("to must be on or after from")
        if (self.to - self.from_).days >= MAX_CUSTOM_DAYS:
            raise ValueError(f"a custom period spans at most {MAX_CUSTOM_DAYS} days")
        return self


class StatusChangeArgs(ToolArgs):
    appointment_id: uuid.UUID = Field(description="The appointment's id, as get_appointments_today or "
                                                  "get_customer_by_phone returned it.")
    status: Status = Field(description="The new status.")


# --- the tools ---------------------------------------------------------------------------------------------------

def _masked(phone: str) -> str:
    """``+5511987654321`` -> ``"****4321"``."""
    return "*" * 4 + phone[-SHOWN_PHONE_DIGITS:]


def _text(context: ToolContext, pt: str, en: str, **values: Any) -> str:
    return (en if context.locale == "en" else pt).format(**values)


def _compact(context: ToolContext, view: dict[str, Any], *, with_date: bool = True,
             with_client: bool = False) -> dict[str, Any]:
    """An appointment view (odys.appointment_views) cut to what the model needs, in local time."""
    starts, ends = context.local(view["startsAt"]), context.local(view["endsAt"])
    out: dict[str, Any] = {"id": view["id"]}
    if with_date:
        out["date"] = starts.date().isoformat()
    out.update(start=starts.strftime("%H:%M"), end=ends.strftime("%H:%M"))
    if with_client:
        out["client"] = view["client"]["name"]
    out.update(status=view["status"], payment=view["paymentStatus"], priceCents=view["price"])
    return out


def appointments_today(context: ToolContext, _: NoArgs) -> tuple[dict[str, Any], str]:
    from odys import appointments

    day = context.today.isoformat()
    query = appointments.AppointmentQuery.model_validate({"from": day, "to": day, "limit": pagination.MAX_LIMIT})
    page = appointments.list_page(context.user_id, query)
    items = [_compact(context, view, with_date=False, with_client=True) for view in page["appointments"]]
    result = {"date": day, "timezone": context.timezone, "appointments": items, "more": page["nextCursor"] is not None}
    return result, _text(context, "{n} atendimento(s) hoje", "{n} appointment(s) today", n=len(items))


def customer_by_phone(context: ToolContext, args: CustomerByPhoneArgs) -> tuple[dict[str, Any], str]:
    from odys import clients

    variants = phone_variants(args.phone.removeprefix("+"))
    subscriber = args.phone[-8:]  # in every variant: the search finds them all, then the exact forms decide
    page = clients.list_page(context.user_id, clients.ClientQuery(q=subscriber, limit=pagination.MAX_LIMIT),
                             now=context.now)
    match = next((c for c in page["clients"] if c["phone"] in variants), None)
    if match is None:
        raise ToolFailed("not_found", "No client of this professional has that phone number.",
                         _text(context, "nenhum cliente com esse telefone", "no client with that phone"))
    detail = clients.get(context.user_id, match["id"], now=context.now)
    upcoming, past = detail["appointments"]["upcoming"], detail["appointments"]["past"]
    totals = detail["totals"]
    result = {
        "client": {"id": detail["id"], "name": detail["name"],
                   "phone": detail["phone"] if args.show_full_phone else _masked(detail["phone"])},
        "nextAppointment": _compact(context, upcoming[0]) if upcoming else None,
        "lastAppointment": _compact(context, past[0]) if past else None,
        "appointments": totals["appointments"], "paidCents": totals["paidCents"], "owedCents": totals["dueCents"],
    }
    return result, _text(context, "cliente encontrado: {name}", "client found: {name}", name=detail["name"])


def _period(context: ToolContext, args: RevenueSummaryArgs) -> tuple[dt.date, dt.date]:
    today = context.today
    if args.period == "today":
        return today, today
    if args.period == "week":
        monday = today - dt.timedelta(days=today.weekday())
        return monday, monday + dt.timedelta(days=6)
    first_of_month = today.replace(day=1)
    if args.period == "month":
        next_month = (first_of_month + dt.timedelta(days=32)).replace(day=1)
        return first_of_month, next_month - dt.timedelta(days=1)
    if args.period == "last_month":
        last_day = first_of_month - dt.timedelta(days=1)
        return last_day.replace(day=1), last_day
    assert args.from_ is not None and args.to is not None  # the model validator
    return args.from_, args.to


def revenue_summary(context: ToolContext, args: RevenueSummaryArgs) -> tuple[dict[str, Any], str]:
    first, last = _period(context, args)
    pid = str(context.professional["id"])
    rows = revenue_store.by_payment_status(pid, context.timezone, first, last)
    by_status = {row["payment_status"]: {"count": int(row["appointments"]), "cents": int(row["cents"])} for row in rows}
    paid = by_status.get("paid", {}).get("cents", 0)
    pending = sum(by_status.get(s, {}).get("cents", 0) for s in ("unpaid", "pending"))
    result = {"period": args.period, "from": first.isoformat(), "to": last.isoformat(), "paidCents": paid,
              "pendingCents": pending, "appointments": sum(v["count"] for v in by_status.values()),
              "byPaymentStatus": by_status,
              "note": "cancelled appointments count only when paid; pending includes sessions still to come"}
    summary = _text(context, "{first} a {last}: {paid} recebidos, {pending} pendentes",
                    "{first} to {last}: {paid} paid, {pending} pending", first=first.isoformat(),
                    last=last.isoformat(), paid=format_money(paid, context.locale),
                    pending=format_money(pending, context.locale))
    return result, summary


def update_status(context: ToolContext, args: StatusChangeArgs) -> tuple[dict[str, Any], str]:
    from odys import appointments

    appointment_id = str(args.appointment_id)
    before = appointments.get(context.user_id, appointment_id)  # NotFound for anyone else's id
    after = appointments.update(context.user_id, appointment_id, appointments.AppointmentUpdate(status=args.status),
                                now=context.now)
    result = {"appointment": _compact(context, after, with_client=True), "previousStatus": before["status"]}
    if before["status"] == after["status"]:
        summary = _text(context, "atendimento {id} já estava {status}", "appointment {id} was already {status}",
                        id=appointment_id[:8], status=after["status"])
    else:
        summary = _text(context, "atendimento {id}: {was} → {now}", "appointment {id}: {was} → {now}",
                        id=appointment_id[:8], was=before["status"], now=after["status"])
    return result, summary


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    args: type[ToolArgs]
    handler: Callable[[ToolContext, Any], tuple[dict[str, Any], str]]
    writes: bool = False

    @property
    def schema(self) -> dict[str, Any]:
        """The tool as Groq (OpenAI-compatible) takes it, its parameters the model's JSON schema without titles."""
        return {"type": "function", "function": {"name": self.name, "description": self.description,
                                                 "parameters": _untitled(self.args.model_json_schema(by_alias=True))}}


def _untitled(schema: Any) -> Any:
    """A JSON schema without pydantic's ``title`` keys (tokens the model pays for and does not need)."""
    if isinstance(schema, dict):
        return {k: _untitled(v) for k, v in schema.items()
                if not (k == "title" and isinstance(v, str))}
    if isinstance(schema, list):
        return [_untitled(v) for v in schema]
    return schema


TOOLS: dict[str, Tool] = {tool.name: tool for tool in (
    Tool("get_appointments_today", "The professional's appointments today (their local day), in start order: id, "
         "start/end time, client name, status, payment status, price in cents.", NoArgs, appointments_today),
    Tool("get_customer_by_phone", "Find one of the professional's clients by phone: name, masked phone, next and "
         "last appointment, count of appointments, cents paid and owed.", CustomerByPhoneArgs, customer_by_phone),
    Tool("get_revenue_summary", "Revenue of a period in the professional's time zone: cents paid, cents pending "
         "(unpaid or pending), and count and cents by payment status.", RevenueSummaryArgs, revenue_summary),
    Tool("update_appointment_status", "Change one appointment's status (pending, confirmed, completed, cancelled, "
         "no_show) as the agenda allows; the client is told by WhatsApp as when the professional does it. Only "
         "when the professional asked for this change and the appointment is certain.", StatusChangeArgs,
         update_status, writes=True),
)}
SCHEMAS: list[dict[str, Any]] = [tool.schema for tool in TOOLS.values()]


# --- running a call ------------------------------------------------------------------------------------------------

def _parse_arguments(raw: str | None) -> dict[str, Any] | None:
    """The model's JSON arguments as an object (``""`` and ``null`` mean none), or None when they are not one."""
    if raw is None or not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    if value is None:
        return {}
    return value if isinstance(value, dict) else None


def _invalid(error: ValidationError) -> list[dict[str, str]]:
    """Field and message of each refusal, never the refused value."""
    return [{"field": ".".join(str(p) for p in item["loc"]) or "arguments", "message": item["msg"]}
            for item in error.errors(include_url=False, include_input=False)]


def run(context: ToolContext, name: str, raw_arguments: str | None) -> ToolRun:
    """Run the tool ``name`` with the model's JSON ``raw_arguments``; every refusal is a result, never an exception."""
    arguments = _parse_arguments(raw_arguments)
    tool = TOOLS.get(name)
    try:
        if tool is None:
            raise ToolFailed("unknown_tool", f"There is no tool {name[:64]!r}; the tools are {', '.join(TOOLS)}.",
                             _text(context, "ferramenta desconhecida", "unknown tool"))
        if arguments is None:
            raise ToolFailed("invalid_arguments", "The arguments must be one JSON object.",
                             _text(context, "argumentos inválidos", "invalid arguments"))
        try:
            args = tool.args.model_validate(arguments)
        except ValidationError as error:
            raise ToolFailed("invalid_arguments", "Some arguments are invalid.",
                             _text(context, "argumentos inválidos", "invalid arguments"),
                             errors=_invalid(error)) from None
        try:
            result, summary = tool.handler(context, args)
        except NotFound:
            raise ToolFailed("not_found", "Not found among this professional's data.",
                             _text(context, "não encontrado", "not found")) from None
        except Problem as problem:  # a rule of the service: a refused transition, a plan limit, a taken slot
            raise ToolFailed(problem.code, problem.detail, _text(context, "recusado: {code}", "refused: {code}",
                                                                 code=problem.code), **problem.extra) from None
    except ToolFailed as failure:
        return ToolRun(name[:64], arguments, False, failure.summary,
                       {"error": failure.code, "message": failure.message, **failure.extra})
    return ToolRun(name, arguments, True, summary, result, wrote=tool.writes)


def refused(context: ToolContext, name: str, raw_arguments: str | None, message: str) -> ToolRun:
    """A call the loop does not run (over the per-turn cap): an error result the model can act on."""
    return ToolRun(name[:64], _parse_arguments(raw_arguments), False,
                   _text(context, "não executada", "not run"), {"error": "not_run", "message": message})
