"""The HTTP edge's own headers and body limit (odys.http.lambda_handler_for): nosniff, no-referrer and no-store on
every answer (a route's own Cache-Control wins), and a body over 1 MiB (3 MiB on Meta's webhook) is 413
payload_too_large before anything parses it."""

from __future__ import annotations

import json

import pytest

from odys import db


@pytest.mark.parametrize("call", ["authenticated", "problem", "public", "not onboarded"])
def test_every_answer_carries_the_security_headers(api, professional, token_for, call):
    token, _ = professional
    result = {"authenticated": lambda: api.get("/api/account", token=token),
              "problem": lambda: api.get("/api/clients/not-a-uuid", token=token),
              "public": lambda: api.get("/api/professionals/ana-psi"),
              "not onboarded": lambda: api.get("/api/account", token=token_for())}[call]()
    assert result.headers["X-Content-Type-Options"] == "nosniff"
    assert result.headers["Referrer-Policy"] == "no-referrer"
    assert result.headers["Cache-Control"] == "no-store"


def test_a_route_that_sets_its_own_cache_control_keeps_it(api, professional):
    token, _ = professional
    assert api.patch("/api/account", token=token, json_body={"pixKeyType": "email", "pixKey": "a@b.co"}).status == 200
    client = api.post("/api/clients", token=token, json_body={"name": "Bia", "phone": "+5511988887777"}).json
    appointment = api.post("/api/appointments", token=token, json_body={
        "clientId": client["id"], "startsAt": "2030-01-07T13:00:00Z"}).json
    result = api.get(f"/api/appointments/{appointment['id']}/pix", token=token)
    assert result.status == 200 and result.headers["Cache-Control"] == "private, no-store"
    assert [k.lower() for k in result.headers].count("cache-control") == 1


def test_a_body_over_one_mebibyte_is_413_before_parsing(api, professional):
    token, _ = professional
    body = json.dumps({"name": "Bia", "phone": "+5511988887777", "email": None, "x": "a" * (1024 * 1024)})
    result = api.post("/api/clients", token=token, body=body, headers={"content-type": "application/json"})
    assert result.status == 413 and result.json["code"] == "payload_too_large", result.body
    assert result.content_type == "application/problem+json" and result.headers["X-Content-Type-Options"] == "nosniff"
    assert db.scalar("SELECT count(*) FROM clients") == 0
    multibyte = json.dumps({"name": "ç" * (600 * 1024), "phone": "+5511988887777"}, ensure_ascii=False)
    assert api.post("/api/clients", token=token, body=multibyte,
                    headers={"content-type": "application/json"}).status == 413  # 1.2 MB of UTF-8
    assert api.post("/api/clients", token=token, body=b"\x00" * (1024 * 1024 + 1),
                    headers={"content-type": "application/json"}).status == 413  # base64 on the wire
    just_under = json.dumps({"name": "Bia", "phone": "+5511988887777", "x": "a" * (1024 * 1024 - 100)})
    assert api.post("/api/clients", token=token, body=just_under,
                    headers={"content-type": "application/json"}).status == 422  # read, then refused by the model


def test_the_meta_webhook_takes_up_to_three_mebibytes(api, monkeypatch):
    monkeypatch.setenv("WHATSAPP_APP_SECRET", "edge-app-secret")
    two = b'{"object": "whatsapp_business_account", "entry": [], "pad": "' + b"a" * (2 * 1024 * 1024) + b'"}'
    result = api.post("/api/whatsapp/webhook", body=two, headers={"content-type": "application/json",
                                                                  "x-hub-signature-256": "sha256=00"})
    assert result.status == 401, result.body  # read and checked: a wrong signature
    four = two + b" " * (2 * 1024 * 1024)
    result = api.post("/api/whatsapp/webhook", body=four, headers={"content-type": "application/json"})
    assert result.status == 413 and result.json["code"] == "payload_too_large"
