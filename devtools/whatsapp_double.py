"""A local HTTP stand-in for the WhatsApp Cloud API (Graph ``/messages``), for the tests and `make dev`.

    double = WhatsAppDouble(token="wa-test-token", phone_number_id="106540352242922").start()
    os.environ.update({"WHATSAPP_GRAPH_URL": double.url, "WHATSAPP_TOKEN": "wa-test-token",
                       "WHATSAPP_PHONE_NUMBER_ID": "106540352242922"})
    ...                                            # the sender POSTs /v24.0/106540352242922/messages
    double.sent[-1].to, double.sent[-1].template   # "5511987654321", "odys_booking_confirmed"
    double.fail_next(131056)                       # the next send answers Meta's pair-rate-limit error (HTTP 400)
    double.fail_next(http_status=502, times=3)     # a gateway error without a Graph body, three times
    double.wa_ids["5531987654321"] = "553187654321"  # WhatsApp knows this number without the 9th digit
    double.next_wamids.append("wamid.TEST1")       # the next accepted send gets this wamid
    double.set_token(valid=False)                  # every call with the token answers 190; debug_token says so
    double.set_token(expires_in_days=3)            # valid, expiring in 3 days (default: never expires)
    double.health = "BLOCKED"                      # GET /{version}/{phone_number_id}?fields=health_status

The watchdog's reads: ``GET /{version}/debug_token?input_token=…`` answers ``{"data": {"is_valid", "scopes",
"expires_at" (0: never), "type": "SYSTEM_USER", …}}`` (``is_valid: false`` with its ``error`` for an input token
that is not ours; error 190 when the bearer token is invalid), ``GET /{version}/{phone_number_id}?fields=
health_status`` answers ``{"health_status": {"can_send_message", "entities": [...]}, "id"}``.

It speaks Meta's wire format: ``Authorization: Bearer <token>`` (anything else → 401 with error 190), a JSON body
with ``messaging_product: "whatsapp"``, ``to`` (digits) and ``type`` ``template`` (``template.name``,
``template.language.code``, ``components``) or ``text`` (``text.body``); success is
``{"messaging_product", "contacts": [{"input", "wa_id"}], "messages": [{"id": "wamid.…", "message_status":
"accepted"}]}``; errors are ``{"error": {"message": "(#code) …", "type", "code", "error_data": {"messaging_product",
"details"}, "fbtrace_id"}}`` with the HTTP status Meta uses for the code (400 for most, 401 for 190, 5xx for
131000/131016/2). A malformed body is error 100 (or 131008 for a missing field), an unknown phone number id 100 with
Graph's "Unsupported post request" message — as the real API answers.

Playing the client (``make dev``): given the webhook's URL and the app secret, the double sends what Meta would
send about a message it accepted — a status (``sent``, ``delivered``, ``read``, ``failed`` with an error code), the
client's text reply, or a tap on one of the template's quick-reply buttons (carrying the payload that was sent) —
in Meta's webhook shape, signed with ``X-Hub-Signature-256``:

    double = WhatsAppDouble(webhook_url="http://127.0.0.1:3000/api/whatsapp/webhook", app_secret="…").start()
    double.status("delivered", to="+5511988887777")      # the latest message to that number -> WebhookCall(200, …)
    double.status("failed", wamid, code=131026)
    double.reply("+5511988887777", "Pode ser às 15h?", context=wamid)
    double.tap(wamid, "cancel")                          # or payload="…" to tap with a forged payload

Control API (for `make dev` and manual checks; ``GET /_double`` prints this list):
``GET /_double/messages[?to=+55…]`` lists the accepted sends (newest last), ``POST /_double/fail`` ``{"code"?,
"httpStatus"?, "times"?}`` scripts the next answers to the sender, ``POST /_double/reset`` forgets everything, and
``POST /_double/client/{deliver|read|fail|status|reply|tap}`` plays the client (see :data:`HELP`), answering
``{"webhook": {"status", "body"}, "event": <what was posted>}``.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import secrets
import socket
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

from devtools.http_double import HttpDouble
from urllib.parse import parse_qs, urlsplit

# Meta's messages and details per code (Meta error-codes page; pywa's error fixtures, shared/fixtures/whatsapp).
ERRORS: dict[int, tuple[int, str, str]] = {
    # code: (HTTP status, message, error_data.details)
    1: (500, "An unknown error occurred", "An unknown error occurred"),
    2: (500, "Service temporarily unavailable", "Service temporarily unavailable due to downtime or overload"),
    4: (400, "(#4) Application request limit reached", "The app has reached its API call rate limit."),
    100: (400, "(#100) Invalid parameter", "The request included one or more unsupported or misspelled parameters."),
    190: (401, "Error validating access token: Session has expired on Friday, 26-Apr-24 06:00:00 PDT. The current "
               "time is Sunday, 28-Apr-24 03:40:10 PDT.", ""),
    368: (403, "(#368) Temporarily blocked for policies violations",
          "The WhatsApp Business Account was restricted or disabled for violating a platform policy."),
    80007: (400, "(#80007) Rate limit issues", "The WhatsApp Business Account has reached its rate limit."),
    130429: (400, "(#130429) Rate limit hit",
             "Cloud API message throughput has been reached."),
    131000: (500, "(#131000) Something went wrong", "Message failed to send due to an unknown error."),
    131008: (400, "(#131008) Required parameter is missing", "The request is missing a required parameter."),
    131016: (503, "(#131016) Service unavailable", "A service is temporarily unavailable."),
    131026: (400, "(#131026) Message undeliverable", "Unable to deliver message."),
    131047: (400, "Re-engagement message", "Message failed to send because more than 24 hours have passed since "
                                           "the customer last replied to this number."),
    131048: (400, "(#131048) Spam rate limit hit", "Message failed to send because there are restrictions on how "
                                                   "many messages can be sent from this phone number."),
    131056: (400, "(#131056) (Business Account, Consumer Account) pair rate limit hit",
             "Message failed to send because there were too many messages sent from this phone number to the same "
             "phone number in a short period of time."),
    131057: (400, "(#131057) Account in maintenance mode", "Business Account is in maintenance mode."),
    131064: (400, "(#131064) Messaging limit reached", "Messaging limit reached due to template violations."),
    132000: (400, "(#132000) Number of parameters does not match the expected number of params",
             "body: number of localizable_params (0) does not match the expected number of params (4)"),
    132001: (400, "(#132001) Template name does not exist in the translation",
             "template name does not exist in the language"),
    132018: (400, "(#132018) There was an issue with the parameters in your template.",
             "Param text cannot have new-line/tab characters or more than 4 consecutive spaces"),
}


SCOPES = ("whatsapp_business_management", "whatsapp_business_messaging")
"""What a system user's token for the Cloud API carries."""


def error_body(code: int, *, message: str | None = None, details: str | None = None) -> dict[str, Any]:
    """Meta's error envelope for ``code``, e.g. ``error_body(131056)["error"]["code"]`` -> ``131056``."""
    _, default_message, default_details = ERRORS.get(code, (400, f"(#{code}) Error", ""))
    error: dict[str, Any] = {"message": message or default_message, "type": "OAuthException", "code": code,
                             "fbtrace_id": "A" + secrets.token_urlsafe(16)}
    if code == 190:
        error["error_subcode"] = 463
    elif details or default_details:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details or default_details}
    return {"error": error}


def http_status_for(code: int) -> int:
    """The HTTP status Meta answers ``code`` with (400 when it is not known)."""
    return ERRORS.get(code, (400, "", ""))[0]


def new_wamid(to: str) -> str:
    """A wamid shaped like Meta's: ``wamid.`` + base64 of the recipient and a random id."""
    raw = b"\x18\x0c" + to.encode() + b"\x15\x02\x00\x11\x18\x12" + secrets.token_hex(9).upper().encode() + b"\x00"
    return "wamid.HBgM" + base64.b64encode(raw).decode()[4:]


@dataclass
class Recorded:
    """One request the double received (``body`` is the parsed JSON, or None)."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    status: int = 0
    response: Any = None


@dataclass
class Sent:
    """One accepted send: what a recipient would receive."""

    wamid: str
    to: str
    wa_id: str
    type: str
    payload: dict[str, Any]
    at: float

    @property
    def template(self) -> str | None:
        return (self.payload.get("template") or {}).get("name") if self.type == "template" else None

    @property
    def language(self) -> str | None:
        return ((self.payload.get("template") or {}).get("language") or {}).get("code")

    @property
    def params(self) -> dict[str, str]:
        """Named body parameters of a template send: ``{"client_name": "Maria", ...}``."""
        for component in (self.payload.get("template") or {}).get("components") or []:
            if component.get("type") == "body":
                return {p.get("parameter_name", str(i)): p.get("text")
                        for i, p in enumerate(component.get("parameters") or [])}
        return {}

    @property
    def button_payloads(self) -> list[str]:
        return [p.get("payload") for c in (self.payload.get("template") or {}).get("components") or []
                if c.get("type") == "button" for p in c.get("parameters") or []]

    @property
    def text(self) -> str | None:
        return (self.payload.get("text") or {}).get("body") if self.type == "text" else None

    @property
    def callback(self) -> str | None:
        return self.payload.get("biz_opaque_callback_data")

    def public(self) -> dict[str, Any]:
        return {"wamid": self.wamid, "to": self.to, "waId": self.wa_id, "type": self.type, "template": self.template,
                "language": self.language, "params": self.params, "buttonPayloads": self.button_payloads,
                "text": self.text, "callback": self.callback, "at": self.at}


@dataclass
class _Failure:
    code: int | None
    http_status: int
    message: str | None
    delay: float = 0.0


class WhatsAppDouble(HttpDouble):
    """The fake Cloud API. ``wa_ids`` maps a ``to`` to the wa_id WhatsApp answers (default: the same digits)."""

    def __init__(self, *, token: str = "wa-test-token", phone_number_id: str = "106540352242922",
                 webhook_url: str | None = None, app_secret: str | None = None,
                 display_phone_number: str = "5511900000000", business_account_id: str = "102290129340398") -> None:
        self.token = token
        self.phone_number_id = phone_number_id
        self.webhook_url, self.app_secret = webhook_url, app_secret  # where and how the client's events are posted
        self.display_phone_number, self.business_account_id = display_phone_number, business_account_id
        self.wa_ids: dict[str, str] = {}
        self.next_wamids: list[str] = []  # the wamids the next accepted sends get (tests of early statuses)
        self.requests: list[Recorded] = []
        self.sent: list[Sent] = []
        self._failures: list[_Failure] = []
        self._lock = threading.RLock()
        self.set_token()
        self.health = "AVAILABLE"

    # -- lifecycle ---------------------------------------------------------------------------------------------

    def handler(self) -> type[BaseHTTPRequestHandler]:
        return _Handler

    def reset(self) -> None:
        """Forget requests, sends, scripted failures and wa_id mappings (between tests)."""
        with self._lock:
            self.requests.clear()
            self.sent.clear()
            self._failures.clear()
            self.wa_ids.clear()
            self.next_wamids.clear()
            self.set_token()
            self.health = "AVAILABLE"

    # -- scripting ---------------------------------------------------------------------------------------------

    def fail_next(self, code: int | None = None, *, http_status: int | None = None, times: int = 1,
                  message: str | None = None, delay: float = 0.0) -> None:
        """The next ``times`` sends answer Meta's error ``code`` (with Meta's HTTP status for it unless given);
        ``code=None`` answers ``http_status`` with a non-Graph body (a gateway error). ``delay`` seconds before
        answering (to trip a client's timeout)."""
        if code is None and http_status is None:
            raise ValueError("give an error code, an HTTP status, or both")
        status = http_status or http_status_for(code)  # type: ignore[arg-type]
        with self._lock:
            self._failures.extend(_Failure(code, status, message, delay) for _ in range(times))

    def set_token(self, *, valid: bool = True, expires_in_days: float | None = None,
                  scopes: list[str] | None = None) -> None:
        """The token's state: invalid (every call answers 190), expiring in ``expires_in_days`` (default never),
        with ``scopes`` (default: WhatsApp messaging and management)."""
        self.token_valid = valid
        self.token_expires_at = 0 if expires_in_days is None else int(time.time() + expires_in_days * 86400)
        self.token_scopes = list(scopes if scopes is not None else SCOPES)

    def messages(self, to: str | None = None) -> list[dict[str, Any]]:
        """Accepted sends as JSON-ready dicts (what ``GET /_double/messages`` answers), only those to ``to`` if
        given (``"+5511…"`` or digits)."""
        with self._lock:
            return [s.public() for s in self.sent if to is None or s.to == _digits(to)]

    def find(self, wamid: str | None = None, *, to: str | None = None) -> Sent:
        """The accepted send ``wamid``, or the latest to ``to``; LookupError when there is none."""
        if not wamid and not to:
            raise ValueError("name the message by wamid, or by to (the latest sent to that number)")
        digits = None if wamid else _digits(to)  # type: ignore[arg-type]
        with self._lock:
            for sent in reversed(self.sent):
                if sent.wamid == wamid or (digits is not None and sent.to == digits):
                    return sent
        raise LookupError(f"no accepted message {wamid}" if wamid else f"no accepted message to {to}")

    # -- playing the client: Meta's webhooks ----------------------------------------------------------------------

    def status(self, status: str, wamid: str | None = None, *, to: str | None = None, code: int | None = None,
               timestamp: int | None = None) -> WebhookCall:
        """Post Meta's status webhook (``sent`` / ``delivered`` / ``read`` / ``failed`` with error ``code``) about
        the send ``wamid`` (or the latest to ``to``), with the ``biz_opaque_callback_data`` it was sent with."""
        if status not in ("sent", "delivered", "read", "failed"):
            raise ValueError("status is one of sent, delivered, read, failed")
        if status == "failed" and code is None:
            raise ValueError("a failed status needs Meta's error code")
        sent = self.find(wamid, to=to)
        item: dict[str, Any] = {"id": sent.wamid, "status": status, "timestamp": str(timestamp or int(time.time())),
                                "recipient_id": sent.wa_id}
        if status == "failed":
            _, message, details = ERRORS.get(code, (400, "Error", ""))  # type: ignore[arg-type]
            title = message.split(") ", 1)[-1]
            item["errors"] = [{"code": code, "title": title, "message": title,
                               "error_data": {"details": details or title},
                               "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"}]
        elif status in ("sent", "delivered"):
            item["conversation"] = {"id": hashlib.sha256(sent.wa_id.encode()).hexdigest()[:30],
                                    "origin": {"type": _category(sent)}}
            item["pricing"] = {"billable": True, "pricing_model": "PMP", "category": _category(sent)}
        if sent.callback is not None:
            item["biz_opaque_callback_data"] = sent.callback
        return self.post_webhook(self._value({"statuses": [item]}))

    def reply(self, from_: str, text: str, *, context: str | None = None, name: str = "Cliente") -> WebhookCall:
        """Post the client's text message from ``from_`` (quoting the send ``context`` when given)."""
        if not isinstance(text, str) or not text:
            raise ValueError("text is required")
        item = self._inbound(_digits(from_), context)
        item.update(type="text", text={"body": text})
        return self.post_webhook(self._value({"messages": [item]}, wa_id=item["from"], name=name))

    def tap(self, wamid: str, button: str | int | None = None, *, payload: str | None = None,
            name: str = "Cliente") -> WebhookCall:
        """Post the client's tap on quick-reply ``button`` (``"confirm"`` / ``"reschedule"`` / ``"cancel"``, or its
        index) of the template send ``wamid``: a ``button`` message carrying the payload sent in that button's
        component (``payload`` replaces it: a forged tap)."""
        sent = self.find(wamid)
        index, label = _button(sent, button)
        if payload is None:
            payloads = {c.get("index"): p.get("payload") for c in (sent.payload.get("template") or {}).get(
                "components") or [] if c.get("type") == "button" for p in c.get("parameters") or []}
            if str(index) not in payloads:
                raise LookupError(f"{sent.wamid} has no quick-reply button {button}")
            payload = payloads[str(index)]
        item = self._inbound(sent.wa_id, sent.wamid)
        item.update(type="button", button={"payload": payload, "text": label})
        return self.post_webhook(self._value({"messages": [item]}, wa_id=sent.wa_id, name=name))

    def post_webhook(self, document: dict[str, Any]) -> WebhookCall:
        """Sign ``document`` with the app secret and POST it to the webhook, as Meta does."""
        if not self.webhook_url or not self.app_secret:
            raise RuntimeError("the double has no webhook_url / app_secret to play the client with")
        raw = json.dumps(document).encode()
        signature = "sha256=" + hmac.new(self.app_secret.encode(), raw, hashlib.sha256).hexdigest()
        request = urllib.request.Request(self.webhook_url, data=raw, method="POST", headers={
            "Content-Type": "application/json", "User-Agent": "facebookexternalua", "X-Hub-Signature-256": signature})
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                status, data = answer.status, answer.read()
        except urllib.error.HTTPError as error:
            status, data = error.code, error.read()
        try:
            body: Any = json.loads(data) if data else None
        except ValueError:
            body = data.decode("utf-8", "replace")
        return WebhookCall(status, body, document)

    def _value(self, items: dict[str, Any], *, wa_id: str | None = None, name: str = "Cliente") -> dict[str, Any]:
        value: dict[str, Any] = {"messaging_product": "whatsapp",
                                 "metadata": {"display_phone_number": self.display_phone_number,
                                              "phone_number_id": self.phone_number_id}}
        if wa_id is not None:
            value["contacts"] = [{"profile": {"name": name}, "wa_id": wa_id, "user_id": _user_id(wa_id)}]
        value.update(items)
        return {"object": "whatsapp_business_account",
                "entry": [{"id": self.business_account_id, "changes": [{"value": value, "field": "messages"}]}]}

    def _inbound(self, wa_id: str, context: str | None) -> dict[str, Any]:
        item: dict[str, Any] = {"from": wa_id, "id": new_wamid(wa_id), "timestamp": str(int(time.time()))}
        if context:
            item["context"] = {"from": self.display_phone_number, "id": context}
        return item

    # -- the API -----------------------------------------------------------------------------------------------

    def api(self, method: str, path: str, headers: dict[str, str], raw: bytes,
            query: str = "") -> tuple[int, Any]:
        """One Graph call: (status, JSON body or text). Records it."""
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = None
        record = Recorded(method, path, headers, body)
        with self._lock:
            self.requests.append(record)
        if method == "GET":
            status, response = self._read(path, headers, parse_qs(query))
        else:
            status, response = self._answer(method, path, headers, body, raw)
        record.status, record.response = status, copy.deepcopy(response)
        return status, response

    def _bearer_error(self, headers: dict[str, str]) -> dict[str, Any] | None:
        scheme, _, token = (headers.get("authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or token != self.token:
            return error_body(190, message="Invalid OAuth access token - Cannot parse access token")
        if not self.token_valid:
            return error_body(190)  # "Error validating access token: Session has expired …"
        return None

    def _read(self, path: str, headers: dict[str, str], query: dict[str, list[str]]) -> tuple[int, Any]:
        """The watchdog's GETs: debug_token and the number's health_status."""
        parts = [p for p in path.split("/") if p]
        problem = self._bearer_error(headers)
        if problem:
            return 401, problem
        if len(parts) == 2 and parts[1] == "debug_token":
            input_token = (query.get("input_token") or [""])[0]
            data: dict[str, Any] = {"app_id": "1234567890", "type": "SYSTEM_USER", "application": "Odys",
                                    "data_access_expires_at": 0, "expires_at": self.token_expires_at,
                                    "is_valid": input_token == self.token, "issued_at": 1700000000,
                                    "scopes": list(self.token_scopes), "user_id": "122100000000000000",
                                    "granular_scopes": [{"scope": s, "target_ids": [self.business_account_id]}
                                                        for s in self.token_scopes]}
            if input_token != self.token:
                data.update(scopes=[], granular_scopes=[], error={
                    "code": 190, "message": "Invalid OAuth access token - Cannot parse access token", "subcode": 0})
            return 200, {"data": data}
        if len(parts) == 2 and parts[1] == self.phone_number_id and "health_status" in (query.get("fields") or [""])[0]:
            entity = {"entity_type": "PHONE_NUMBER", "id": self.phone_number_id, "can_send_message": self.health}
            if self.health != "AVAILABLE":
                entity["errors"] = [{"error_code": 141006, "error_description": "The number's messaging is "
                                     f"{self.health.lower()}.", "possible_solution": "See WhatsApp Manager."}]
            entities = [entity] + [{"entity_type": kind, "id": ident, "can_send_message": "AVAILABLE"}
                                   for kind, ident in (("WABA", self.business_account_id),
                                                       ("BUSINESS", "102290129340399"), ("APP", "1234567890"))]
            return 200, {"health_status": {"can_send_message": self.health, "entities": entities},
                         "id": self.phone_number_id}
        return 400, error_body(100, message=f"Unsupported get request. Object with ID '{'/'.join(parts[1:])}' does "
                                            "not exist, cannot be loaded due to missing permissions, or does not "
                                            "support this operation.")

    def _answer(self, method: str, path: str, headers: dict[str, str], body: Any,
                raw: bytes) -> tuple[int, Any]:
        parts = [p for p in path.split("/") if p]
        if len(parts) != 3 or not parts[0].startswith("v") or parts[2] != "messages" or method != "POST":
            return 400, {"error": {"message": f"Unknown path components: /{'/'.join(parts[1:])}",
                                   "type": "OAuthException", "code": 2500, "fbtrace_id": "A" + secrets.token_hex(8)}}
        problem = self._bearer_error(headers)
        if problem:
            return 401, problem
        if parts[1] != self.phone_number_id:
            return 400, error_body(100, message=f"Unsupported post request. Object with ID '{parts[1]}' does not "
                                                "exist, cannot be loaded due to missing permissions, or does not "
                                                "support this operation.")
        with self._lock:
            failure = self._failures.pop(0) if self._failures else None
        if failure:
            if failure.delay:
                time.sleep(failure.delay)
            if failure.code is None:
                return failure.http_status, "<html><body><h1>Bad Gateway</h1></body></html>"
            return failure.http_status, error_body(failure.code, message=failure.message)
        problem = _validate(body)
        if problem:
            return 400, problem
        to = body["to"]
        with self._lock:
            wamid = self.next_wamids.pop(0) if self.next_wamids else new_wamid(to)
            sent = Sent(wamid, to, self.wa_ids.get(to, to), body["type"], copy.deepcopy(body), time.time())
            self.sent.append(sent)
        return 200, {"messaging_product": "whatsapp", "contacts": [{"input": to, "wa_id": sent.wa_id}],
                     "messages": [{"id": sent.wamid, "message_status": "accepted"}]}


@dataclass
class WebhookCall:
    """What the webhook answered to an event the double posted (``event`` is the document it posted)."""

    status: int
    body: Any
    event: dict[str, Any]

    def public(self) -> dict[str, Any]:
        return {"webhook": {"status": self.status, "body": self.body}, "event": self.event}


def _digits(phone: str) -> str:
    """``"+55 11 98888-7777"`` -> ``"5511988887777"``."""
    if not isinstance(phone, str):
        raise ValueError("a phone number is a string")
    digits = "".join(ch for ch in phone if ch.isascii() and ch.isdigit())
    if not 8 <= len(digits) <= 15:
        raise ValueError(f"not a phone number: {phone!r}")
    return digits


def _user_id(wa_id: str) -> str:
    """A stable Meta-style business-scoped user id for a number (Meta sends one next to the wa_id)."""
    return "BR." + str(int(hashlib.sha256(wa_id.encode()).hexdigest()[:16], 16))


def _category(sent: Sent) -> str:
    return "utility" if sent.type == "template" else "service"


def _button(sent: Sent, button: str | int | None) -> tuple[int, str]:
    """(index, label) of quick-reply ``button`` of a template send: an action name is looked up in the template's
    definition (odys.message_templates: its buttons' order and labels), an index is taken as it is."""
    if sent.type != "template":
        raise LookupError(f"{sent.wamid} is not a template message: it has no buttons")
    if isinstance(button, int) or (isinstance(button, str) and button.isdigit()):
        return int(button), f"Button {button}"
    from odys import message_templates  # the double runs next to the layer (tests, make dev)

    language = (sent.language or "pt_BR")
    for template in message_templates.TEMPLATES[message_templates.resolve_locale(language)].values():
        if template.meta_name == sent.template and button in template.buttons:
            return template.buttons.index(button), message_templates.button_label(button, language)
    raise LookupError(f"{sent.wamid} ({sent.template}) has no quick-reply button {button!r}")


HELP = """WhatsApp Cloud API double: it accepts POST /{version}/{phone_number_id}/messages and records the sends.

GET  /_double/messages[?to=+5511988887777]   what was sent (newest last): wamid, to, template, params, text
POST /_double/fail {"code": 131056, "times"?: 1, "httpStatus"?: 502}   the next sends answer Meta's error
POST /_double/reset                          forget everything
POST /_double/token {"valid"?: false, "expiresInDays"?: 3, "scopes"?: [...]}   the token's state (debug_token)
POST /_double/health {"status": "AVAILABLE" | "LIMITED" | "BLOCKED"}        the number's health_status

Play the client (signed webhooks posted to the dev server's /api/whatsapp/webhook); name the message by
"wamid", or "to" for the latest sent to that number:
POST /_double/client/deliver {"to": "+5511988887777"}                   status "delivered"
POST /_double/client/read    {"wamid": "wamid.…"}                       status "read"
POST /_double/client/fail    {"wamid": "wamid.…", "code": 131026}       status "failed" with Meta's error code
POST /_double/client/status  {"wamid": "wamid.…", "status": "sent"}     any status (e.g. a late "sent")
POST /_double/client/reply   {"from": "+5511988887777", "text": "Oi!", "contextWamid"?: "wamid.…"}
POST /_double/client/tap     {"wamid": "wamid.…", "button": "confirm" | "reschedule" | "cancel", "payload"?: "…"}
Each answers {"webhook": {"status", "body"}, "event": <the posted document>}.
"""


def _validate(body: Any) -> dict[str, Any] | None:
    """Meta's answer to a malformed send, or None."""
    if not isinstance(body, dict):
        return error_body(100, message="(#100) The parameter messaging_product is required.")
    if body.get("messaging_product") != "whatsapp":
        return error_body(100, message="(#100) The parameter messaging_product is required.")
    to = body.get("to")
    if not isinstance(to, str) or not to.lstrip("+").isdigit():
        return error_body(100, message="(#100) Invalid parameter", details="Invalid 'to' parameter.")
    kind = body.get("type", "text")
    if kind == "template":
        template = body.get("template")
        if not isinstance(template, dict) or not template.get("name"):
            return error_body(131008, details="The parameter template['name'] is required.")
        if not isinstance(template.get("language"), dict) or not template["language"].get("code"):
            return error_body(131008, details="The parameter template['language'] is required.")
        for component in template.get("components") or []:
            for param in component.get("parameters") or []:
                text = param.get("text") if isinstance(param, dict) else None
                if isinstance(text, str) and ("\n" in text or "\t" in text or "     " in text):
                    return error_body(132018)
        return None
    if kind == "text":
        text = body.get("text")
        if not isinstance(text, dict) or not isinstance(text.get("body"), str) or not text["body"]:
            return error_body(131008, details="The parameter text['body'] is required.")
        if len(text["body"]) > 4096:
            return error_body(100, message="(#100) Param text['body'] must be at most 4096 characters long.")
        return None
    return error_body(131051 if isinstance(kind, str) else 100, message="(#131051) Message type unknown",
                      details="Unsupported message type.")


class _Handler(BaseHTTPRequestHandler):
    whatsapp: WhatsAppDouble
    protocol_version = "HTTP/1.1"
    server_version = "whatsapp-double"

    def setup(self) -> None:
        super().setup()
        # headers and body leave in two writes: without this, a keep-alive client waits out a delayed ACK (~40 ms)
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _send(self, status: int, body: Any) -> None:
        is_json = not isinstance(body, str)
        data = json.dumps(body).encode() if is_json else body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8" if is_json
                         else "text/plain; charset=UTF-8" if body is HELP else "text/html")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-fb-trace-id", secrets.token_urlsafe(8))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        path = self.path.split("?", 1)[0]
        if path == "/_double" or path.startswith("/_double/"):
            return self._control(path, raw)
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, body = self.double.api(self.command, path, headers, raw, query=urlsplit(self.path).query)
        self._send(status, body)

    def _control(self, path: str, raw: bytes) -> None:
        double = self.double
        if path in ("/_double", "/_double/") and self.command == "GET":
            return self._send(200, HELP)
        if path == "/_double/messages" and self.command == "GET":
            to = (parse_qs(urlsplit(self.path).query).get("to") or [None])[0]
            try:
                return self._send(200, {"messages": double.messages(to)})
            except ValueError as exc:
                return self._send(400, {"error": str(exc)})
        if path.startswith("/_double/client/") and self.command == "POST":
            return self._client(path.removeprefix("/_double/client/"), raw)
        if path == "/_double/reset" and self.command == "POST":
            double.reset()
            return self._send(200, {"ok": True})
        if path == "/_double/token" and self.command == "POST":
            try:
                spec = json.loads(raw or b"{}")
                double.set_token(valid=spec.get("valid", True) is not False, expires_in_days=spec.get("expiresInDays"),
                                 scopes=spec.get("scopes"))
            except (ValueError, TypeError, AttributeError) as exc:
                return self._send(400, {"error": str(exc)})
            return self._send(200, {"ok": True})
        if path == "/_double/health" and self.command == "POST":
            try:
                status = json.loads(raw or b"{}").get("status")
            except (ValueError, AttributeError) as exc:
                return self._send(400, {"error": str(exc)})
            if status not in ("AVAILABLE", "LIMITED", "BLOCKED"):
                return self._send(400, {"error": "status is AVAILABLE, LIMITED or BLOCKED"})
            double.health = status
            return self._send(200, {"ok": True})
        if path == "/_double/fail" and self.command == "POST":
            try:
                spec = json.loads(raw or b"{}")
                double.fail_next(spec.get("code"), http_status=spec.get("httpStatus"), times=int(spec.get("times", 1)))
            except (ValueError, TypeError, AttributeError) as exc:
                return self._send(400, {"error": str(exc)})
            return self._send(200, {"ok": True})
        return self._send(404, {"error": "unknown control path"})

    def _client(self, action: str, raw: bytes) -> None:
        """``POST /_double/client/<action>``: play the client (see :data:`HELP`)."""
        double = self.double
        try:
            spec = json.loads(raw or b"{}")
            if not isinstance(spec, dict):
                raise ValueError("the body is a JSON object")
            target = {"wamid": spec.get("wamid"), "to": spec.get("to")}
            if action in ("deliver", "read", "fail", "status"):
                status = {"deliver": "delivered", "read": "read", "fail": "failed"}.get(action) or spec.get("status")
                code = spec.get("code")
                if code is not None and (not isinstance(code, int) or isinstance(code, bool)):
                    raise ValueError("code is Meta's numeric error code")
                call = double.status(status, **target, code=code, timestamp=spec.get("timestamp"))
            elif action == "reply":
                call = double.reply(spec.get("from"), spec.get("text"), context=spec.get("contextWamid"),
                                    name=spec.get("name") or "Cliente")
            elif action == "tap":
                if not spec.get("wamid"):
                    raise ValueError("wamid is required")
                call = double.tap(spec["wamid"], spec.get("button"), payload=spec.get("payload"))
            else:
                return self._send(404, {"error": f"unknown client action {action!r}: GET /_double lists them"})
        except LookupError as exc:
            return self._send(404, {"error": str(exc).strip("'\"")})
        except (ValueError, TypeError) as exc:
            return self._send(400, {"error": str(exc)})
        except (RuntimeError, OSError) as exc:  # no webhook configured, or the dev server does not answer
            return self._send(502, {"error": f"{type(exc).__name__}: {exc}"})
        return self._send(200, call.public())

    do_GET = do_POST = do_DELETE = _handle

    def log_message(self, fmt: str, *args: Any) -> None:  # quiet
        pass
