"""GET /api/appointments/{id}/pix: the appointment's BR Code for its professional or its client, nobody else.

Appointments are inserted with SQL (clients, then appointments): their routes belong to another module.
"""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from conftest import onboarding_body

from odys import appointment_pix, db
from odys.pix import parse_pix_payload

PROBLEM = "application/problem+json"
_slot = iter(range(1, 10_000))


def assert_problem(result, status: int, code: str) -> dict:
    assert result.status == status, result.body
    assert result.content_type == PROBLEM and result.json["code"] == code
    return result.json


def onboard(api, token_for, slug: str, **overrides) -> tuple[str, str]:
    token = token_for()
    result = api.post("/api/account", token=token, json_body=onboarding_body(slug, **overrides))
    assert result.status == 201, result.body
    return token, result.json["id"]


def set_pix_key(api, token: str, key_type: str = "cpf", key: str = "529.982.247-25") -> None:
    assert api.patch("/api/account", token=token, json_body={"pixKeyType": key_type, "pixKey": key}).status == 200


def appointment(professional_id: str, *, price: int = 15000, client_user: str | None = None,
                phone: str | None = None) -> str:
    """A client (optionally linked to a user) and one of their appointments, inserted directly."""
    n = next(_slot)
    phone = phone or f"+55119{n:08d}"
    client_id = db.scalar("INSERT INTO clients (professional_id, name, phone, user_id) VALUES (:p, 'Bruno Lima', "
                          ":phone, :uid) ON CONFLICT (professional_id, phone) DO UPDATE SET name = EXCLUDED.name "
                          "RETURNING id", p=professional_id, phone=phone, uid=client_user)
    starts = dt.datetime(2030, 1, 1, 9, tzinfo=dt.timezone.utc) + dt.timedelta(hours=2 * n)
    return str(db.scalar("INSERT INTO appointments (professional_id, client_id, starts_at, ends_at, status, price) "
                         "VALUES (:p, :c, :s, :e, 'confirmed', :price) RETURNING id", p=professional_id, c=client_id,
                         s=starts, e=starts + dt.timedelta(minutes=50), price=price))


@pytest.fixture
def pro(api, token_for):
    token, pid = onboard(api, token_for, "ana-psi", name="Ana Conceição Souza", city="São José dos Campos")
    set_pix_key(api, token)
    return token, pid


def test_professional_gets_a_valid_br_code_with_amount_and_stable_unique_txid(api, pro):
    token, pid = pro
    first_id, second_id = appointment(pid, price=15000), appointment(pid, price=9990)

    result = api.get(f"/api/appointments/{first_id}/pix", token=token)
    assert result.status == 200, result.body
    assert result.headers.get("Cache-Control") == "private, no-store"
    body = result.json
    parsed = parse_pix_payload(body["payload"])  # structure, TLV lengths and CRC16 verified
    assert parsed.key == "52998224725" and parsed.amount_cents == 15000 == body["amountCents"]
    assert parsed.name == "Ana Conceicao Souza" and parsed.city == "Sao Jose dos Ca"  # ASCII, <= 25 / 15 chars
    assert parsed.txid == body["txid"] and len(body["txid"]) == 25 and body["txid"].isalnum()
    assert body["qrSvg"].startswith("<svg") and body["appointmentId"] == first_id
    assert db.scalar("SELECT pix_txid FROM appointments WHERE id = :id", id=first_id) == body["txid"]

    again = api.get(f"/api/appointments/{first_id}/pix", token=token).json
    assert again["txid"] == body["txid"] and again["payload"] == body["payload"]

    other = api.get(f"/api/appointments/{second_id}/pix", token=token).json
    assert other["txid"] != body["txid"] and parse_pix_payload(other["payload"]).amount_cents == 9990


def test_the_appointments_client_user_can_fetch_it(api, token_for, pro):
    token, pid = pro
    client_sub = str(uuid.uuid4())
    appointment_id = appointment(pid, client_user=client_sub)
    as_client = api.get(f"/api/appointments/{appointment_id}/pix", token=token_for(client_sub))
    assert as_client.status == 200, as_client.body
    as_professional = api.get(f"/api/appointments/{appointment_id}/pix", token=token)
    assert as_client.json["txid"] == as_professional.json["txid"]
    assert parse_pix_payload(as_client.json["payload"]).amount_cents == 15000


def test_other_professionals_clients_and_strangers_get_404(api, token_for, pro):
    _, pid = pro
    appointment_id = appointment(pid, client_user=str(uuid.uuid4()))
    other_token, other_pid = onboard(api, token_for, "bia-nutri", phone="+5521987654321")
    set_pix_key(api, other_token, "email", "bia@example.com")
    appointment(other_pid, client_user=str(uuid.uuid4()))
    for token in (other_token, token_for(str(uuid.uuid4()))):
        assert_problem(api.get(f"/api/appointments/{appointment_id}/pix", token=token), 404, "not_found")
    token, _ = pro
    assert_problem(api.get(f"/api/appointments/{uuid.uuid4()}/pix", token=token), 404, "not_found")
    assert_problem(api.get("/api/appointments/not-a-uuid/pix", token=token), 404, "not_found")
    assert db.scalar("SELECT count(*) FROM appointments WHERE pix_txid IS NOT NULL") == 0


def test_missing_token_is_401(api, pro):
    _, pid = pro
    assert_problem(api.get(f"/api/appointments/{appointment(pid)}/pix"), 401, "missing_token")


def test_professional_without_pix_key_is_409(api, token_for):
    token, pid = onboard(api, token_for, "sem-pix")
    assert_problem(api.get(f"/api/appointments/{appointment(pid)}/pix", token=token), 409, "pix_key_missing")


def test_free_appointment_gets_a_code_without_amount(api, pro):
    token, pid = pro
    result = api.get(f"/api/appointments/{appointment(pid, price=0)}/pix", token=token)
    assert result.status == 200, result.body
    assert result.json["amountCents"] is None
    parsed = parse_pix_payload(result.json["payload"])
    assert parsed.amount_cents is None and "54" not in parsed.fields


def test_city_defaults_to_brasil_and_unprintable_names_fall_back_to_slug(api, token_for):
    token, pid = onboard(api, token_for, "li-wei", name="李伟")
    set_pix_key(api, token, "evp", "123e4567-e89b-12d3-a456-426614174000")
    parsed = parse_pix_payload(api.get(f"/api/appointments/{appointment(pid)}/pix", token=token).json["payload"])
    assert parsed.name == "li-wei" and parsed.city == "Brasil"
    assert parsed.key == "123e4567-e89b-12d3-a456-426614174000"


def test_br_code_from_any_row_falls_back_when_name_or_city_has_no_ascii():
    """The one builder of a professional's code (the booking's code must use it too: "李伟" is a valid name)."""
    row = {"pix_key": "52998224725", "professional_name": "李伟", "slug": "li-wei", "city": "東京"}
    code = appointment_pix.br_code(row, "ODYS1", 15000)
    parsed = parse_pix_payload(code["payload"])
    assert (parsed.name, parsed.city, parsed.amount_cents, parsed.txid) == ("li-wei", "Brasil", 15000, "ODYS1")
    assert code["txid"] == "ODYS1" and code["amountCents"] == 15000 and code["qrSvg"].startswith("<svg")
