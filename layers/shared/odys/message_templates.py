"""The 19 WhatsApp templates as data, rendering, the Cloud API payloads, and pt-BR / en formatting.

The templates live in ``odys/templates/<locale>.json`` (``pt-BR`` default, ``en``), loaded once per process::

    from odys import message_templates as mt

    mt.get("msgReminder24h").meta_name            # "odys_reminder_24h"
    rendered = mt.render("msgReminder24h", {
        "client_name": "Ana", "professional_name": "Dra. Marta",
        "date_time": mt.format_datetime(starts_at, "America/Sao_Paulo", "pt-BR"),
        "manage_link": links.manage_link(token)})
    rendered.text                                  # what the client reads (conversation view, previews)
    mt.meta_template_payload(rendered, "+5511987654321", callback=message_id,
                             button_payloads={"confirm": "…", "reschedule": "…", "cancel": "…"})
    mt.meta_text_payload(rendered.text, "+5511987654321", callback=message_id)   # inside the 24 h window

Rendering refuses a missing or unknown parameter (:class:`TemplateError`, a 422 problem and a ``ValueError``),
cleans every value (newline, tab and other whitespace become one space; runs collapse: Meta refuses them) and
enforces Meta's limits: each value ≤ 1,024 characters, a template's text ≤ 1,024, a free-form text ≤ 4,096.
``text_override`` (a professional's rewording, see :mod:`odys.store.message_templates`) replaces the text: it may
use only the template's placeholders and is sent free-form, so its limit is 4,096.

Formatting is hand-written (no Babel: 36 MB and a no-break space): dates and times always in the recipient's zone::

    format_datetime(instant, "America/Sao_Paulo", "pt-BR")   # "terça-feira, 3 de dezembro às 14:30"
    format_datetime(instant, "America/New_York", "en")       # "Tuesday, December 3 at 12:30 PM"
    format_money(123456, "pt-BR")                            # "R$ 1.234,56"   (en: "R$1,234.56")
    format_weekly(2, dt.time(14, 30), "pt-BR")               # "toda terça-feira às 14:30" (0 = Sunday)
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from odys.errors import ValidationFailed

DEFAULT_LOCALE = "pt-BR"
LOCALES = ("pt-BR", "en")
BUTTONS = ("confirm", "reschedule", "cancel")
MAX_VALUE = 1024      # one body parameter
MAX_TEMPLATE_TEXT = 1024  # a template body as rendered
MAX_FREE_FORM = 4096  # a free-form text message

_DIR = Path(__file__).with_name("templates")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_WHITESPACE = re.compile(r"\s+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class TemplateError(ValidationFailed, ValueError):
    """422 ``template_error``: missing/unknown parameters, a value or text over the limits, unknown placeholders."""

    code = "template_error"


class UnknownTemplate(ValidationFailed, KeyError):
    """422 ``unknown_template``: no template has that key (also a ``KeyError`` for internal callers)."""

    code = "unknown_template"

    def __init__(self, key: str) -> None:
        super().__init__(f"No message template {key!r}.", extra={"template": key})

    def __str__(self) -> str:
        return self.detail


@dataclass(frozen=True)
class Template:
    """One template in one locale; ``text`` has ``{param}`` placeholders for every name of ``params``."""

    key: str
    recipient: Literal["client", "professional"]
    category: Literal["utility", "marketing"]
    meta_name: str
    language: str
    params: tuple[str, ...]
    buttons: tuple[str, ...]
    text: str
    automatic: bool
    manual: bool


@dataclass(frozen=True)
class Rendered:
    """A rendered message: ``text`` as the recipient reads it, ``params`` the cleaned values (the template's order)."""

    key: str
    locale: str
    text: str
    params: dict[str, str]


def _load() -> tuple[dict[str, dict[str, Template]], dict[str, dict[str, str]]]:
    out: dict[str, dict[str, Template]] = {}
    labels: dict[str, dict[str, str]] = {}
    for locale in LOCALES:
        data = json.loads((_DIR / f"{locale}.json").read_text(encoding="utf-8"))
        labels[locale] = data["buttonLabels"]
        out[locale] = {
            key: Template(key=key, recipient=item["recipient"], category=item["category"],
                          meta_name=item["metaName"], language=data["language"], params=tuple(item["params"]),
                          buttons=tuple(item.get("buttons", ())), text=item["text"],
                          automatic=item["automatic"], manual=item["manual"])
            for key, item in data["templates"].items()
        }
    return out, labels


TEMPLATES, _BUTTON_LABELS = _load()
"""locale → key → :class:`Template`, in the files' order."""
KEYS: tuple[str, ...] = tuple(TEMPLATES[DEFAULT_LOCALE])


def resolve_locale(locale: str | None) -> str:
    """``"en"``, ``"en-US"``, ``"en_GB"`` → ``"en"``; anything else (``None``, ``"pt"``, unknown) → ``"pt-BR"``."""
    if locale and locale.replace("_", "-").split("-")[0].lower() == "en":
        return "en"
    return DEFAULT_LOCALE


def get(key: str, locale: str | None = DEFAULT_LOCALE) -> Template:
    """The template ``key`` in ``locale`` (see :func:`resolve_locale`); :class:`UnknownTemplate` if no such key."""
    try:
        return TEMPLATES[resolve_locale(locale)][key]
    except KeyError:
        raise UnknownTemplate(key) from None


def placeholders(text: str) -> list[str]:
    """Every ``{…}`` placeholder of ``text`` in order: ``placeholders("Oi {client_name}")`` → ``["client_name"]``."""
    return _PLACEHOLDER.findall(text)


def unknown_placeholders(key: str, text: str) -> list[str]:
    """The placeholders of ``text`` the template ``key`` does not have (an override must leave this empty)."""
    known = set(get(key).params)
    return sorted({name for name in placeholders(text) if name not in known})


def has_stray_brace(text: str) -> bool:
    """Whether a ``{`` or ``}`` is left once the placeholders are taken out: ``has_stray_brace("{{x}}")`` → True."""
    rest = _PLACEHOLDER.sub("", text)
    return "{" in rest or "}" in rest


def clean(value: str) -> str:
    """A parameter value as Meta accepts it: controls dropped, any whitespace run → one space, trimmed."""
    return _WHITESPACE.sub(" ", _CONTROL.sub(" ", value)).strip()


def render(key: str, params: dict[str, Any], *, locale: str | None = DEFAULT_LOCALE,
           text_override: str | None = None) -> Rendered:
    """Render ``key`` with exactly its params (``str``; ``int`` accepted and converted), cleaned and checked.

    ``render("msgSubscriptionActivated", {"professional_name": "Marta", "plan": "Pro"}).text``
    → ``"Olá, Marta! Sua assinatura do plano Pro está ativa. …"``
    """
    template = get(key, locale)
    expected = set(template.params)
    missing = [name for name in template.params if name not in params]
    unknown = sorted(name for name in params if name not in expected)
    if missing or unknown:
        raise TemplateError(
            f"Template {key} takes exactly {', '.join(template.params)}.",
            errors=[{"field": name, "message": "missing"} for name in missing]
            + [{"field": name, "message": "unknown parameter"} for name in unknown])
    values: dict[str, str] = {}
    for name in template.params:
        raw = params[name]
        if isinstance(raw, bool) or not isinstance(raw, (str, int)):
            raise TemplateError(f"Parameter {name} must be text.", errors=[{"field": name, "message": "not text"}])
        value = clean(str(raw))
        if not value:
            raise TemplateError(f"Parameter {name} is empty.", errors=[{"field": name, "message": "empty"}])
        if len(value) > MAX_VALUE:
            raise TemplateError(f"Parameter {name} is longer than {MAX_VALUE} characters.",
                                errors=[{"field": name, "message": "too long"}])
        values[name] = value
    source = template.text if text_override is None else text_override
    limit = MAX_TEMPLATE_TEXT if text_override is None else MAX_FREE_FORM
    bad = sorted({name for name in placeholders(source) if name not in expected})
    if bad:
        raise TemplateError(f"Unknown placeholders: {', '.join('{' + n + '}' for n in bad)}.",
                            errors=[{"field": "text", "message": f"unknown placeholder {{{n}}}"} for n in bad],
                            extra={"unknownPlaceholders": bad})
    text = _PLACEHOLDER.sub(lambda match: values[match.group(1)], source)
    if len(text) > limit:
        raise TemplateError(f"The rendered {key} is longer than {limit} characters.",
                            errors=[{"field": "text", "message": "too long"}])
    return Rendered(key=key, locale=resolve_locale(locale), text=text, params=values)


def _digits(to: str) -> str:
    digits = "".join(ch for ch in to if ch.isdigit() and ch.isascii())
    if not 8 <= len(digits) <= 15:
        raise ValueError("the recipient is not a phone number")
    return digits


def meta_template_payload(rendered: Rendered, to: str, *, button_payloads: dict[str, str] | None = None,
                          callback: str | None = None) -> dict[str, Any]:
    """The JSON body of ``POST /{version}/{phone_number_id}/messages`` sending ``rendered`` as its Meta template.

    ``button_payloads`` maps each of the template's buttons (confirm/reschedule/cancel) to its quick-reply payload
    (all of them, or ``None`` to send none); ``callback`` (our message id) comes back in status webhooks.
    """
    template = get(rendered.key, rendered.locale)
    components: list[dict[str, Any]] = [{
        "type": "body",
        "parameters": [{"type": "text", "parameter_name": name, "text": rendered.params[name]}
                       for name in template.params],
    }]
    if button_payloads is not None:
        if set(button_payloads) != set(template.buttons):
            raise ValueError(f"{rendered.key} has the buttons {', '.join(template.buttons) or 'none'}")
        for index, action in enumerate(template.buttons):
            payload = button_payloads[action]
            if not payload or len(payload) > 256:
                raise ValueError("a quick-reply payload has 1 to 256 characters")
            components.append({"type": "button", "sub_type": "quick_reply", "index": str(index),
                               "parameters": [{"type": "payload", "payload": payload}]})
    body: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": _digits(to),
        "type": "template",
        "template": {"name": template.meta_name, "language": {"code": template.language}, "components": components},
    }
    if callback is not None:
        body["biz_opaque_callback_data"] = callback
    return body


def meta_text_payload(text: str, to: str, callback: str | None = None) -> dict[str, Any]:
    """The JSON body of a free-form text message (only inside the 24 h customer-service window)."""
    if not text.strip() or len(text) > MAX_FREE_FORM:
        raise TemplateError(f"A text message has 1 to {MAX_FREE_FORM} characters.",
                            errors=[{"field": "body", "message": "length"}])
    body: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": _digits(to),
        "type": "text",
        "text": {"body": text, "preview_url": False},
    }
    if callback is not None:
        body["biz_opaque_callback_data"] = callback
    return body


# --- formatting: pt-BR and en, by hand ----------------------------------------------------------------------------

_WEEKDAYS = {  # Monday first, like date.weekday()
    "pt-BR": ("segunda-feira", "terça-feira", "quarta-feira", "quinta-feira", "sexta-feira", "sábado", "domingo"),
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
}
_MONTHS = {
    "pt-BR": ("janeiro", "fevereiro", "março", "abril", "maio", "junho", "julho", "agosto", "setembro", "outubro",
              "novembro", "dezembro"),
    "en": ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"),
}


def _local(value: dt.datetime, timezone: str | None) -> dt.datetime:
    if value.tzinfo is None:
        raise ValueError("an instant needs a timezone (aware datetime)")
    return value.astimezone(ZoneInfo(timezone)) if timezone else value


def format_date(value: dt.date | dt.datetime, timezone: str | None = None, locale: str | None = DEFAULT_LOCALE) -> str:
    """``"terça-feira, 3 de dezembro"`` / ``"Tuesday, December 3"`` (an instant is taken in ``timezone``)."""
    locale = resolve_locale(locale)
    day = _local(value, timezone).date() if isinstance(value, dt.datetime) else value
    weekday, month = _WEEKDAYS[locale][day.weekday()], _MONTHS[locale][day.month - 1]
    if locale == "en":
        return f"{weekday}, {month} {day.day}"
    return f"{weekday}, {'1º' if day.day == 1 else day.day} de {month}"


def format_time(value: dt.time | dt.datetime, timezone: str | None = None, locale: str | None = DEFAULT_LOCALE) -> str:
    """``"14:30"`` / ``"2:30 PM"`` (an instant is taken in ``timezone``)."""
    clock = _local(value, timezone).time() if isinstance(value, dt.datetime) else value
    if resolve_locale(locale) == "en":
        return f"{clock.hour % 12 or 12}:{clock.minute:02d} {'AM' if clock.hour < 12 else 'PM'}"
    return f"{clock.hour:02d}:{clock.minute:02d}"


def _at(clock: dt.time, locale: str) -> str:
    if locale == "en":
        return "at"
    return "à" if clock.hour in (0, 1) else "às"  # à 01:00 (uma hora), às 14:30


def format_datetime(instant: dt.datetime, timezone: str, locale: str | None = DEFAULT_LOCALE) -> str:
    """``"terça-feira, 3 de dezembro às 14:30"`` / ``"Tuesday, December 3 at 2:30 PM"``, in ``timezone``."""
    locale = resolve_locale(locale)
    local = _local(instant, timezone)
    day, clock = format_date(local.date(), None, locale), format_time(local.time(), None, locale)
    return f"{day} {_at(local.time(), locale)} {clock}"


def format_weekly(day_of_week: int, time: dt.time, locale: str | None = DEFAULT_LOCALE, interval_weeks: int = 1) -> str:
    """``"toda terça-feira às 14:30"`` / ``"every Tuesday at 2:30 PM"``; ``day_of_week`` 0 = Sunday … 6 = Saturday.

    Every other week or more: ``"a cada 2 semanas, às terças-feiras, às 14:30"`` / ``"every 2 weeks on Tuesday at
    2:30 PM"``.
    """
    locale = resolve_locale(locale)
    if not 0 <= day_of_week <= 6 or interval_weeks < 1:
        raise ValueError("day_of_week is 0 (Sunday) to 6 (Saturday), interval_weeks at least 1")
    weekday, clock = _WEEKDAYS[locale][(day_of_week - 1) % 7], format_time(time, None, locale)
    if locale == "en":
        return (f"every {weekday} at {clock}" if interval_weeks == 1
                else f"every {interval_weeks} weeks on {weekday} at {clock}")
    masculine = day_of_week in (0, 6)  # o sábado / o domingo, a segunda-feira
    if interval_weeks == 1:
        return f"{'todo' if masculine else 'toda'} {weekday} {_at(time, locale)} {clock}"
    plural = weekday + "s" if masculine else weekday.replace("-feira", "s-feiras")
    return f"a cada {interval_weeks} semanas, {'aos' if masculine else 'às'} {plural}, {_at(time, locale)} {clock}"


def format_money(cents: int, locale: str | None = DEFAULT_LOCALE) -> str:
    """``format_money(123456)`` → ``"R$ 1.234,56"`` (ASCII space); en ``"R$1,234.56"``; negative ``"-R$ 1,00"``."""
    sign, cents = ("-" if cents < 0 else ""), abs(cents)
    units = f"{cents // 100:,}"
    if resolve_locale(locale) == "en":
        return f"{sign}R${units}.{cents % 100:02d}"
    return f"{sign}R$ {units.replace(',', '.')},{cents % 100:02d}"


def button_label(action: str, locale: str | None = DEFAULT_LOCALE) -> str:
    """The quick-reply button's text as approved at Meta: ``button_label("reschedule")`` → ``"Remarcar"``."""
    return _BUTTON_LABELS[resolve_locale(locale)][action]
