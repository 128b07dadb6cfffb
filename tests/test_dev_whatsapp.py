"""The issue's "Must show" against `make dev` (``python -m devtools.server``, over HTTP): a public booking goes
through the outbox, the local SQS queue (moto) and ``whatsapp_sender`` to the WhatsApp double, and the double plays
the client through its control API — signed status webhooks, a text reply, quick-reply taps — against the dev
server's own /api/whatsapp/webhook."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import http.client
import json
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest

from devtools.pg import RELOCATION_ROOT
from odys import message_templates
from test_dev_server_process import DevProcess, dev_environment

FIXTURES = Path(__file__).parent / "fixtures" / "whatsapp"
SAO_PAULO = ZoneInfo("America/Sao_Paulo")
CLIENT, CLIENT_NAME = "+5511988887777", "Bia Lima"
PROFESSIONAL, PROFESSIONAL_NAME = "+5511987654321", "Dra. Demo Oliveira"  # devtools/seed.py
WEEKDAYS = ("segunda-feira", "terça-feira", "quarta-feira", "quinta-feira", "sexta-feira", "sábado", "domingo")
MONTHS = ("janeiro", "fevereiro", "março", "abril", "maio", "junho", "julho", "agosto", "setembro", "outubro",
          "novembro", "dezembro")
STEP = 45.0  # at most, for an asynchronous step (outbox -> SQS -> sender -> double); well under 1 s when warm,
# but the first send of a fresh checkout starts the sender's worker process and compiles its modules on 2 loaded CPUs


@pytest.fixture(scope="module")
def dev():
    """`make dev` with every stand-in (no WhatsApp, SQS, Stripe or Upstash configured): its banner, its token and
    the double's base URL."""
    private = Path(tempfile.mkdtemp(prefix="odys-dev-whatsapp-"))
    process = DevProcess(dev_environment(ODYS_DEV_PG_DIR=str(private / ".odys" / "pg")), private)
    try:
        banner = process.wait_ready()
        process.token = re.search(r"export TOKEN=(\S+)", banner).group(1)
        process.double = re.search(r"cloud api\s+(http://\S+)", banner).group(1)
        yield process
    finally:
        if process.process.poll() is None:
            process.interrupt()
        relocated = re.search(r"cluster in (\S+?)[,;)]", "".join(process.lines))
        if relocated and relocated.group(1).startswith(str(RELOCATION_ROOT)):
            shutil.rmtree(relocated.group(1), ignore_errors=True)
        shutil.rmtree(private, ignore_errors=True)


def call(base: str, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None,
         raw: bytes | None = None) -> tuple[int, dict[str, str], Any]:
    """One request: (status, headers, JSON body or text)."""
    where = urlsplit(base)
    connection = http.client.HTTPConnection(where.hostname, where.port, timeout=30)
    data = raw if raw is not None else None if body is None else json.dumps(body).encode()
    connection.request(method, path, body=data, headers={"Content-Type": "application/json", **(headers or {})}
                       if data is not None else headers or {})
    answer = connection.getresponse()
    payload = answer.read()
    connection.close()
    kind = answer.getheader("content-type") or ""
    return answer.status, {k.lower(): v for k, v in answer.getheaders()}, \
        json.loads(payload) if payload and "json" in kind else payload.decode()


def api(dev, method: str, path: str, body: Any = None, **headers: str) -> tuple[int, Any]:
    status, _, answer = call(f"http://127.0.0.1:{dev.port}", method, path, body,
                             {"Authorization": f"Bearer {dev.token}", **headers})
    return status, answer


def control(dev, path: str, body: Any = None) -> Any:
    """The double's control API (POST with a body, else GET); a non-200 fails the test."""
    status, _, answer = call(dev.double, "POST" if body is not None else "GET", path, body)
    assert status == 200, (path, answer)
    return answer


def eventually(what: str, probe: Callable[[], Any], timeout: float = STEP) -> Any:
    """``probe()`` once it is truthy, polling for at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        assert time.monotonic() < deadline, f"after {timeout}s still no {what}"
        time.sleep(0.1)


def sends(dev, to: str) -> list[dict[str, Any]]:
    return control(dev, f"/_double/messages?to={to.replace('+', '%2B')}")["messages"]


def pt_br(instant: dt.datetime) -> str:
    """The São Paulo wall-clock time as the templates write it ("terça-feira, 3 de dezembro às 14:30")."""
    local = instant.astimezone(SAO_PAULO)
    return f"{WEEKDAYS[local.weekday()]}, {local.day} de {MONTHS[local.month - 1]} às {local:%H:%M}"


def conversation(dev, client_id: str) -> dict[str, Any]:
    status, body = api(dev, "GET", f"/api/messages?clientId={client_id}")
    assert status == 200, body
    return body


def row(dev, client_id: str, template: str) -> dict[str, Any] | None:
    return next((m for m in conversation(dev, client_id)["messages"] if m["template"] == template), None)


@pytest.fixture(scope="module")
def booked(dev):
    """A public booking three or more days ahead (out of the cancellation notice), sent through the queue."""
    today = dt.datetime.now(SAO_PAULO).date()
    status, slots = api(dev, "GET", f"/api/professionals/demo/slots?from={today + dt.timedelta(days=3)}"
                                    f"&to={today + dt.timedelta(days=10)}")
    assert status == 200 and slots["slots"], slots
    starts_at = slots["slots"][0]["startsAt"]
    status, _, body = call(f"http://127.0.0.1:{dev.port}", "POST", "/api/booking",
                           {"slug": "demo", "startsAt": starts_at, "client": {"name": CLIENT_NAME, "phone": CLIENT}})
    assert status == 201, body
    status, clients = api(dev, "GET", "/api/clients?q=Bia")
    assert status == 200, clients
    [client] = [c for c in clients["clients"] if c["phone"] == CLIENT]
    confirmed = message_templates.get("msgBookingConfirmed")
    # the client's confirmation, accepted by the double and stored as sent (its wamid kept) by the sender
    eventually("confirmation sent", lambda: (row(dev, client["id"], "msgBookingConfirmed") or {}).get("status")
               == "sent")
    [confirmation] = [s for s in sends(dev, CLIENT) if s["template"] == confirmed.meta_name]
    return {"appointment": body["appointment"]["id"], "startsAt": dt.datetime.fromisoformat(starts_at),
            "client": client["id"], "wamid": confirmation["wamid"]}


def test_a_booking_sends_one_confirmation_to_the_client_and_one_notice_to_the_professional(dev, booked):
    confirmed = message_templates.get("msgBookingConfirmed")
    notice = message_templates.get("msgNewBookingForProfessional")
    eventually("notice to the professional", lambda: sends(dev, PROFESSIONAL))
    time.sleep(1.0)  # a duplicate would come right behind: give it the time to show
    to_client = [s for s in sends(dev, CLIENT) if s["template"] == confirmed.meta_name]
    to_professional = [s for s in sends(dev, PROFESSIONAL) if s["template"] == notice.meta_name]
    assert len(to_client) == 1 and len(to_professional) == 1, (to_client, to_professional)
    when = pt_br(booked["startsAt"])
    [mine], [theirs] = to_client, to_professional
    assert mine["language"] == theirs["language"] == "pt_BR"
    assert mine["to"] == CLIENT.lstrip("+") and theirs["to"] == PROFESSIONAL.lstrip("+")
    assert {k: mine["params"][k] for k in ("client_name", "professional_name", "date_time")} == {
        "client_name": CLIENT_NAME, "professional_name": PROFESSIONAL_NAME, "date_time": when}
    assert re.fullmatch(r"http://localhost:5173/b/\S+", mine["params"]["manage_link"])
    assert len(mine["buttonPayloads"]) == 2  # reschedule, cancel
    assert theirs["params"]["client_name"] == CLIENT_NAME and theirs["params"]["date_time"] == when
    assert theirs["params"]["professional_name"] == PROFESSIONAL_NAME


def test_delivered_moves_the_row_forward_and_a_late_sent_does_not_move_it_back(dev, booked):
    answer = control(dev, "/_double/client/deliver", {"wamid": booked["wamid"]})
    assert answer["webhook"]["status"] == 200, answer
    assert answer["event"]["entry"][0]["changes"][0]["value"]["statuses"][0]["status"] == "delivered"
    delivered = row(dev, booked["client"], "msgBookingConfirmed")
    assert delivered["status"] == "delivered" and delivered["deliveredAt"], delivered
    for replay in ({"status": "sent"}, {"status": "delivered"}):  # out of order, then the same again
        answer = control(dev, "/_double/client/status", {"wamid": booked["wamid"], **replay})
        assert answer["webhook"]["status"] == 200, answer
        assert row(dev, booked["client"], "msgBookingConfirmed") == delivered


def test_a_bad_signature_is_401_and_changes_nothing(dev, booked):
    document = json.loads((FIXTURES / "webhook_status_read.json").read_text())
    document["entry"][0]["changes"][0]["value"]["statuses"][0]["id"] = booked["wamid"]
    raw = json.dumps(document).encode()
    before = conversation(dev, booked["client"])
    for signature in ("sha256=" + hmac.new(b"not-the-app-secret", raw, hashlib.sha256).hexdigest(), None):
        status, headers, body = call(f"http://127.0.0.1:{dev.port}", "POST", "/api/whatsapp/webhook", raw=raw,
                                     headers={"Content-Type": "application/json",
                                              **({"X-Hub-Signature-256": signature} if signature else {})})
        assert status == 401 and headers["content-type"] == "application/problem+json", body
        assert body["code"] == "invalid_signature"
    assert conversation(dev, booked["client"]) == before


def test_a_client_reply_shows_in_the_conversation_and_opens_the_window(dev, booked):
    text = {"clientId": booked["client"], "body": "Oi Bia, tudo certo para a sessão?"}
    status, body = api(dev, "POST", "/api/messages", text)
    assert status == 422 and body["code"] == "outside_service_window", body
    assert conversation(dev, booked["client"])["window"]["open"] is False

    answer = control(dev, "/_double/client/reply", {"from": CLIENT, "text": "Posso levar um acompanhante?",
                                                    "contextWamid": booked["wamid"]})
    assert answer["webhook"]["status"] == 200, answer
    seen = conversation(dev, booked["client"])
    assert seen["messages"][0]["direction"] == "inbound" and seen["messages"][0]["status"] == "received"
    assert seen["messages"][0]["body"] == "Posso levar um acompanhante?"
    assert seen["window"]["open"] is True

    status, body = api(dev, "POST", "/api/messages", text)
    assert status == 202, body
    eventually("free-text answer at the client", lambda: [s for s in sends(dev, CLIENT) if s["text"] == text["body"]])


def test_a_forged_tap_changes_nothing_and_a_tapped_cancel_cancels_that_appointment(dev, booked):
    def appointment_status() -> str:
        status, body = api(dev, "GET", f"/api/appointments/{booked['appointment']}")
        assert status == 200, body
        return body["status"]

    before = appointment_status()
    assert before in ("pending", "confirmed")
    [_, cancel_payload] = next(s for s in sends(dev, CLIENT) if s["wamid"] == booked["wamid"])["buttonPayloads"]
    forged = cancel_payload[:5] + ("B" if cancel_payload[5] != "B" else "C") + cancel_payload[6:]  # MAC mismatch
    answer = control(dev, "/_double/client/tap", {"wamid": booked["wamid"], "button": "cancel", "payload": forged})
    assert answer["webhook"]["status"] == 200, answer  # acknowledged (Meta would retry anything else)
    assert appointment_status() == before

    answer = control(dev, "/_double/client/tap", {"wamid": booked["wamid"], "button": "cancel"})
    assert answer["webhook"]["status"] == 200, answer
    tapped = answer["event"]["entry"][0]["changes"][0]["value"]["messages"][0]
    assert tapped["type"] == "button" and tapped["button"]["payload"] == cancel_payload
    assert tapped["context"]["id"] == booked["wamid"]
    assert appointment_status() == "cancelled"
    eventually("cancellation answer to the client",
               lambda: [s for s in sends(dev, CLIENT) if s["type"] == "text" and "cancelada" in (s["text"] or "")])


def test_the_control_api_explains_itself_and_refuses_what_it_cannot_play(dev, booked):
    status, headers, text = call(dev.double, "GET", "/_double")
    assert status == 200 and headers["content-type"].startswith("text/plain") and "/_double/client/tap" in text
    for path, body, expected in (("/_double/client/deliver", {"wamid": "wamid.UNKNOWN"}, 404),
                                 ("/_double/client/deliver", {}, 400),
                                 ("/_double/client/fail", {"wamid": booked["wamid"]}, 400),  # no error code
                                 ("/_double/client/tap", {"wamid": booked["wamid"], "button": "confirm"}, 404),
                                 ("/_double/client/dance", {}, 404)):
        status, _, answer = call(dev.double, "POST", path, body)
        assert status == expected, (path, body, answer)
