"""/api/account and /api/professionals/{slug} through real API Gateway v2 events."""

from __future__ import annotations

import datetime as dt
import uuid

from conftest import onboarding_body
from devtools.tokens import mint_token

from odys import db

PROBLEM = "application/problem+json"


def assert_problem(result, status: int, code: str) -> dict:
    assert result.status == status, result.body
    assert result.content_type == PROBLEM
    body = result.json
    assert body["status"] == status and body["code"] == code
    assert body["type"].endswith(code) and body["title"] and body["detail"]
    return body


def test_onboarding_creates_professional_with_14_day_pro_trial(api, token_for):
    sub = str(uuid.uuid4())
    result = api.post("/api/account", token=token_for(sub), json_body=onboarding_body(
        phone="(11) 98765-4321", email="Ana@Example.com", slug="Ana-Psi"))
    assert result.status == 201, result.body
    body = result.json
    assert body["slug"] == "ana-psi" and body["phone"] == "+5511987654321" and body["email"] == "ana@example.com"
    assert body["plan"] == "free" and body["effectivePlan"] == "pro" and body["trialDaysLeft"] == 14
    trial_ends = dt.datetime.fromisoformat(body["trialEndsAt"])
    assert abs(trial_ends - (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=14))) < dt.timedelta(minutes=1)
    row = db.one("SELECT user_id, plan, trial_ends_at, timezone FROM professionals WHERE slug = 'ana-psi'")
    assert row["user_id"] == sub and row["plan"] == "free" and row["timezone"] == "America/Sao_Paulo"


def test_public_profile_shows_professional_without_private_data(api, professional):
    result = api.get("/api/professionals/ana-psi")
    assert result.status == 200
    body = result.json
    assert body["name"] == "Ana Souza" and body["sessionPrice"] == 15000
    assert body["reviews"] == {"count": 0, "average": None}
    assert "phone" not in body and "email" not in body and "pixKey" not in body and "id" not in body


def test_unknown_slug_is_404_problem(api):
    assert_problem(api.get("/api/professionals/nobody-here"), 404, "not_found")


def test_missing_expired_and_forged_tokens_are_401(api, token_for):
    assert_problem(api.get("/api/account"), 401, "missing_token")
    assert_problem(api.get("/api/account", token=token_for(expires_in=-120)), 401, "token_expired")
    forged = mint_token(secret="not-the-secret-but-long-enough-0123456789")
    assert_problem(api.get("/api/account", token=forged), 401, "invalid_token")
    assert_problem(api.get("/api/account", token=token_for(audience="anon")), 401, "invalid_token")
    assert_problem(api.get("/api/account", token="not.a.jwt"), 401, "invalid_token")
    result = api.post("/api/account", json_body=onboarding_body())
    assert_problem(result, 401, "missing_token")
    assert db.scalar("SELECT count(*) FROM professionals") == 0


def test_malformed_json_is_400_and_writes_nothing(api, token_for):
    result = api.post("/api/account", token=token_for(), body='{"name": "Ana", ',
                      headers={"content-type": "application/json"})
    assert_problem(result, 400, "malformed_json")
    assert_problem(api.post("/api/account", token=token_for()), 400, "body_required")
    assert db.scalar("SELECT count(*) FROM professionals") == 0


def test_invalid_fields_are_422_with_each_field_named(api, token_for):
    result = api.post("/api/account", token=token_for(), json_body=onboarding_body(
        slug="a", phone="123", timezone="Mars/Olympus", sessionPrice=-5, extra=1))
    body = assert_problem(result, 422, "validation_error")
    fields = {e["field"] for e in body["errors"]}
    assert {"slug", "phone", "timezone", "sessionPrice", "extra"} <= fields


def test_slug_taken_and_second_onboarding_are_409(api, token_for, professional):
    assert_problem(api.post("/api/account", token=token_for(), json_body=onboarding_body()), 409, "slug_taken")
    token, _ = professional
    assert_problem(api.post("/api/account", token=token, json_body=onboarding_body("other-slug")), 409,
                   "already_onboarded")


def test_get_before_onboarding_asks_for_onboarding(api, token_for):
    assert_problem(api.get("/api/account", token=token_for()), 404, "onboarding_required")


def test_patch_updates_profile_and_validates_pix_key_by_type(api, professional):
    token, _ = professional
    result = api.patch("/api/account", token=token, json_body={"pixKeyType": "cpf", "pixKey": "111.111.111-12"})
    body = assert_problem(result, 422, "invalid_pix_key")
    assert body["errors"][0]["field"] == "pixKey"
    assert db.scalar("SELECT pix_key FROM professionals") is None

    ok = api.patch("/api/account", token=token, json_body={
        "pixKeyType": "cpf", "pixKey": "529.982.247-25", "bio": "CRP 06/12345", "timezone": "America/New_York"})
    assert ok.status == 200, ok.body
    assert ok.json["pixKey"] == "52998224725" and ok.json["timezone"] == "America/New_York"
    assert api.get("/api/professionals/ana-psi").json["acceptsPix"] is True

    assert_problem(api.patch("/api/account", token=token, json_body={"pixKey": "52998224725"}), 422,
                   "validation_error")
    assert_problem(api.patch("/api/account", token=token, json_body={"name": None}), 422, "validation_error")
    removed = api.patch("/api/account", token=token, json_body={"pixKeyType": None, "pixKey": None})
    assert removed.status == 200 and removed.json["pixKey"] is None


def test_pix_keys_of_every_type_are_normalised(api, professional):
    token, _ = professional
    cases = [("cnpj", "11.222.333/0001-81", "11222333000181"), ("email", "Ana@Example.com", "ana@example.com"),
             ("phone", "(11) 98765-4321", "+5511987654321"),
             ("evp", "123E4567-E89B-12D3-A456-426614174000", "123e4567-e89b-12d3-a456-426614174000")]
    for key_type, given, stored in cases:
        result = api.patch("/api/account", token=token, json_body={"pixKeyType": key_type, "pixKey": given})
        assert result.status == 200, result.body
        assert result.json["pixKey"] == stored


def test_slug_change_to_taken_slug_is_409(api, token_for, professional):
    other = token_for()
    assert api.post("/api/account", token=other, json_body=onboarding_body("bia-nutri")).status == 201
    token, _ = professional
    assert_problem(api.patch("/api/account", token=token, json_body={"slug": "bia-nutri"}), 409, "slug_taken")


def test_second_user_cannot_read_or_change_first_account(api, token_for, professional):
    token, first = professional
    intruder = token_for()
    assert_problem(api.get("/api/account", token=intruder), 404, "onboarding_required")
    assert_problem(api.patch("/api/account", token=intruder, json_body={"name": "Hacked"}), 404,
                   "onboarding_required")
    assert_problem(api.delete("/api/account", token=intruder, json_body={"confirm": "ana-psi"}), 404,
                   "onboarding_required")
    assert api.post("/api/account", token=intruder, json_body=onboarding_body("intruder")).status == 201
    assert api.patch("/api/account", token=intruder, json_body={"name": "Mallory"}).status == 200
    mine = api.get("/api/account", token=token).json
    assert mine["id"] == first["id"] and mine["name"] == "Ana Souza"
    assert db.scalar("SELECT count(*) FROM professionals") == 2


def test_delete_needs_typed_slug_and_cascades(api, professional):
    token, body = professional
    pid = body["id"]
    client_id = db.scalar("INSERT INTO clients (professional_id, name, phone) VALUES (:p, 'C', '+5511911112222') "
                          "RETURNING id", p=pid)
    assert api.put("/api/availability", token=token, json_body={"windows": [
        {"dayOfWeek": 1, "startTime": "09:00", "endTime": "12:00"}]}).status == 200
    assert_problem(api.delete("/api/account", token=token, json_body={"confirm": "wrong"}), 400,
                   "confirmation_mismatch")
    assert db.scalar("SELECT count(*) FROM professionals") == 1
    result = api.delete("/api/account", token=token, json_body={"confirm": "ana-psi"})
    assert result.status == 204
    assert db.scalar("SELECT count(*) FROM professionals") == 0
    assert db.scalar("SELECT count(*) FROM clients WHERE id = :id", id=client_id) == 0
    assert db.scalar("SELECT count(*) FROM availability") == 0


def test_delete_confirmation_must_match_the_slug_exactly(api, professional):
    token, _ = professional
    for typed in ("ANA-PSI", "Ana-Psi", "ana-psí", "ana-ps"):
        assert_problem(api.delete("/api/account", token=token, json_body={"confirm": typed}), 400,
                       "confirmation_mismatch")
    assert db.scalar("SELECT count(*) FROM professionals") == 1
    assert api.delete("/api/account", token=token, json_body={"confirm": "ana-psi"}).status == 204


def test_path_a_function_does_not_serve_is_a_404_problem():
    from devtools import lambdas

    raw = lambdas.invoke("account", lambdas.http_event("GET", "/api/account/elsewhere"))
    assert raw["statusCode"] == 404
    assert raw["headers"]["Content-Type"] == PROBLEM and '"code":"route_not_found"' in raw["body"]
