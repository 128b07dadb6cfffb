"""Automatic PIX confirmation (issue 13) end to end against the PSP stand-in (devtools.pix_double), over mutual TLS:
the connection, dynamic charges for bookings, callbacks as hints, reconciliation, cancellation and refunds.

KMS is moto's (its server, shared with the SQS fixture); callbacks the stand-in sends are routed to the real
webhook function through the ``api`` fixture.
"""

from __future__ import annotations

import json
import time

import pytest
from booking_helpers import book
from conftest import onboarding_body

from devtools import lambdas
from odys import clock, db, pix_api, pix_connections, pix_reconcile

WEBHOOK_BASE = "https://pix-hooks.odys.test"
KEY = "52998224725"  # Ana's CPF key (set_pix_key below)


@pytest.fixture
def stand_in(psp, kms, sqs, api, monkeypatch):
    """The stand-in, reset, with callbacks delivered to the webhook function; the environment pointing at it."""
    psp.reset()
    for key, value in {**psp.environment(), "PIX_WEBHOOK_BASE_URL": WEBHOOK_BASE,
                       "PIX_API_TIMEOUT_SECONDS": "2"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("PIX_WEBHOOK_MTLS", raising=False)
    pix_api.reset_tokens()
    pix_connections.reset_cache()

    def deliver(url: str, body: bytes) -> int:
        assert url.startswith(WEBHOOK_BASE)
        return api.post(url[len(WEBHOOK_BASE):].split("?")[0], body=body,
                        headers={"content-type": "application/json"}).status

    psp.deliver = deliver
    return psp


def set_pix_key(api, token: str) -> None:
    assert api.patch("/api/account", token=token, json_body={"pixKeyType": "cpf", "pixKey": KEY}).status == 200


def connect(api, token: str, psp, provider: str = "efi", **extra) -> dict:
    credentials = psp.issue_client([KEY])
    result = api.put("/api/payment-connection", token=token,
                     json_body={"provider": provider, **credentials, **extra})
    assert result.status == 200, result.body
    return {**credentials, "answer": result.json}


@pytest.fixture
def connected(api, open_mornings, stand_in):
    """Ana open every morning, with a PIX key and an Efí connection to the stand-in: (token, slots, credentials)."""
    token, found = open_mornings
    set_pix_key(api, token)
    return token, found, connect(api, token, stand_in)


def appointment_row(appointment_id: str) -> dict:
    return db.one("SELECT status, payment_status, price FROM appointments WHERE id = :id", id=appointment_id)


def counts(appointment_id: str) -> tuple[int, int, int]:
    """(payments, payment notifications, msgPaymentConfirmed messages) for the appointment."""
    return (db.scalar("SELECT count(*) FROM pix_payments WHERE appointment_id = :id", id=appointment_id),
            db.scalar("SELECT count(*) FROM notifications WHERE kind = 'pix_payment_confirmed'"),
            db.scalar("SELECT count(*) FROM messages WHERE template = 'msgPaymentConfirmed' "
                      "AND appointment_id = :id", id=appointment_id))


def webhook_token(psp) -> str:
    return psp.webhooks[KEY]["webhookUrl"].rsplit("/", 1)[-1]


# --- the connection ----------------------------------------------------------------------------------------------

def test_a_connection_is_validated_at_the_psp_and_its_secrets_are_never_answered_logged_or_stored_plain(
        api, professional, stand_in, log_lines):
    token, _ = professional
    set_pix_key(api, token)
    made = connect(api, token, stand_in)
    answer = made["answer"]
    assert answer["provider"] == "efi" and answer["pixKey"] == KEY and answer["status"] == "active"
    assert answer["lastCheckedAt"] and answer["lastError"] is None and answer["certificateExpiresAt"]
    hook = stand_in.webhooks[KEY]
    assert hook["webhookUrl"].startswith(WEBHOOK_BASE + "/api/pix/webhook/") and hook["skipMtls"] is True
    shown = api.get("/api/payment-connection", token=token)
    assert shown.status == 200 and shown.json["status"] == "active"
    secrets = [made["clientSecret"], made["clientId"], made["certificate"][:40], webhook_token(stand_in)]
    for secret in secrets:
        assert secret not in json.dumps(answer) and secret not in shown.body
        assert secret not in json.dumps(log_lines())
    stored = db.one("SELECT credentials, webhook_token_hash FROM pix_connections")
    assert made["clientSecret"].encode() not in bytes(stored["credentials"])
    assert made["clientId"].encode() not in bytes(stored["credentials"])


def test_a_connection_the_psp_refuses_or_a_broken_certificate_stores_nothing(api, professional, stand_in):
    token, _ = professional
    set_pix_key(api, token)
    credentials = stand_in.issue_client([KEY])
    wrong = api.put("/api/payment-connection", token=token,
                    json_body={"provider": "efi", **credentials, "clientSecret": "not-the-secret"})
    assert wrong.status == 422 and wrong.json["code"] == "psp_refused", wrong.body
    assert "not-the-secret" not in wrong.body
    broken = api.put("/api/payment-connection", token=token,
                     json_body={"provider": "efi", **credentials, "certificate": "bm90IGEgY2VydGlmaWNhdGU="})
    assert broken.status == 422 and broken.json["code"] == "certificate_invalid"
    other_key = api.put("/api/payment-connection", token=token,
                        json_body={"provider": "efi", **credentials, "pixKey": "someone@else.com"})
    assert other_key.status == 422 and other_key.json["code"] == "psp_refused"
    assert db.scalar("SELECT count(*) FROM pix_connections") == 0
    assert api.get("/api/payment-connection", token=token).status == 404


def test_the_generic_adapter_connects_with_a_pkcs12_certificate(api, professional, stand_in):
    token, _ = professional
    set_pix_key(api, token)
    credentials = stand_in.issue_client([KEY], p12_password="senha-do-p12")
    result = api.put("/api/payment-connection", token=token, json_body={"provider": "bacen", **credentials})
    assert result.status == 200 and result.json["provider"] == "bacen", result.body
    assert stand_in.webhooks[KEY]["skipMtls"] is False  # Efí's header is Efí's only


def test_deleting_the_connection_removes_the_webhook_and_the_credentials(api, connected, stand_in):
    token, _, _ = connected
    assert api.delete("/api/payment-connection", token=token).status == 204
    assert KEY not in stand_in.webhooks and db.scalar("SELECT count(*) FROM pix_connections") == 0
    assert api.delete("/api/payment-connection", token=token).status == 404


# --- a charge per appointment, confirmed by webhook ------------------------------------------------------------

def test_a_booking_is_a_dynamic_charge_and_paying_it_turns_the_appointment_paid_exactly_once(
        api, connected, stand_in, log_lines):
    token, found, credentials = connected
    booked = book(api, found[0]["startsAt"])
    assert booked.status == 201, booked.body
    pix = booked.json["pix"]
    appointment_id = booked.json["appointment"]["id"]
    cob = stand_in.cobs[pix["txid"]]
    assert pix["kind"] == "dynamic" and pix["chargeStatus"] == "ATIVA" and len(pix["txid"]) == 32
    assert pix["payload"] == cob["pixCopiaECola"] and pix["qrSvg"].startswith("<svg")
    assert cob["valor"] == {"original": "150.00"} and cob["chave"] == KEY and "Sess" in cob["solicitacaoPagador"]
    again = api.get(f"/api/appointments/{appointment_id}/pix", token=token)
    assert again.status == 200 and again.json["txid"] == pix["txid"] and again.json["kind"] == "dynamic"
    link = api.get(f"/api/booking/{booked.json['manageToken']}", source_ip="198.51.100.9")
    assert link.status == 200 and link.json["pix"]["txid"] == pix["txid"] and link.json["pix"]["kind"] == "dynamic"
    assert len([r for r in stand_in.requests if r[0] == "PUT" and r[1].startswith("/v2/cob/")]) == 1

    paid = stand_in.pay(pix["txid"], duplicates=1)  # the callback twice
    assert [d["status"] for d in stand_in.deliveries] == [200, 200]
    assert appointment_row(appointment_id)["payment_status"] == "paid"
    assert counts(appointment_id) == (1, 1, 1)
    stand_in.send_callback(paid + [stand_in.pay_static("ODYSNOTOURS", "5.00", KEY)])  # a batch containing it
    assert counts(appointment_id) == (1, 1, 1)
    payment = db.one("SELECT end_to_end_id, amount_cents, payer_name_masked, source FROM pix_payments")
    assert payment == {"end_to_end_id": paid[0]["endToEndId"], "amount_cents": 15000,
                       "payer_name_masked": "Fu**** de Ta*", "source": "webhook"}
    assert "Fulana" not in json.dumps(log_lines()) and credentials["clientSecret"] not in json.dumps(log_lines())
    shown = api.get(f"/api/appointments/{appointment_id}/pix", token=token)
    assert shown.json["paymentStatus"] == "paid" and shown.json["chargeStatus"] == "CONCLUIDA"


def test_forged_callbacks_change_nothing(api, connected, stand_in, token_for):
    token, found, _ = connected
    booked = book(api, found[0]["startsAt"])
    appointment_id, txid = booked.json["appointment"]["id"], booked.json["pix"]["txid"]
    hook = f"/api/pix/webhook/{webhook_token(stand_in)}/pix"
    static_txid = db.scalar("SELECT pix_txid FROM appointments WHERE id = :id", id=appointment_id)

    def post(path: str, items: list[dict]) -> int:
        return api.post(path, json_body={"pix": items}).status

    claim = {"valor": "150.00", "horario": "2026-12-01T12:00:00Z", "chave": KEY}
    # the charge is still ATIVA at the PSP: a callback claiming it was paid is only a hint
    assert post(hook, [{**claim, "txid": txid, "endToEndId": "E18236120202612011200abcdefghijk"}]) == 200
    assert post(hook, [{**claim, "txid": "f" * 32, "endToEndId": "E18236120202612011200abcdefghijl"}]) == 200
    # an invented endToEndId for the appointment's static txid: the PSP knows no such Pix
    assert post(hook, [{**claim, "txid": static_txid, "endToEndId": "E18236120202612011200inventedxx"}]) == 200
    # a static payment of the wrong amount, really at the PSP
    wrong = stand_in.pay_static(static_txid, "1.00", KEY)
    assert post(hook, [wrong]) == 200
    # a bad connection token
    assert api.post("/api/pix/webhook/" + "x" * 43, json_body={"pix": [claim]}).status == 404
    assert api.post("/api/pix/webhook/short/pix", json_body={"pix": [claim]}).status == 404

    # another connected professional's txid, sent to Ana's URL
    other = token_for()
    assert api.post("/api/account", token=other, json_body=onboarding_body("bia-psi", phone="+5511912345678",
                                                                           email="bia@example.com")).status == 201
    bia_id = str(db.scalar("SELECT id FROM professionals WHERE slug = 'bia-psi'"))
    client_id = db.scalar("INSERT INTO clients (professional_id, name, phone) VALUES (:p, 'C', '+5511955554444') "
                          "RETURNING id", p=bia_id)
    bia_appointment = str(db.scalar(
        "INSERT INTO appointments (professional_id, client_id, starts_at, ends_at, status, price) VALUES "
        "(:p, :c, now() + interval '5 days', now() + interval '5 days 50 minutes', 'confirmed', 15000) RETURNING id",
        p=bia_id, c=client_id))
    db.run("INSERT INTO pix_charges (txid, professional_id, appointment_id, status, amount_cents, expires_at) "
           "VALUES (:t, :p, :a, 'active', 15000, now() + interval '6 days')", t="b" * 32, p=bia_id, a=bia_appointment)
    assert post(hook, [{**claim, "txid": "b" * 32, "endToEndId": "E18236120202612011200abcdefghijm"}]) == 200

    assert appointment_row(appointment_id)["payment_status"] == "unpaid"
    assert appointment_row(bia_appointment)["payment_status"] == "unpaid"
    assert db.scalar("SELECT count(*) FROM pix_payments") == 0
    assert db.scalar("SELECT count(*) FROM notifications WHERE kind = 'pix_payment_confirmed'") == 0


def test_a_full_refund_moves_the_appointment_to_refunded(api, connected, stand_in):
    _, found, _ = connected
    booked = book(api, found[0]["startsAt"])
    appointment_id = booked.json["appointment"]["id"]
    paid = stand_in.pay(booked.json["pix"]["txid"])
    assert appointment_row(appointment_id)["payment_status"] == "paid"
    stand_in.refund(paid[0]["endToEndId"])
    assert appointment_row(appointment_id)["payment_status"] == "refunded"
    assert db.scalar("SELECT refunded_cents FROM pix_payments") == 15000


def test_the_webhook_requires_the_forwarded_client_certificate_when_the_domain_does_mtls(
        api, connected, stand_in, monkeypatch):
    _, found, _ = connected
    booked = book(api, found[0]["startsAt"])
    paid = stand_in.pay(booked.json["pix"]["txid"], deliver=False)
    monkeypatch.setenv("PIX_WEBHOOK_MTLS", "required")
    monkeypatch.setenv("PIX_WEBHOOK_CERT_ISSUERS", "CN=Efi Webhooks CA")
    path = f"/api/pix/webhook/{webhook_token(stand_in)}"
    body = json.dumps({"pix": paid})
    assert api.post(path, body=body, headers={"content-type": "application/json"}).status == 403

    def invoke(issuer: str) -> int:
        event = lambdas.http_event("POST", path, route_path="/api/pix/webhook/{token}",
                                   path_parameters={"token": webhook_token(stand_in)}, body=body,
                                   headers={"content-type": "application/json"})
        event["requestContext"]["authentication"] = {"clientCert": {"clientCertPem": "-----BEGIN CERT…",
                                                                    "issuerDN": issuer, "subjectDN": "CN=x"}}
        return lambdas.invoke("pix_webhook", event)["statusCode"]

    assert invoke("CN=Some Other CA") == 403
    assert appointment_row(booked.json["appointment"]["id"])["payment_status"] == "unpaid"
    assert invoke("CN=Efi Webhooks CA,O=Efi") == 200
    assert appointment_row(booked.json["appointment"]["id"])["payment_status"] == "paid"


# --- the PSP misbehaving --------------------------------------------------------------------------------------

def test_a_timeout_is_resolved_by_reading_the_charge_back_before_any_retry(api, connected, stand_in, monkeypatch):
    monkeypatch.setenv("PIX_API_TIMEOUT_SECONDS", "1")
    pix_connections.reset_cache()
    _, found, _ = connected
    stand_in.fail_next("PUT", "/v2/cob/", "timeout")
    booked = book(api, found[0]["startsAt"])
    assert booked.json["pix"]["kind"] == "dynamic", booked.body
    cob_calls = [r for r in stand_in.requests if "/v2/cob/" in r[1]]
    assert [m for m, _ in cob_calls] == ["PUT", "GET"]  # read back, no second PUT


def test_a_psp_that_is_down_gets_the_static_code_and_the_daily_sweep_catches_its_payment(api, connected, stand_in):
    _, found, _ = connected
    stand_in.fail_next("PUT", "/v2/cob/", 503)
    booked = book(api, found[0]["startsAt"])
    pix = booked.json["pix"]
    appointment_id = booked.json["appointment"]["id"]
    assert pix["kind"] == "static" and len(pix["txid"]) == 25
    stand_in.pay_static(pix["txid"], "150.00", KEY)  # paid with the static code; no callback arrives
    assert pix_reconcile.run(clock.now())["confirmed"] == 0  # the 15-minute run reads charges only
    summary = pix_reconcile.run(clock.now(), sweep=True)
    assert summary["confirmed"] == 1 and summary["swept"] == 1, summary
    assert appointment_row(appointment_id)["payment_status"] == "paid"
    assert counts(appointment_id) == (1, 1, 1)
    assert pix_reconcile.run(clock.now(), sweep=True)["confirmed"] == 0


def test_a_callback_that_never_arrives_is_caught_by_the_next_reconciliation_run(api, connected, stand_in):
    _, found, _ = connected
    booked = book(api, found[0]["startsAt"])
    appointment_id = booked.json["appointment"]["id"]
    stand_in.pay(booked.json["pix"]["txid"], deliver=False)
    result = lambdas.invoke("cron_pix_reconcile", {"scheduledTime": clock.now().isoformat()})
    assert result["checked"] == 1 and result["confirmed"] == 1 and result["pspErrors"] == {}, result
    assert appointment_row(appointment_id)["payment_status"] == "paid"
    assert counts(appointment_id) == (1, 1, 1)
    assert pix_reconcile.run(clock.now())["checked"] == 0  # nothing pending any more


def test_psp_errors_are_counted_per_provider_and_shown_on_the_connection(api, connected, stand_in):
    token, found, _ = connected
    book(api, found[0]["startsAt"])
    stand_in.fail_next("GET", "/v2/cob/", 503)
    summary = pix_reconcile.run(clock.now())
    assert summary["pspErrors"] == {"efi": 1}
    assert api.get("/api/payment-connection", token=token).json["lastError"] == "psp_unavailable"


def test_an_expired_token_is_renewed_and_a_revoked_one_is_retried_once(connected, stand_in):
    from odys.store import pix_connections as store

    row = store.get(str(db.scalar("SELECT id FROM professionals")))
    api_client = pix_connections.api_for(row)
    stand_in.token_lifetime = 1
    pix_api.reset_tokens()
    api_client.get_cob("a" * 32)
    time.sleep(1.1)
    api_client.get_cob("a" * 32)
    stand_in.tokens.clear()  # revoked at the PSP: 401, then a new token
    api_client.get_cob("a" * 32)
    tokens = [r for r in stand_in.requests if r[1] == "/oauth/token"]
    assert len(tokens) == 4  # the connection's check, the reset, then one per expiry and per revocation


# --- changes of the appointment -------------------------------------------------------------------------------

def test_cancelling_or_deleting_removes_the_charge_and_a_price_change_revises_it(api, connected, stand_in):
    token, found, _ = connected
    first = book(api, found[0]["startsAt"]).json
    second = book(api, found[1]["startsAt"], phone="+5511977776666").json
    cancelled = api.patch(f"/api/appointments/{first['appointment']['id']}", token=token,
                          json_body={"status": "cancelled"})
    assert cancelled.status == 200
    assert stand_in.cobs[first["pix"]["txid"]]["status"] == "REMOVIDA_PELO_USUARIO_RECEBEDOR"

    revised = api.patch(f"/api/appointments/{second['appointment']['id']}", token=token, json_body={"price": 18000})
    assert revised.status == 200
    cob = stand_in.cobs[second["pix"]["txid"]]
    assert cob["valor"] == {"original": "180.00"} and cob["revisao"] == 1 and cob["status"] == "ATIVA"
    shown = api.get(f"/api/appointments/{second['appointment']['id']}/pix", token=token).json
    assert shown["amountCents"] == 18000 and shown["txid"] == second["pix"]["txid"]

    assert api.delete(f"/api/appointments/{second['appointment']['id']}", token=token).status == 204
    assert stand_in.cobs[second["pix"]["txid"]]["status"] == "REMOVIDA_PELO_USUARIO_RECEBEDOR"

    cash = book(api, found[2]["startsAt"], phone="+5511966665555").json  # paid in cash, marked by hand
    assert api.patch(f"/api/appointments/{cash['appointment']['id']}", token=token,
                     json_body={"paymentStatus": "paid"}).status == 200
    assert stand_in.cobs[cash["pix"]["txid"]]["status"] == "REMOVIDA_PELO_USUARIO_RECEBEDOR"


def test_a_client_cancelling_through_the_link_removes_the_charge(api, connected, stand_in):
    _, found, _ = connected
    booked = book(api, found[0]["startsAt"]).json
    changed = api.patch(f"/api/booking/{booked['manageToken']}", json_body={"action": "cancel"})
    assert changed.status == 200, changed.body
    assert stand_in.cobs[booked["pix"]["txid"]]["status"] == "REMOVIDA_PELO_USUARIO_RECEBEDOR"


def test_without_a_connection_the_static_code_is_answered_as_before(api, open_mornings, stand_in):
    token, found = open_mornings
    set_pix_key(api, token)
    booked = book(api, found[0]["startsAt"])
    assert booked.json["pix"]["kind"] == "static" and len(booked.json["pix"]["txid"]) == 25
    assert stand_in.requests == []


# --- SSRF: the generic adapter's URLs ---------------------------------------------------------------------------

def test_a_psp_url_that_reaches_into_the_network_is_refused_before_any_call(api, professional, stand_in):
    token, _ = professional
    set_pix_key(api, token)
    credentials = stand_in.issue_client([KEY])
    port = stand_in.url.rsplit(":", 1)[1]
    for url in ("https://169.254.169.254/latest", f"https://localhost:{port}/v2", "https://10.0.0.7/v2",
                "https://[::ffff:127.0.0.1]/v2", "https://name.invalid/v2"):
        refused = api.put("/api/payment-connection", token=token,
                          json_body={"provider": "bacen", **credentials, "apiBaseUrl": url})
        assert refused.status == 422 and refused.json["code"] == "psp_url_refused", (url, refused.body)
        via_token = api.put("/api/payment-connection", token=token,
                            json_body={"provider": "bacen", **credentials, "tokenUrl": url + "/oauth/token"})
        assert via_token.status == 422 and via_token.json["code"] == "psp_url_refused", (url, via_token.body)
    efi_custom = api.put("/api/payment-connection", token=token,
                         json_body={"provider": "efi", **credentials, "tokenUrl": "https://psp.example.com/t"})
    assert efi_custom.status == 422, efi_custom.body  # Efí's URLs are its documented ones
    assert stand_in.requests == [] and db.scalar("SELECT count(*) FROM pix_connections") == 0


# --- deletions reach the PSP after the commit -----------------------------------------------------------------

def _cob_status(psp, txid: str) -> str:
    return psp.cobs[txid]["status"]


def test_deleting_the_account_removes_its_charges_and_webhook_at_the_psp_after_the_commit(
        api, connected, stand_in, log_lines):
    token, found, credentials = connected
    first = book(api, found[0]["startsAt"]).json["pix"]["txid"]
    second = book(api, found[1]["startsAt"], phone="+5511977776666").json["pix"]["txid"]
    assert api.delete("/api/account", token=token, json_body={"confirm": "ana-psi"}).status == 204
    assert db.scalar("SELECT count(*) FROM professionals") == 0
    assert _cob_status(stand_in, first) == _cob_status(stand_in, second) == "REMOVIDA_PELO_USUARIO_RECEBEDOR"
    assert KEY not in stand_in.webhooks
    released = [line for line in log_lines() if line.get("message") == "pix released at the PSP"]
    assert [(r["reason"], r["charges"], r["removed"], r["webhookRemoved"]) for r in released] == [
        ("account_deleted", 2, 2, True)]
    assert credentials["clientSecret"] not in json.dumps(log_lines())


def test_a_psp_outage_never_blocks_the_account_deletion(api, connected, stand_in, log_lines):
    token, found, _ = connected
    txid = book(api, found[0]["startsAt"]).json["pix"]["txid"]
    stand_in.fail_next("PATCH", "/v2/cob/", 503)
    assert api.delete("/api/account", token=token, json_body={"confirm": "ana-psi"}).status == 204
    assert db.scalar("SELECT count(*) FROM professionals") == 0
    assert db.scalar("SELECT count(*) FROM pix_connections") == 0 and db.scalar("SELECT count(*) FROM pix_charges") == 0
    assert _cob_status(stand_in, txid) == "ATIVA"  # it expires at the PSP on its own
    released = [line for line in log_lines() if line.get("message") == "pix released at the PSP"]
    assert released and released[0]["left"] == 1


def test_deleting_a_client_removes_only_their_charges_at_the_psp(api, connected, stand_in):
    token, found, _ = connected
    gone = book(api, found[0]["startsAt"]).json
    stays = book(api, found[1]["startsAt"], phone="+5511977776666").json
    client_id = db.scalar("SELECT client_id FROM appointments WHERE id = :id", id=gone["appointment"]["id"])
    assert api.delete(f"/api/clients/{client_id}", token=token).status == 204
    assert _cob_status(stand_in, gone["pix"]["txid"]) == "REMOVIDA_PELO_USUARIO_RECEBEDOR"
    assert _cob_status(stand_in, stays["pix"]["txid"]) == "ATIVA"
    assert KEY in stand_in.webhooks


def test_the_psp_is_never_called_inside_a_database_transaction(connected, stand_in):
    from odys.store import pix_connections as store

    api_client = pix_connections.api_for(store.get(str(db.scalar("SELECT id FROM professionals"))))
    with db.transaction(), pytest.raises(RuntimeError, match="inside a database transaction"):
        api_client.get_cob("a" * 32)
    api_client.get_cob("a" * 32)  # outside: fine


# --- review fixes: the PSP read-back decides, refunds, odd callbacks ----------------------------------------------

def test_a_cancelled_appointment_paid_meanwhile_is_settled_not_removed_by_the_reconciliation(api, connected, stand_in):
    token, found, _ = connected
    booked = book(api, found[0]["startsAt"]).json
    appointment_id, txid = booked["appointment"]["id"], booked["pix"]["txid"]
    stand_in.fail_next("PATCH", "/v2/cob/", 503)  # the removal at cancellation fails: the charge stays ATIVA
    assert api.patch(f"/api/appointments/{appointment_id}", token=token,
                     json_body={"status": "cancelled"}).status == 200
    stand_in.pay(txid, deliver=False)  # the client paid the code they had anyway; the callback is lost
    summary = pix_reconcile.run(clock.now())
    assert summary["confirmed"] == 1, summary
    assert appointment_row(appointment_id)["payment_status"] == "paid"
    assert counts(appointment_id)[0] == 1


def test_refunding_one_of_two_payments_leaves_the_appointment_paid(api, connected, stand_in):
    _, found, _ = connected
    booked = book(api, found[0]["startsAt"]).json
    appointment_id = booked["appointment"]["id"]
    static_txid = db.scalar("SELECT pix_txid FROM appointments WHERE id = :id", id=appointment_id)
    paid = stand_in.pay(booked["pix"]["txid"])
    stand_in.pay_static(static_txid, "150.00", KEY, deliver=True)  # paid twice: once more with the static code
    assert db.scalar("SELECT count(*) FROM pix_payments WHERE appointment_id = :id", id=appointment_id) == 2
    stand_in.refund(paid[0]["endToEndId"])  # the professional gives the extra payment back
    assert appointment_row(appointment_id)["payment_status"] == "paid"
    assert db.scalar("SELECT sum(refunded_cents) FROM pix_payments") == 15000


def test_a_malformed_item_in_a_batch_does_not_drop_the_good_ones(api, connected, stand_in):
    _, found, _ = connected
    booked = book(api, found[0]["startsAt"]).json
    paid = stand_in.pay(booked["pix"]["txid"], deliver=False)
    hook = f"/api/pix/webhook/{webhook_token(stand_in)}/pix"
    odd = [{"txid": "\u0000" + "a" * 30, "endToEndId": "E1"}, {"txid": "a" * 36}, {"txid": 7},
           {"txid": "abc", "endToEndId": "\u0000"}, {"txid": ["x"]}]
    result = api.post(hook, body=json.dumps({"pix": [*odd, *paid]}), headers={"content-type": "application/json"})
    assert result.status == 200, result.body
    assert appointment_row(booked["appointment"]["id"])["payment_status"] == "paid"


def test_a_charge_paid_concurrently_by_webhook_and_reconciliation_is_recorded_and_told_once(api, connected, stand_in):
    import threading

    from odys import pix_payments
    from odys.store import pix_charges as charges_store
    from odys.store import pix_connections as connections_store

    _, found, _ = connected
    booked = book(api, found[0]["startsAt"]).json
    appointment_id, txid = booked["appointment"]["id"], booked["pix"]["txid"]
    stand_in.pay(txid, deliver=False)
    cob = stand_in.cobs[txid]
    pid = str(db.scalar("SELECT id FROM professionals"))
    connection, charge = connections_store.get(pid), charges_store.by_txid(pid, txid)
    start, outcomes = threading.Barrier(4), []

    def settle(source: str) -> None:
        start.wait()
        try:
            outcomes.append(pix_payments.settle_charge(connection, charge, cob, source=source))
        finally:
            db.close()

    threads = [threading.Thread(target=settle, args=(s,)) for s in ("webhook", "reconciliation") * 2]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["confirmed", "known", "known", "known"]
    assert counts(appointment_id) == (1, 1, 1)


def test_a_reconciliation_out_of_time_stops_calling_the_psp_and_still_writes_its_summary(
        api, connected, stand_in, monkeypatch, log_lines):
    _, found, _ = connected
    book(api, found[0]["startsAt"])
    stand_in.requests.clear()
    monkeypatch.setattr(pix_reconcile, "MAX_SECONDS", -1.0)
    summary = pix_reconcile.run(clock.now(), sweep=True)
    assert summary["outOfTime"] is True and summary["checked"] == 0 and stand_in.requests == []
    assert [line["outOfTime"] for line in log_lines() if line.get("message") == "pix reconciliation"] == [True]


def test_disconnecting_removes_the_open_charges_and_a_new_connection_makes_new_ones(api, connected, stand_in):
    token, found, _ = connected
    booked = book(api, found[0]["startsAt"]).json
    old_txid = booked["pix"]["txid"]
    assert api.delete("/api/payment-connection", token=token).status == 204
    assert _cob_status(stand_in, old_txid) == "REMOVIDA_PELO_USUARIO_RECEBEDOR" and KEY not in stand_in.webhooks
    connect(api, token, stand_in)
    again = api.get(f"/api/appointments/{booked['appointment']['id']}/pix", token=token).json
    assert again["kind"] == "dynamic" and again["txid"] != old_txid
    assert _cob_status(stand_in, again["txid"]) == "ATIVA"


def test_a_concluded_charge_without_a_usable_end_to_end_id_stays_to_be_read_again(api, connected, stand_in):
    _, found, _ = connected
    booked = book(api, found[0]["startsAt"]).json
    txid = booked["pix"]["txid"]
    stand_in.pay(txid, deliver=False)
    stand_in.cobs[txid]["pix"][0]["endToEndId"] = "E-not-a-spec-id"
    assert pix_reconcile.run(clock.now())["mismatches"] == 1
    assert db.scalar("SELECT status FROM pix_charges WHERE txid = :t", t=txid) == "active"
    stand_in.cobs[txid]["pix"][0]["endToEndId"] = stand_in.pix[-1]["endToEndId"] = "E18236120202612011200abcdefghijk"
    assert pix_reconcile.run(clock.now())["confirmed"] == 1
    assert appointment_row(booked["appointment"]["id"])["payment_status"] == "paid"


def test_no_secret_of_the_connection_is_anywhere_in_the_database_or_in_the_api_client_repr(api, connected, stand_in):
    token, found, credentials = connected
    booked = book(api, found[0]["startsAt"]).json
    stand_in.pay(booked["pix"]["txid"])
    hook_token = webhook_token(stand_in)
    identity = pix_api.load_identity(credentials["certificate"])
    key_line = identity.key_pem.decode().splitlines()[1]  # a line of the private key's base64
    dump = "\n".join(str(db.all(f'SELECT t::text AS row FROM "{name}" t'))
                     for name in (r["table_name"] for r in db.all(
                         "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' "
                         "AND table_type = 'BASE TABLE'")))
    for secret in (credentials["clientSecret"], hook_token, key_line, credentials["clientId"]):
        assert secret not in dump and secret.encode().hex() not in dump
    from odys.store import pix_connections as store

    client = pix_connections.api_for(store.get(str(db.scalar("SELECT id FROM professionals"))))
    assert credentials["clientSecret"] not in repr(client) and key_line not in repr(client)


def test_the_daily_sweep_reads_every_page(api, connected, stand_in, monkeypatch):
    _, found, _ = connected
    stand_in.fail_next("PUT", "/v2/cob/", 503)
    stand_in.fail_next("PUT", "/v2/cob/", 503)
    stand_in.fail_next("PUT", "/v2/cob/", 503)
    booked = [book(api, found[i]["startsAt"], phone=f"+551197777666{i}").json for i in range(3)]
    assert {b["pix"]["kind"] for b in booked} == {"static"}
    for each in booked:
        stand_in.pay_static(each["pix"]["txid"], "150.00", KEY)
    monkeypatch.setattr(pix_reconcile, "PER_PAGE", 1)
    summary = pix_reconcile.run(clock.now(), sweep=True)
    assert summary["swept"] == 3 and summary["confirmed"] == 3, summary
    assert len([r for r in stand_in.requests if r == ("GET", "/v2/pix")]) == 3


def test_another_professionals_appointment_pix_is_404_and_creates_no_charge(api, connected, stand_in, token_for):
    _, found, _ = connected
    stand_in.fail_next("PUT", "/v2/cob/", 503)
    booked = book(api, found[0]["startsAt"]).json
    assert booked["pix"]["kind"] == "static"
    stand_in.requests.clear()
    other = token_for()
    assert api.post("/api/account", token=other, json_body=onboarding_body("bia-psi", phone="+5511912345678",
                                                                           email="bia@example.com")).status == 201
    assert api.get(f"/api/appointments/{booked['appointment']['id']}/pix", token=other).status == 404
    assert stand_in.requests == [] and db.scalar("SELECT count(*) FROM pix_charges WHERE status = 'active'") == 0


def test_replacing_the_connection_with_another_psp_removes_the_old_charges_but_not_the_new_webhook(
        api, connected, stand_in):
    token, found, _ = connected
    booked = book(api, found[0]["startsAt"]).json
    old_txid = booked["pix"]["txid"]
    connect(api, token, stand_in, provider="bacen")  # the same key, now through the generic adapter
    assert _cob_status(stand_in, old_txid) == "REMOVIDA_PELO_USUARIO_RECEBEDOR"
    assert KEY in stand_in.webhooks
    again = api.get(f"/api/appointments/{booked['appointment']['id']}/pix", token=token).json
    assert again["kind"] == "dynamic" and again["txid"] != old_txid
    stand_in.pay(again["txid"])
    assert appointment_row(booked["appointment"]["id"])["payment_status"] == "paid"


def test_a_charge_whose_appointment_went_while_the_psp_was_down_is_removed_by_the_next_run(api, connected, stand_in):
    token, found, _ = connected
    booked = book(api, found[0]["startsAt"]).json
    txid = booked["pix"]["txid"]
    client_id = db.scalar("SELECT client_id FROM appointments WHERE id = :id", id=booked["appointment"]["id"])
    stand_in.fail_next("PATCH", "/v2/cob/", 503)
    assert api.delete(f"/api/clients/{client_id}", token=token).status == 204
    assert _cob_status(stand_in, txid) == "ATIVA"
    assert db.one("SELECT appointment_id, status FROM pix_charges") == {"appointment_id": None, "status": "active"}
    summary = pix_reconcile.run(clock.now())
    assert summary["removed"] == 1, summary
    assert _cob_status(stand_in, txid) == "REMOVIDA_PELO_USUARIO_RECEBEDOR"
    assert db.scalar("SELECT count(*) FROM pix_charges") == 0  # nothing of the deleted client's left


def test_a_deleted_appointments_charge_paid_anyway_is_recorded_without_an_appointment(api, connected, stand_in):
    token, found, _ = connected
    booked = book(api, found[0]["startsAt"]).json
    txid = booked["pix"]["txid"]
    stand_in.fail_next("PATCH", "/v2/cob/", 503)
    assert api.delete(f"/api/appointments/{booked['appointment']['id']}", token=token).status == 204
    stand_in.pay(txid)  # the client had the code; the callback comes
    assert db.one("SELECT appointment_id, amount_cents FROM pix_payments") == {"appointment_id": None,
                                                                               "amount_cents": 15000}
    assert db.scalar("SELECT count(*) FROM pix_charges") == 0
    assert pix_reconcile.run(clock.now())["checked"] == 0
