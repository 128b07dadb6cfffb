"""The WhatsApp Cloud API webhook: delivery statuses, the clients' messages, their quick-reply taps and opt-outs.

    whatsapp_webhook.challenge({"hub.mode": "subscribe", "hub.verify_token": "…", "hub.challenge": "1158201444"})
    # -> "1158201444" (403 ``verification_failed`` otherwise)
    whatsapp_webhook.verify_signature(raw_body, headers.get("x-hub-signature-256"))   # 401 ``invalid_signature``
    whatsapp_webhook.process(raw_body, now)   # -> {"statuses": 1, "messages": 0, "ignored": 0}

Every entry × change × item of a delivery is handled on its own (its own transaction): a malformed item is
logged (without personal data) and skipped, and the delivery is acknowledged anyway — Meta retries anything that is
not a 200 for days. Only an outage of our own (database) is not acknowledged, so that Meta delivers it again;
everything is idempotent for that.

**Statuses** are kept in ``whatsapp_statuses``, deduplicated by (wamid, status), and applied with the precedence
of :data:`odys.store.messages.STATUS_ORDER` (never backwards; ``read`` may come without ``delivered``; a later
``delivered``/``read`` beats ``failed``). A status about a message whose wamid the sender has not stored yet (our
id comes back as ``biz_opaque_callback_data``) waits there: the sender applies it when it stores the wamid
(:func:`odys.store.messages.mark_sent`).

**Inbound messages** (deduplicated by wamid) go to the conversation they answer: the message they quote
(``context.id``), else the latest message sent to that person, the person being every client whose stored
``wa_id``, Meta's ``user_id``, or phone (with and without the Brazilian 9th digit) matches the sender. It is stored
``received``, the client's WhatsApp ids are kept, and the professional is notified in-app. A sender who matches no
client is dropped (logged without anything about who). "PARAR" / "SAIR" / "STOP" opts the person out of automatic messages.

**Quick replies** (``button`` messages carrying a :mod:`odys.reply_payloads` payload, bound to the message that
carried the button and its appointment): used once (``quick_reply_uses``), then confirm (pending → confirmed),
cancel (:func:`odys.booking.change_appointment`: the manage link's rules, cancellation notice included) or
reschedule (the manage link is sent back). Each answers the client with a free-form text (the window is open: they
just wrote) and notifies the professional. A forged, expired, unbound or replayed payload changes nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from odys import agenda, booking_tokens, clock, config, links, outbox, reply_payloads, snapstart
from odys.fields import phone_variants
from odys.errors import Conflict, Forbidden, NotFound, Problem, ServiceUnavailable, Unauthorized
from odys.log import logger
from odys.store import booking as booking_store
from odys.store import messages as store

snapstart.preload("odys.booking", "odys.notifications")  # lazy below: in the snapshot, not a quick reply

UTC = dt.timezone.utc
STATUSES = ("sent", "delivered", "read", "failed")
OPT_OUT_WORDS = frozenset({"parar", "sair", "stop"})
MAX_BODY = 4096
_WAMID = re.compile(r"[\x21-\x7e]{1,200}")
_WA_ID = re.compile(r"[0-9]{8,15}")
_USER_ID = re.compile(r"[\x21-\x7e]{1,64}")
_CHALLENGE = re.compile(r"[A-Za-z0-9_.-]{1,128}")
_EARLIEST, _LATEST = 946684800, 4102444800  # 2000-01-01 .. 2100-01-01


class InvalidSignature(Unauthorized):
    code = "invalid_signature"

    def __init__(self) -> None:
        super().__init__("The X-Hub-Signature-256 header is missing or does not match this payload.", headers={})


class Malformed(ValueError):
    """An item of a signed delivery that is not what Meta sends (skipped, acknowledged)."""


# --- the edge: verification ----------------------------------------------------------------------------------

def _secret(name: str) -> str:
    try:
        value = config.secret(name)
    except config.ConfigurationError:
        logger.error("whatsapp webhook not configured", extra={"secret": name})
        raise ServiceUnavailable("The WhatsApp webhook is not configured yet.", code="whatsapp_not_configured",
                                 headers={"Retry-After": "300"}) from None
    assert value is not None
    return value


def challenge(params: Mapping[str, str]) -> str:
    """Meta's subscription check: the ``hub.challenge`` when the mode and the verify token are right, else 403."""
    token = params.get("hub.verify_token") or ""
    answer = params.get("hub.challenge") or ""
    if (params.get("hub.mode") != "subscribe" or not token or not _CHALLENGE.fullmatch(answer)
            or not hmac.compare_digest(token.encode(), _secret("WHATSAPP_VERIFY_TOKEN").encode())):
        logger.warning("whatsapp webhook verification refused")
        raise Forbidden("The webhook verification request is not valid.", code="verification_failed")
    return answer


def verify_signature(raw: bytes, header: str | None) -> None:
    """Accept a body signed with the app secret (``sha256=<hex HMAC-SHA256>`` over the raw bytes), else 401."""
    given = (header or "").strip()
    if given:  # an unsigned request is refused whatever the configuration
        expected = "sha256=" + hmac.new(_secret("WHATSAPP_APP_SECRET").encode(), raw, hashlib.sha256).hexdigest()
    if not given or not hmac.compare_digest(given.lower().encode("ascii", "replace"), expected.encode()):
        logger.warning("whatsapp webhook rejected", extra={"reason": "missing_signature" if not given
                                                           else "signature_mismatch"})
        raise InvalidSignature()


# --- the delivery ----------------------------------------------------------------------------------------------

def _items(document: Any) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """("status" | "message", item, change value) for every item of every change of every entry."""
    if not isinstance(document, dict) or not isinstance(document.get("entry"), list):
        raise Malformed("not a webhook delivery")
    found: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
    for entry in document["entry"]:
        changes = entry.get("changes") if isinstance(entry, dict) else None
        for change in changes if isinstance(changes, list) else []:
            value = change.get("value") if isinstance(change, dict) else None
            if not isinstance(value, dict) or change.get("field") != "messages":
                found.append(("unknown", {}, {}))
                continue
            for kind, key in (("status", "statuses"), ("message", "messages")):
                items = value.get(key)
                for item in items if isinstance(items, list) else []:
                    found.append((kind, item if isinstance(item, dict) else {}, value))
    return found


def process(raw: bytes, now: dt.datetime | None = None) -> dict[str, int]:
    """Handle a verified delivery: how many statuses and messages were handled, and how many items ignored."""
    now = now or clock.now()
    counts = {"statuses": 0, "messages": 0, "ignored": 0}
    try:
        items = _items(json.loads(raw))
    except (ValueError, RecursionError):
        logger.warning("whatsapp webhook ignored", extra={"reason": "malformed"})
        counts["ignored"] += 1
        return counts
    for kind, item, value in items:
        try:
            if kind == "status":
                outcome = _status(item, now)
            elif kind == "message":
                outcome = _message(item, value, now)
            else:
                raise Malformed("unhandled change")
        except Malformed as error:
            logger.warning("whatsapp webhook item ignored", extra={"kind": kind, "reason": str(error)})
            counts["ignored"] += 1
            continue
        except (ValueError, TypeError, KeyError, AttributeError):  # a shape no check foresaw: ours to fix, not 5xx
            logger.exception("whatsapp webhook item failed", extra={"kind": kind})
            counts["ignored"] += 1
            continue
        except ServiceUnavailable:  # our database is down or busy: not acknowledged, so Meta delivers it again
            raise
        except Problem as problem:  # e.g. the professional was deleted meanwhile
            logger.warning("whatsapp webhook item ignored", extra={"kind": kind, "reason": problem.code})
            counts["ignored"] += 1
            continue
        logger.info("whatsapp webhook item", extra={"kind": kind, "outcome": outcome})
        counts["statuses" if kind == "status" else "messages"] += 1
    return counts


def _text(value: Any, pattern: re.Pattern[str], what: str, *, required: bool = True) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not pattern.fullmatch(value):
        if required:
            raise Malformed(what)
        return None
    return value


def _instant(value: Any, now: dt.datetime) -> dt.datetime:
    """A webhook timestamp (a string of Unix seconds); ``now`` when absent or absurd."""
    if isinstance(value, str) and value.isdigit() and len(value) <= 12 and _EARLIEST <= int(value) <= _LATEST:
        return dt.datetime.fromtimestamp(int(value), UTC)
    return now


def _uuid_text(value: Any) -> str | None:
    if isinstance(value, str) and re.fullmatch(r"[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}", value):
        return value.lower()
    return None


def _clean(text: str, limit: int = MAX_BODY) -> str:
    """Text PostgreSQL can store (no NUL), bounded."""
    return text.replace("\x00", "")[:limit]


# --- statuses --------------------------------------------------------------------------------------------------

def _status(item: dict[str, Any], now: dt.datetime) -> str:
    wamid = _text(item.get("id"), _WAMID, "status id")
    status = item.get("status")
    if status not in STATUSES:
        return "unknown_status"  # e.g. "played" (voice), or a status Meta adds later
    assert wamid is not None
    code: int | None = None
    title: str | None = None
    errors = item.get("errors")
    if status == "failed" and isinstance(errors, list) and errors and isinstance(errors[0], dict):
        raw_code = errors[0].get("code")
        code = raw_code if isinstance(raw_code, int) and not isinstance(raw_code, bool) and \
            0 <= raw_code < 2**31 else None
        raw_title = errors[0].get("title") or errors[0].get("message")
        title = _clean(raw_title, 200) if isinstance(raw_title, str) else None
    occurred_at = _instant(item.get("timestamp"), now)
    message_id = _uuid_text(item.get("biz_opaque_callback_data"))
    # duplicate | waiting (the sender applies it when it stores the wamid) | applied | kept: one statement
    return store.record_and_apply_status(wamid=wamid, status=status, occurred_at=occurred_at, error_code=code,
                                         error_title=title, message_id=message_id)


# --- inbound messages ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Sender:
    wa_id: str | None
    user_id: str | None


def _sender(item: dict[str, Any], value: dict[str, Any]) -> Sender:
    wa_id = _text(item.get("from"), _WA_ID, "from", required=False)
    user_id = _text(item.get("from_user_id"), _USER_ID, "from_user_id", required=False)
    contacts = value.get("contacts")
    for contact in contacts if isinstance(contacts, list) else []:
        if not isinstance(contact, dict):
            continue
        contact_wa = _text(contact.get("wa_id"), _WA_ID, "wa_id", required=False)
        if wa_id is None or contact_wa == wa_id or len(contacts) == 1:
            wa_id = wa_id or contact_wa
            user_id = user_id or _text(contact.get("user_id"), _USER_ID, "user_id", required=False)
            break
    if wa_id is None and user_id is None:
        raise Malformed("no sender")
    return Sender(wa_id, user_id)


def _content(item: dict[str, Any]) -> tuple[str, str | None]:
    """(what the professional reads, the quick-reply payload if any)."""
    kind = item.get("type")
    if kind == "text" and isinstance(item.get("text"), dict) and isinstance(item["text"].get("body"), str):
        return item["text"]["body"], None
    if kind == "button" and isinstance(item.get("button"), dict):
        button = item["button"]
        label = button.get("text") if isinstance(button.get("text"), str) else ""
        payload = button.get("payload") if isinstance(button.get("payload"), str) else None
        return label or "[button]", payload
    if kind == "interactive" and isinstance(item.get("interactive"), dict):
        reply = item["interactive"].get("button_reply") or item["interactive"].get("list_reply")
        if isinstance(reply, dict):
            title = reply.get("title") if isinstance(reply.get("title"), str) else ""
            return title or "[button]", reply.get("id") if isinstance(reply.get("id"), str) else None
    return f"[{kind if isinstance(kind, str) and kind.isalpha() and len(kind) <= 20 else 'unsupported'}]", None


def _normalised(text: str) -> str:
    stripped = unicodedata.normalize("NFKD", text.strip().strip(".!").strip()).casefold()
    return "".join(ch for ch in stripped if not unicodedata.combining(ch))


MESSAGE_NOTICE = {"kind": "whatsapp_message", "title": "Nova mensagem no WhatsApp",
                  "body": "%s enviou uma mensagem."}  # %s: the client's name (odys.store.messages.insert_inbound)


@dataclass(frozen=True)
class Conversation:
    professional_id: str
    client_id: str
    locale: str


def _conversation(row: dict[str, Any]) -> Conversation:
    return Conversation(row["professional_id"], row["client_id"], row.get("locale") or "pt-BR")


def _message(item: dict[str, Any], value: dict[str, Any], now: dt.datetime) -> str:
    wamid = _text(item.get("id"), _WAMID, "message id")
    assert wamid is not None
    sender = _sender(item, value)
    body, payload = _content(item)
    context = item.get("context") if isinstance(item.get("context"), dict) else {}
    context_id = _text(context.get("id"), _WAMID, "context id", required=False)
    candidates, latest = store.clients_for_sender(wa_id=sender.wa_id, wa_user_id=sender.user_id,
                                                  phones=phone_variants(sender.wa_id) if sender.wa_id else [])
    candidate_ids = [c["id"] for c in candidates]

    quoted = store.outbound_by_provider_id(context_id) if context_id else None
    conversation = _conversation(quoted) if quoted else None
    reply = reply_payloads.verify(payload, now) if payload else None
    if payload and reply is None:
        logger.warning("whatsapp quick reply refused", extra={"reason": "invalid_or_expired"})
    if reply is not None:
        carrier = store.outbound_message(reply.message_id)
        allowed = set(candidate_ids) | ({conversation.client_id} if conversation else set())
        if carrier is None or carrier["appointment_id"] != reply.appointment_id or carrier["client_id"] not in allowed:
            logger.warning("whatsapp quick reply refused", extra={"reason": "not_bound_to_sender"})
            reply = None
        else:
            conversation = _conversation(carrier)
    if conversation is None and candidates:
        conversation = _conversation(latest) if latest else Conversation(candidates[0]["professional_id"],
                                                                         candidates[0]["id"], "pt-BR")
    if conversation is None:
        logger.info("whatsapp message from an unknown sender dropped")  # nothing about who: a hash of a phone is one
        return "unmatched"

    person = list(dict.fromkeys([conversation.client_id, *candidate_ids]))
    inbound = {"professional_id": conversation.professional_id, "client_id": conversation.client_id, "wamid": wamid,
               "body": _clean(body) or "[empty]", "wa_id": sender.wa_id, "wa_user_id": sender.user_id,
               "context_id": context_id, "received_at": min(_instant(item.get("timestamp"), now), now),
               "remember": person}  # the WhatsApp ids it carried are kept on every client this person is
    opting_out = payload is None and _normalised(body) in OPT_OUT_WORDS
    if reply is None and not opting_out:  # a plain message: stored, ids kept and the professional told, at once
        stored = store.insert_inbound(**inbound, notice=MESSAGE_NOTICE)
        return "duplicate" if stored is None else "stored"
    with agenda.for_professional(conversation.professional_id) as work:  # quick replies change the agenda
        client = store.insert_inbound(**inbound)
        if client is None:
            return "duplicate"
        if opting_out:
            return _opt_out(work, conversation, client, person, now)
        assert reply is not None
        return _quick_reply(work, conversation, client, reply, now)


# --- answers ---------------------------------------------------------------------------------------------------

ANSWERS: dict[str, dict[str, str]] = {
    "pt-BR": {
        "opted_out": "Pronto: você não receberá mais mensagens automáticas de {professional_name} por aqui. Para "
                     "voltar a recebê-las, fale com {professional_name}.",
        "confirmed": "Obrigado! Sua sessão com {professional_name} em {date_time} está confirmada.",
        "cancelled": "Sua sessão com {professional_name} em {date_time} foi cancelada.",
        "already_cancelled": "Sua sessão com {professional_name} em {date_time} já estava cancelada.",
        "window_passed": "Não é mais possível cancelar por aqui: {professional_name} aceita cancelamentos até "
                         "{hours} horas antes da sessão. Por favor, fale diretamente com {professional_name}.",
        "closed": "Esta sessão com {professional_name} não pode mais ser alterada.",
        "reschedule": "Para remarcar sua sessão com {professional_name}, escolha um novo horário aqui: {link}",
    },
    "en": {
        "opted_out": "Done: you will no longer receive automatic messages from {professional_name} here. To get "
                     "them again, talk to {professional_name}.",
        "confirmed": "Thank you! Your session with {professional_name} on {date_time} is confirmed.",
        "cancelled": "Your session with {professional_name} on {date_time} has been cancelled.",
        "already_cancelled": "Your session with {professional_name} on {date_time} was already cancelled.",
        "window_passed": "It is too late to cancel here: {professional_name} accepts cancellations up to {hours} "
                         "hours before the session. Please contact {professional_name} directly.",
        "closed": "This session with {professional_name} can no longer be changed.",
        "reschedule": "To reschedule your session with {professional_name}, pick a new time here: {link}",
    },
}


def _answer(conversation: Conversation, client: dict[str, Any], key: str, **values: Any) -> None:
    texts = ANSWERS.get(conversation.locale, ANSWERS["pt-BR"])
    outbox.queue_text(professional_id=conversation.professional_id, client_id=conversation.client_id,
                      to_phone=client["phone"], body=texts[key].format(**values), locale=conversation.locale)


def _opt_out(work: agenda.Agenda, conversation: Conversation, client: dict[str, Any], person: list[str],
             now: dt.datetime) -> str:
    from odys.notifications import notify_professional  # here: status callbacks, most of Meta's traffic, notify no one

    if not store.opt_out(person, at=now):
        return "already_opted_out"
    _answer(conversation, client, "opted_out", professional_name=work.professional["name"])
    notify_professional(conversation.professional_id, "whatsapp_opted_out", "Mensagens automáticas desativadas",
                        f"{client['name']} pediu para não receber mais mensagens automáticas no WhatsApp.",
                        client_id=conversation.client_id)
    return "opted_out"


def _when(row: dict[str, Any], locale: str) -> str:
    from odys import message_templates

    return message_templates.format_datetime(row["starts_at"], row["timezone"], locale)


def _quick_reply(work: agenda.Agenda, conversation: Conversation, client: dict[str, Any],
                 reply: reply_payloads.Payload, now: dt.datetime) -> str:
    from odys.notifications import notify_professional  # here, like booking below: only quick replies use them

    if not store.record_quick_reply_use(use_id=reply.use_id, professional_id=work.id,
                                        appointment_id=reply.appointment_id, action=reply.action, at=now):
        logger.info("whatsapp quick reply replayed", extra={"action": reply.action})
        return "replayed"
    row = booking_store.for_manage(reply.appointment_id, lock=True)
    if row is None or str(row["professional_id"]) != work.id:
        return "appointment_gone"
    names = {"professional_name": row["professional_name"], "date_time": _when(row, conversation.locale)}
    if reply.action == "confirm":
        if row["status"] not in ("pending", "confirmed") or row["starts_at"] <= now:
            _answer(conversation, client, "closed", **names)
            return "confirm_refused"
        if row["status"] == "pending":
            work.change_appointment(row, {"status": "confirmed"}, now)
        _answer(conversation, client, "confirmed", **names)
        notify_professional(work.id, "booking_confirmed", "Presença confirmada",
                            f"{client['name']} confirmou a sessão de {names['date_time']} pelo WhatsApp.",
                            client_id=conversation.client_id)
        return "confirmed"
    if reply.action == "reschedule":
        _answer(conversation, client, "reschedule", link=links.manage_link(booking_tokens.for_appointment(row)), **names)
        notify_professional(work.id, "reschedule_requested", "Pedido para remarcar",
                            f"{client['name']} quer remarcar a sessão de {names['date_time']}; o link de "
                            "remarcação foi enviado pelo WhatsApp.", client_id=conversation.client_id)
        return "reschedule_link_sent"
    from odys import booking  # the whole booking module (slots, messaging) for this one branch

    try:  # cancel: the manage link's rules (notice, status) and its notification of the professional
        booking.change_appointment(work.id, reply.appointment_id, booking.BookingChange(action="cancel"), now)
    except Conflict as refused:
        key = {"already_cancelled": "already_cancelled", "cancellation_window_passed": "window_passed"}.get(
            refused.code, "closed")
        _answer(conversation, client, key, hours=row["cancellation_notice_hours"], **names)
        return f"cancel_refused_{refused.code}"
    except NotFound:
        return "appointment_gone"
    _answer(conversation, client, "cancelled", **names)
    return "cancelled"
