"""The professional's templates (GET / PATCH /api/message-templates): the effective set with previews, overrides.

Kept apart from :mod:`odys.message_templates` so the sender and the producers do not import pydantic::

    message_template_settings.listing(user_id, TemplateQuery(locale="pt-BR"))
    # {"locale": "pt-BR", "templates": [{"key": "msgBookingConfirmed", "enabled": True, "text": …, "preview": …}]}
    message_template_settings.change(user_id, "msgReminder24h", TemplateChange(enabled=False))
    message_template_settings.change(user_id, "msgReminder24h", TemplateChange(text="Oi {client_name}! …"))
    message_template_settings.change(user_id, "msgReminder24h", TemplateChange(text=None))  # back to the default
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import Field, StrictBool

from odys.fields import ApiModel, reject_nulls
from odys.message_templates import (DEFAULT_LOCALE, MAX_TEMPLATE_TEXT, TEMPLATES, Template, format_date,
                                    format_datetime, format_money, format_time, format_weekly, get, has_stray_brace,
                                    placeholders, render, resolve_locale)


class TemplateQuery(ApiModel):
    """``?locale=pt-BR`` (default) or ``en``: the wording to list."""

    locale: Literal["pt-BR", "en"] = DEFAULT_LOCALE


class TemplateChange(ApiModel):
    """PATCH body: ``enabled`` (switch an automatic template off/on), ``text`` (reword the free-form variant of a
    client template; ``null`` = back to the default), ``locale`` of that text (default ``pt-BR``)."""

    enabled: StrictBool | None = None
    text: str | None = Field(default=None, min_length=1, max_length=MAX_TEMPLATE_TEXT)
    locale: Literal["pt-BR", "en"] = DEFAULT_LOCALE


def sample_params(key: str, professional: dict[str, Any], now: dt.datetime, locale: str | None = DEFAULT_LOCALE
                  ) -> dict[str, str]:
    """Illustrative values for a preview of ``key``: the professional's own name, page and price, tomorrow at
    14:30 in their time zone."""
    from odys import links, pix, plans

    locale, zone = resolve_locale(locale), professional["timezone"]
    today = now.astimezone(ZoneInfo(zone)).date()
    starts = dt.datetime.combine(today + dt.timedelta(days=1), dt.time(14, 30), ZoneInfo(zone))
    plan = plans.PLANS.get(professional["plan"]) or plans.PLANS["pro"]
    price = professional["session_price"] or 15000
    agenda_times = [format_time(dt.time(h, m), None, locale) for h, m in ((9, 0), (10, 0), (14, 30))]
    samples = {
        "client_name": "Mariana Costa", "professional_name": professional["name"],
        "date_time": format_datetime(starts, zone, locale),
        "old_date_time": format_datetime(starts - dt.timedelta(days=1, hours=4), zone, locale),
        "first_date_time": format_datetime(starts, zone, locale),
        "weekly": format_weekly((starts.weekday() + 1) % 7, starts.time(), locale),
        "date": format_date(today, None, locale), "count": "3",
        "agenda": f"{agenda_times[0]} Mariana Costa; {agenda_times[1]} Bruno Lima; {agenda_times[2]} Carla Dias",
        "client_phone": "+55 11 98765-4321",
        "amount": format_money(price, locale),
        "pix_code": pix.build_pix_payload(professional["pix_key"] or "+5511987654321", professional["name"],
                                          amount_cents=price),
        "manage_link": links.manage_link("exemplo"), "review_link": links.review_link("exemplo"),
        "booking_link": links.booking_page(professional["slug"]), "page_link": links.booking_page(professional["slug"]),
        "billing_link": links.billing_page(),
        "trial_end_date": format_date(professional["trial_ends_at"] or now + dt.timedelta(days=3), zone, locale),
        "plan": plan.label, "limit": "clientes" if locale == DEFAULT_LOCALE else "clients",
    }
    return {name: samples[name] for name in get(key, locale).params}


def _view(template: Template, item: dict[str, Any], professional: dict[str, Any], now: dt.datetime,
          locale: str) -> dict[str, Any]:
    params = sample_params(template.key, professional, now, locale)
    return {
        "key": template.key, "recipient": template.recipient, "category": template.category,
        "metaName": template.meta_name, "language": template.language, "params": list(template.params),
        "buttons": list(template.buttons), "automatic": template.automatic, "manual": template.manual,
        "enabled": item["enabled"], "text": item["text"], "defaultText": template.text,
        "preview": render(template.key, params, locale=locale,
                          text_override=item["text"] if item["override"] else None).text,
    }


def listing(user_id: str, query: TemplateQuery) -> dict[str, Any]:
    """``{"locale", "templates": [every template as the professional has it, with a preview]}``."""
    from odys import caller, clock
    from odys.store import message_templates as overrides

    professional, now = caller.professional(user_id), clock.now()
    return {"locale": query.locale, "templates": [
        _view(get(item["key"], query.locale), item, professional, now, query.locale)
        for item in overrides.effective(str(professional["id"]), query.locale)]}


def change(user_id: str, key: str, data: TemplateChange) -> dict[str, Any]:
    """Apply a PATCH: 404 unknown key; 422 ``not_automatic`` (switching off what Odys never sends on its own),
    ``not_editable`` (rewording a notice to the professional), ``unknown_placeholders`` (naming them)."""
    from odys import caller, clock, db
    from odys.errors import NotFound, ValidationFailed
    from odys.store import message_templates as overrides

    template = TEMPLATES[data.locale].get(key)
    if template is None:
        raise NotFound("template")
    fields = data.model_fields_set
    reject_nulls(data.model_dump(include=fields), frozenset({"enabled"}))
    if data.enabled is False and not template.automatic:
        raise ValidationFailed(f"{key} is never sent automatically, so it cannot be switched off.",
                               code="not_automatic")
    if "text" in fields and template.recipient != "client":
        raise ValidationFailed(f"{key} is a notice to you; its text cannot be changed.", code="not_editable")
    if data.text is not None:
        unknown = sorted({name for name in placeholders(data.text) if name not in template.params})
        if unknown:
            raise ValidationFailed(
                f"Unknown placeholders: {', '.join('{' + name + '}' for name in unknown)}. "
                f"Available: {', '.join('{' + name + '}' for name in template.params)}.",
                code="unknown_placeholders", extra={"unknownPlaceholders": unknown},
                errors=[{"field": "text", "message": f"unknown placeholder {{{name}}}"} for name in unknown])
        if has_stray_brace(data.text):
            raise ValidationFailed("A brace is left open: write placeholders as {client_name}.", code="stray_brace",
                                   errors=[{"field": "text", "message": "unmatched { or }"}])
    professional = caller.professional(user_id)
    pid = str(professional["id"])
    with db.transaction():
        if fields & {"enabled", "text"}:
            overrides.save(pid, key, data.locale, enabled=data.enabled,
                           **({"body": data.text} if "text" in fields else {}))
        item = next(i for i in overrides.effective(pid, data.locale) if i["key"] == key)
    return _view(template, item, professional, clock.now(), data.locale)
