"""The 19 WhatsApp templates (odys.message_templates, odys.links), their formatting, the Cloud API payloads, and
/api/message-templates (GET) and /api/message-templates/{key} (PATCH) through real API Gateway v2 events."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from conftest import onboarding_body
from test_account import assert_problem

from odys import db, links
from odys import message_templates as mt
from odys.store import message_templates as overrides

UTC = dt.timezone.utc

# The fixed contract of the design (wa_design.md): key -> (recipient, params, buttons).
CONTRACT = {
    "msgBookingConfirmed": ("client", "client_name professional_name date_time manage_link", "reschedule cancel"),
    "msgNewBookingForProfessional": ("professional", "professional_name client_name date_time client_phone", ""),
    "msgBookingCancelledByClient": ("professional", "professional_name client_name date_time", ""),
    "msgBookingCancelledByProfessional": ("client", "client_name professional_name date_time booking_link", ""),
    "msgBookingRescheduled": ("client", "client_name professional_name old_date_time date_time manage_link",
                              "reschedule cancel"),
    "msgReminder24h": ("client", "client_name professional_name date_time manage_link", "confirm reschedule cancel"),
    "msgDailyAgenda": ("professional", "professional_name date count agenda", ""),
    "msgPixPaymentRequest": ("client", "client_name professional_name date_time amount pix_code", ""),
    "msgPaymentConfirmed": ("client", "client_name professional_name date_time amount", ""),
    "msgPaymentPending": ("client", "client_name professional_name date_time amount pix_code", ""),
    "msgReviewRequest": ("client", "client_name professional_name review_link", ""),
    "msgNoShowNotice": ("client", "client_name professional_name date_time booking_link", ""),
    "msgRecurringScheduleCreated": ("client", "client_name professional_name weekly first_date_time", ""),
    "msgWelcomeProfessional": ("professional", "professional_name page_link", ""),
    "msgTrialEndingSoon": ("professional", "professional_name trial_end_date billing_link", ""),
    "msgSubscriptionActivated": ("professional", "professional_name plan", ""),
    "msgSubscriptionCancelled": ("professional", "professional_name plan billing_link", ""),
    "msgPlanLimitReached": ("professional", "professional_name limit plan billing_link", ""),
    "msgWhatsappDeliveryFailed": ("professional", "professional_name client_name date_time", ""),
}
MANUAL = {"msgPixPaymentRequest", "msgPaymentPending", "msgReviewRequest", "msgBookingConfirmed", "msgReminder24h"}
AUTOMATIC = {k for k, (recipient, _, _) in CONTRACT.items() if recipient == "client"} | {"msgDailyAgenda"}

INSTANT = dt.datetime(2024, 12, 3, 17, 30, tzinfo=UTC)  # 14:30 in São Paulo (UTC-3, no DST since 2019)


def values_for(template: mt.Template) -> dict[str, str]:
    """A realistic value for each parameter (the longest kind the producers pass)."""
    sample = {
        "date_time": mt.format_datetime(INSTANT, "America/Sao_Paulo", "pt-BR"),
        "old_date_time": mt.format_datetime(INSTANT - dt.timedelta(days=1), "America/Sao_Paulo", "pt-BR"),
        "first_date_time": mt.format_datetime(INSTANT, "America/Sao_Paulo", "pt-BR"),
        "weekly": mt.format_weekly(2, dt.time(14, 30), "pt-BR"), "date": mt.format_date(INSTANT.date()),
        "amount": mt.format_money(123456), "pix_code": "00020126" + "x" * 180, "count": "12",
        "agenda": "; ".join(f"{h:02d}:00 Maria Aparecida dos Santos Oliveira" for h in range(8, 20)),
        "manage_link": links.manage_link("A" * 120), "review_link": links.review_link("A" * 120),
        "booking_link": links.booking_page("a" * 40), "page_link": links.booking_page("a" * 40),
        "billing_link": links.billing_page(), "plan": "Premium", "limit": "clientes",
        "trial_end_date": mt.format_date(INSTANT.date()), "client_phone": "+55 11 98765-4321",
    }
    return {name: sample.get(name, "Maria Aparecida dos Santos Oliveira de Albuquerque") for name in template.params}


# --- the data ------------------------------------------------------------------------------------------------------

def test_the_19_templates_follow_the_contract_in_both_locales():
    for locale in mt.LOCALES:
        assert list(mt.TEMPLATES[locale]) == list(CONTRACT)
        for key, (recipient, params, buttons) in CONTRACT.items():
            template = mt.get(key, locale)
            assert (template.recipient, template.params, template.buttons) == (
                recipient, tuple(params.split()), tuple(buttons.split())), key
            assert template.automatic is (key in AUTOMATIC) and template.manual is (key in MANUAL), key
            assert template.category == "utility"
            assert re.fullmatch(r"odys_[a-z0-9_]+", template.meta_name), key
            assert template.language == {"pt-BR": "pt_BR", "en": "en"}[locale]
            assert template.meta_name == mt.get(key, "pt-BR").meta_name  # one Meta name, one approval per language


def test_every_placeholder_is_a_param_and_every_param_a_placeholder_and_meta_would_accept_the_body():
    for locale in mt.LOCALES:
        for template in mt.TEMPLATES[locale].values():
            assert sorted(mt.placeholders(template.text)) == sorted(template.params), (locale, template.key)
            # Meta refuses a body that starts or ends with a variable, or two variables side by side
            assert not template.text.startswith("{") and not template.text.rstrip(".!").endswith("}")
            assert not re.search(r"\}\s*\{", template.text), template.key
            assert "\n\n\n" not in template.text and len(template.text) <= mt.MAX_TEMPLATE_TEXT


def test_all_19_render_in_both_locales_with_their_params_in_order():
    for locale in mt.LOCALES:
        for key in CONTRACT:
            template = mt.get(key, locale)
            values = values_for(template)
            rendered = mt.render(key, values, locale=locale)
            assert (rendered.key, rendered.locale) == (key, locale)
            assert list(rendered.params) == list(template.params) and rendered.params == values
            assert "{" not in rendered.text and "}" not in rendered.text
            for value in values.values():
                assert value in rendered.text
            assert len(rendered.text) <= mt.MAX_TEMPLATE_TEXT


def test_the_portuguese_texts_read_as_a_client_would_get_them():
    rendered = mt.render("msgReminder24h", {
        "client_name": "Ana", "professional_name": "Dra. Marta Lima",
        "date_time": mt.format_datetime(INSTANT, "America/Sao_Paulo", "pt-BR"),
        "manage_link": "https://app.odys.com.br/b/tok"})
    assert rendered.text.startswith("Olá, Ana! Passando para lembrar da sua sessão com Dra. Marta Lima amanhã, "
                                    "terça-feira, 3 de dezembro às 14:30.")
    assert "responda PARAR" in rendered.text
    assert "Hi Ana!" in mt.render("msgReminder24h", dict(rendered.params), locale="en").text
    assert mt.button_label("reschedule") == "Remarcar" and mt.button_label("confirm", "en") == "Confirm"


def test_locales_resolve_to_pt_br_by_default():
    assert mt.resolve_locale("en-US") == mt.resolve_locale("en_GB") == "en"
    assert mt.resolve_locale(None) == mt.resolve_locale("pt") == mt.resolve_locale("fr") == "pt-BR"
    assert mt.get("msgReminder24h", "en-US").language == "en"


# --- rendering rules -------------------------------------------------------------------------------------------------

def test_values_are_cleaned_of_newlines_tabs_and_runs_of_spaces():
    rendered = mt.render("msgSubscriptionActivated",
                         {"professional_name": "  Marta\n\nLima\t\tSouza     Filha\r\n", "plan": "Pro\u2028 \x0b"})
    assert rendered.params == {"professional_name": "Marta Lima Souza Filha", "plan": "Pro"}
    assert "Marta Lima Souza Filha" in rendered.text
    assert mt.render("msgDailyAgenda", {"professional_name": "Marta", "date": "hoje", "count": 3,
                                        "agenda": "09:00 Ana"}).params["count"] == "3"


def test_missing_unknown_empty_or_non_text_params_are_refused():
    ok = {"professional_name": "Marta", "plan": "Pro"}
    with pytest.raises(mt.TemplateError) as missing:
        mt.render("msgSubscriptionActivated", {"professional_name": "Marta"})
    assert missing.value.errors == [{"field": "plan", "message": "missing"}]
    with pytest.raises(mt.TemplateError) as unknown:
        mt.render("msgSubscriptionActivated", {**ok, "client_name": "Ana"})
    assert unknown.value.errors == [{"field": "client_name", "message": "unknown parameter"}]
    for bad in (" \n\t ", None, True, 1.5, ["x"]):
        with pytest.raises(mt.TemplateError):
            mt.render("msgSubscriptionActivated", {**ok, "plan": bad})
    assert isinstance(missing.value, ValueError) and missing.value.status == 422
    with pytest.raises(mt.UnknownTemplate) as no_such:
        mt.get("msgNope")
    assert isinstance(no_such.value, KeyError) and no_such.value.to_dict()["code"] == "unknown_template"


def test_length_limits_are_enforced():
    base = {"professional_name": "Marta", "plan": "Pro"}
    assert mt.render("msgSubscriptionActivated", {**base, "plan": "p" * 900}).params["plan"] == "p" * 900
    with pytest.raises(mt.TemplateError, match="longer than 1024"):
        mt.render("msgSubscriptionActivated", {**base, "plan": "p" * 1025})
    with pytest.raises(mt.TemplateError, match="rendered msgSubscriptionActivated is longer than 1024"):
        mt.render("msgSubscriptionActivated", {"professional_name": "m" * 600, "plan": "p" * 600})
    # the free-form variant (a professional's rewording, sent inside the window) may reach 4,096
    long_override = "{professional_name} " * 4 + "x" * 1500
    text = mt.render("msgSubscriptionActivated", {"professional_name": "m" * 600, "plan": "p"},
                     text_override=long_override).text
    assert 2400 < len(text) <= mt.MAX_FREE_FORM
    with pytest.raises(mt.TemplateError, match="longer than 4096"):
        mt.render("msgSubscriptionActivated", {"professional_name": "m" * 1000, "plan": "p"},
                  text_override="{professional_name}" * 5)


def test_a_text_override_keeps_the_values_and_may_only_use_known_placeholders():
    params = {"professional_name": "Marta", "plan": "Pro"}
    rendered = mt.render("msgSubscriptionActivated", params, text_override="Oi {professional_name}, tudo certo!")
    assert rendered.text == "Oi Marta, tudo certo!" and rendered.params == params
    with pytest.raises(mt.TemplateError) as error:
        mt.render("msgSubscriptionActivated", params, text_override="Oi {nome} {professional_name} {Plan}")
    assert error.value.extra["unknownPlaceholders"] == ["Plan", "nome"]
    assert mt.unknown_placeholders("msgSubscriptionActivated", "{plan} {x}") == ["x"]


# --- formatting ------------------------------------------------------------------------------------------------------

def test_dates_and_times_are_in_the_recipients_zone():
    assert mt.format_datetime(INSTANT, "America/Sao_Paulo", "pt-BR") == "terça-feira, 3 de dezembro às 14:30"
    assert mt.format_datetime(INSTANT, "America/Sao_Paulo", "en") == "Tuesday, December 3 at 2:30 PM"
    assert mt.format_datetime(INSTANT, "America/Manaus", "pt-BR") == "terça-feira, 3 de dezembro às 13:30"
    late = dt.datetime(2024, 12, 4, 1, 30, tzinfo=UTC)  # still the 3rd in São Paulo
    assert mt.format_datetime(late, "America/Sao_Paulo") == "terça-feira, 3 de dezembro às 22:30"
    assert mt.format_date(late, "America/Sao_Paulo") == "terça-feira, 3 de dezembro"
    assert mt.format_date(late, "UTC", "en") == "Wednesday, December 4"
    assert mt.format_time(late, "America/Sao_Paulo") == "22:30"
    assert mt.format_time(dt.time(0, 5), locale="en") == "12:05 AM" and mt.format_time(dt.time(12, 0), None, "en") \
        == "12:00 PM"
    first = dt.datetime(2025, 3, 1, 4, 5, tzinfo=UTC)
    assert mt.format_datetime(first, "America/Sao_Paulo") == "sábado, 1º de março à 01:05"
    assert mt.format_datetime(first, "America/Sao_Paulo", "en") == "Saturday, March 1 at 1:05 AM"
    with pytest.raises(ValueError):
        mt.format_datetime(dt.datetime(2024, 12, 3, 14, 30), "America/Sao_Paulo")  # naive: which zone?


def test_money_and_weekly_rules():
    assert mt.format_money(123456) == "R$ 1.234,56"
    assert mt.format_money(123456, "en") == "R$1,234.56"
    assert [mt.format_money(c) for c in (0, 5, 15000, 123456789)] == [
        "R$ 0,00", "R$ 0,05", "R$ 150,00", "R$ 1.234.567,89"]
    assert mt.format_money(-100) == "-R$ 1,00"
    assert mt.format_weekly(2, dt.time(14, 30)) == "toda terça-feira às 14:30"
    assert mt.format_weekly(6, dt.time(9, 0)) == "todo sábado às 09:00"
    assert mt.format_weekly(0, dt.time(1, 0)) == "todo domingo à 01:00"
    assert mt.format_weekly(1, dt.time(14, 30), "en") == "every Monday at 2:30 PM"
    assert mt.format_weekly(3, dt.time(8, 0), interval_weeks=2) == "a cada 2 semanas, às quartas-feiras, às 08:00"
    assert mt.format_weekly(0, dt.time(8, 0), "en", 4) == "every 4 weeks on Sunday at 8:00 AM"
    with pytest.raises(ValueError):
        mt.format_weekly(7, dt.time(8, 0))


def test_links_are_under_app_base_url(monkeypatch):
    monkeypatch.setenv("APP_BASE_URL", "https://app.odys.com.br/")
    assert links.manage_link("tok.en") == "https://app.odys.com.br/b/tok.en"
    assert links.review_link("tok") == "https://app.odys.com.br/b/tok/review"
    assert links.booking_page("ana-psi") == "https://app.odys.com.br/ana-psi"
    assert links.billing_page() == "https://app.odys.com.br/dashboard/billing"
    monkeypatch.delenv("APP_BASE_URL")
    assert links.billing_page() == "http://localhost:3000/dashboard/billing"


# --- Cloud API payloads ----------------------------------------------------------------------------------------------

def test_the_template_payload_has_named_body_params_in_order_quick_replies_and_our_callback():
    rendered = mt.render("msgReminder24h", {"client_name": "Ana", "professional_name": "Marta",
                                            "date_time": "amanhã", "manage_link": "https://x/b/t"})
    payload = mt.meta_template_payload(rendered, "+55 (11) 98765-4321", callback="msg-1",
                                       button_payloads={"cancel": "c1", "confirm": "k1", "reschedule": "r1"})
    assert payload == {
        "messaging_product": "whatsapp", "recipient_type": "individual", "to": "5511987654321", "type": "template",
        "template": {"name": "odys_reminder_24h", "language": {"code": "pt_BR"}, "components": [
            {"type": "body", "parameters": [
                {"type": "text", "parameter_name": "client_name", "text": "Ana"},
                {"type": "text", "parameter_name": "professional_name", "text": "Marta"},
                {"type": "text", "parameter_name": "date_time", "text": "amanhã"},
                {"type": "text", "parameter_name": "manage_link", "text": "https://x/b/t"}]},
            {"type": "button", "sub_type": "quick_reply", "index": "0",
             "parameters": [{"type": "payload", "payload": "k1"}]},
            {"type": "button", "sub_type": "quick_reply", "index": "1",
             "parameters": [{"type": "payload", "payload": "r1"}]},
            {"type": "button", "sub_type": "quick_reply", "index": "2",
             "parameters": [{"type": "payload", "payload": "c1"}]}]},
        "biz_opaque_callback_data": "msg-1"}
    english = mt.meta_template_payload(mt.render("msgSubscriptionActivated", {"professional_name": "M", "plan": "P"},
                                                 locale="en"), "+15551234567")
    assert english["template"]["language"] == {"code": "en"} and "biz_opaque_callback_data" not in english
    assert [c["type"] for c in english["template"]["components"]] == ["body"]
    with pytest.raises(ValueError):  # every button of the template gets its payload, no other
        mt.meta_template_payload(rendered, "+5511987654321", button_payloads={"confirm": "k1"})
    with pytest.raises(ValueError):
        mt.meta_template_payload(rendered, "not a phone")


def test_the_text_payload_is_a_free_form_message_within_limits():
    assert mt.meta_text_payload("Oi, Ana!", "+5511987654321", callback="m2") == {
        "messaging_product": "whatsapp", "recipient_type": "individual", "to": "5511987654321", "type": "text",
        "text": {"body": "Oi, Ana!", "preview_url": False}, "biz_opaque_callback_data": "m2"}
    for bad in ("", "   ", "x" * 4097):
        with pytest.raises(mt.TemplateError):
            mt.meta_text_payload(bad, "+5511987654321")


# --- /api/message-templates ------------------------------------------------------------------------------------------

def by_key(result) -> dict[str, dict]:
    return {item["key"]: item for item in result.json["templates"]}


def test_the_listing_shows_every_template_with_a_preview_in_the_professionals_zone(api, professional):
    token, me = professional
    result = api.get("/api/message-templates", token=token)
    assert result.status == 200, result.body
    assert result.json["locale"] == "pt-BR" and list(by_key(result)) == list(CONTRACT)
    reminder = by_key(result)["msgReminder24h"]
    assert reminder == {**reminder, "recipient": "client", "category": "utility", "metaName": "odys_reminder_24h",
                        "language": "pt_BR", "params": ["client_name", "professional_name", "date_time",
                                                        "manage_link"],
                        "buttons": ["confirm", "reschedule", "cancel"], "automatic": True, "manual": True,
                        "enabled": True, "text": mt.get("msgReminder24h").text,
                        "defaultText": mt.get("msgReminder24h").text}
    assert reminder["preview"].startswith(f"Olá, Mariana Costa! Passando para lembrar da sua sessão com {me['name']}")
    assert re.search(r"amanhã, \w+(-feira)?, \d+º? de \w+ às 14:30\.", reminder["preview"])
    assert "R$ 150,00" in by_key(result)["msgPixPaymentRequest"]["preview"]
    assert "/ana-psi" in by_key(result)["msgWelcomeProfessional"]["preview"]
    english = api.get("/api/message-templates", token=token, query={"locale": "en"})
    assert english.status == 200 and "at 2:30 PM" in by_key(english)["msgReminder24h"]["preview"]
    assert_problem(api.get("/api/message-templates", token=token, query={"locale": "fr"}), 422,
                   "validation_error")


def test_the_preview_follows_the_professionals_time_zone(api, professional):
    token, _ = professional
    assert api.patch("/api/account", token=token, json_body={"timezone": "Asia/Tokyo"}).status == 200
    preview = by_key(api.get("/api/message-templates", token=token))["msgBookingConfirmed"]["preview"]
    assert "às 14:30" in preview  # the sample is 14:30 local wherever the professional is


def test_routes_are_pro_only(api, token_for):
    assert_problem(api.get("/api/message-templates"), 401, "missing_token")
    assert_problem(api.patch("/api/message-templates/msgReminder24h", json_body={"enabled": False}), 401,
                   "missing_token")
    assert_problem(api.get("/api/message-templates", token=token_for()), 404, "onboarding_required")


def test_switching_an_automatic_template_off_and_on(api, professional):
    token, me = professional
    result = api.patch("/api/message-templates/msgReminder24h", token=token, json_body={"enabled": False})
    assert result.status == 200, result.body
    assert result.json["key"] == "msgReminder24h" and result.json["enabled"] is False
    assert by_key(api.get("/api/message-templates", token=token))["msgReminder24h"]["enabled"] is False
    assert by_key(api.get("/api/message-templates", token=token, query={"locale": "en"}))["msgReminder24h"][
        "enabled"] is False  # a switch is per template, whatever the language
    assert overrides.is_enabled(me["id"], "msgReminder24h") is False
    assert overrides.is_enabled(me["id"], "msgBookingConfirmed") is True
    assert api.patch("/api/message-templates/msgReminder24h", token=token, json_body={"enabled": True}).json[
        "enabled"] is True
    assert overrides.is_enabled(me["id"], "msgReminder24h") is True
    assert db.scalar("SELECT count(*) FROM message_templates") == 0  # nothing left to remember


def test_a_template_odys_never_sends_on_its_own_cannot_be_switched_off(api, professional):
    token, me = professional
    result = api.patch("/api/message-templates/msgPlanLimitReached", token=token, json_body={"enabled": False})
    assert_problem(result, 422, "not_automatic")
    assert overrides.is_enabled(me["id"], "msgPlanLimitReached") is True
    assert api.patch("/api/message-templates/msgPlanLimitReached", token=token,
                     json_body={"enabled": True}).status == 200


def test_rewording_the_free_form_text_and_restoring_the_default(api, professional):
    token, me = professional
    text = "Oi {client_name}! Lembrete da sua sessão amanhã, {date_time}. Dúvidas? {manage_link} 🙂"
    result = api.patch("/api/message-templates/msgReminder24h", token=token, json_body={"text": text})
    assert result.status == 200, result.body
    assert result.json["text"] == text and result.json["defaultText"] == mt.get("msgReminder24h").text
    assert result.json["preview"].startswith("Oi Mariana Costa! Lembrete da sua sessão amanhã, ")
    assert result.json["enabled"] is True
    assert overrides.text_override(me["id"], "msgReminder24h", "pt-BR") == text
    assert overrides.text_override(me["id"], "msgReminder24h", "en") is None
    assert by_key(api.get("/api/message-templates", token=token))["msgReminder24h"]["text"] == text
    assert by_key(api.get("/api/message-templates", token=token, query={"locale": "en"}))["msgReminder24h"][
        "text"] == mt.get("msgReminder24h", "en").text
    # switching it off keeps the wording; null brings the default back
    api.patch("/api/message-templates/msgReminder24h", token=token, json_body={"enabled": False})
    assert overrides.text_override(me["id"], "msgReminder24h", "pt-BR") == text
    restored = api.patch("/api/message-templates/msgReminder24h", token=token, json_body={"text": None})
    assert restored.json["text"] == mt.get("msgReminder24h").text and restored.json["enabled"] is False
    assert overrides.text_override(me["id"], "msgReminder24h", "pt-BR") is None
    english = api.patch("/api/message-templates/msgReminder24h", token=token,
                        json_body={"text": "Hey {client_name}!", "locale": "en"})
    assert english.json["preview"] == "Hey Mariana Costa!"
    assert overrides.text_override(me["id"], "msgReminder24h", "en") == "Hey {client_name}!"


def test_a_reworded_text_may_only_use_the_templates_placeholders(api, professional):
    token, me = professional
    result = api.patch("/api/message-templates/msgBookingConfirmed", token=token,
                       json_body={"text": "Oi {nome}, sua sessão {date_time} com {valor}"})
    assert_problem(result, 422, "unknown_placeholders")
    assert result.json["unknownPlaceholders"] == ["nome", "valor"]
    assert "{nome}" in result.json["detail"] and "{client_name}" in result.json["detail"]
    for stray in ("Oi {{client_name}}", "Oi {client_name", "Oi client_name}"):
        assert_problem(api.patch("/api/message-templates/msgBookingConfirmed", token=token, json_body={"text": stray}),
                       422, "stray_brace")
    assert overrides.text_override(me["id"], "msgBookingConfirmed", "pt-BR") is None


def test_bad_changes_are_refused_and_change_nothing(api, professional):
    token, me = professional
    path = "/api/message-templates/msgReminder24h"
    for unknown in ("msgNope", "%00", "msgreminder24h"):
        assert_problem(api.patch(f"/api/message-templates/{unknown}", token=token, json_body={"enabled": False}),
                       404, "not_found")
    assert_problem(api.patch(path, token=token, json_body={"enabled": None}), 422, "validation_error")
    assert_problem(api.patch(path, token=token, json_body={"enabled": "no"}), 422, "validation_error")
    assert_problem(api.patch(path, token=token, json_body={"text": ""}), 422, "validation_error")
    assert_problem(api.patch(path, token=token, json_body={"text": "x" * 1025}), 422, "validation_error")
    assert_problem(api.patch(path, token=token, json_body={"body": "x"}), 422, "validation_error")
    assert_problem(api.patch(path, token=token, json_body={"text": "x", "locale": "de"}), 422, "validation_error")
    assert_problem(api.patch("/api/message-templates/msgWelcomeProfessional", token=token,
                             json_body={"text": "Oi {professional_name}"}), 422, "not_editable")
    assert_problem(api.patch(path, token=token, body="enabled=false",
                             headers={"content-type": "application/x-www-form-urlencoded"}),
                   415, "unsupported_media_type")
    assert db.scalar("SELECT count(*) FROM message_templates") == 0
    assert api.patch(path, token=token, json_body={}).json["enabled"] is True  # nothing asked, nothing changed


def test_overrides_belong_to_one_professional(api, professional, token_for):
    token, me = professional
    other = token_for()
    assert api.post("/api/account", token=other, json_body=onboarding_body(
        "bia-nutri", phone="+5521977776666", email="bia@example.com")).status == 201
    api.patch("/api/message-templates/msgReminder24h", token=token, json_body={"enabled": False, "text": "Oi!"})
    theirs = by_key(api.get("/api/message-templates", token=other))["msgReminder24h"]
    assert theirs["enabled"] is True and theirs["text"] == mt.get("msgReminder24h").text
    effective = {item["key"]: item for item in overrides.effective(me["id"], "pt-BR")}
    assert effective["msgReminder24h"] == {"key": "msgReminder24h", "enabled": False, "text": "Oi!", "override": True}
    assert len(effective) == 19
