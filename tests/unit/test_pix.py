"""Unit tests for odys.pix: BR Code building/parsing, CRC16, PIX key validation, QR SVG."""

from __future__ import annotations

import re

import pytest

from odys.pix import (
    InvalidPixKey,
    InvalidPixPayload,
    PixPayload,
    build_pix_payload,
    crc16,
    new_txid,
    normalize_pix_key,
    parse_pix_payload,
    qr_svg,
)

# Example from Banco Central's "Manual de Padrões para Iniciação do Pix" (static BR Code).
BCB_EXAMPLE = (
    "00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-426655440000"
    "5204000053039865802BR5913Fulano de Tal6008BRASILIA62070503***63041D3D"
)


def split_tlv(data: str) -> list[tuple[str, str]]:
    """Independent TLV splitter: id (2 chars), length (2 chars), value."""
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(data):
        field_id, length = data[pos : pos + 2], int(data[pos + 2 : pos + 4])
        value = data[pos + 4 : pos + 4 + length]
        assert len(value) == length, f"field {field_id} truncated"
        out.append((field_id, value))
        pos += 4 + length
    return out


def reference_crc(data: str) -> str:
    """Table-free CRC16-CCITT-FALSE written independently of odys.pix (MSB-first over an int)."""
    value = 0xFFFF
    for ch in data.encode():
        for i in range(7, -1, -1):
            bit = (ch >> i) & 1
            top = (value >> 15) & 1
            value = (value << 1) & 0xFFFF
            if top ^ bit:
                value ^= 0x1021
    return f"{value:04X}"


# --- CRC ------------------------------------------------------------------------------------


def test_crc16_check_value():
    assert crc16("123456789") == 0x29B1
    assert crc16(b"123456789") == 0x29B1


def test_crc16_matches_reference_and_empty_input():
    assert crc16("") == 0xFFFF
    for text in ["A", "000201", BCB_EXAMPLE[:-4]]:
        assert f"{crc16(text):04X}" == reference_crc(text)


# --- Building -------------------------------------------------------------------------------


def test_build_matches_banco_central_example():
    payload = build_pix_payload("123e4567-e12b-12d1-a456-426655440000", "Fulano de Tal", "BRASILIA")
    assert payload == BCB_EXAMPLE


def test_build_tlv_structure_by_hand():
    payload = build_pix_payload(
        "+5511987654321", "Maria Souza", "Recife", amount_cents=15000, txid="ODYS2024ABC"
    )
    fields = split_tlv(payload)
    assert [fid for fid, _ in fields] == ["00", "26", "52", "53", "54", "58", "59", "60", "62", "63"]
    d = dict(fields)
    assert d["00"] == "01"
    assert split_tlv(d["26"]) == [("00", "br.gov.bcb.pix"), ("01", "+5511987654321")]
    assert d["26"] == "0014br.gov.bcb.pix0114+5511987654321"
    assert d["52"] == "0000"
    assert d["53"] == "986"
    assert d["54"] == "150.00"
    assert d["58"] == "BR"
    assert d["59"] == "Maria Souza"
    assert d["60"] == "Recife"
    assert split_tlv(d["62"]) == [("05", "ODYS2024ABC")]
    # CRC covers everything up to and including "6304", 4 upper-case hex digits.
    assert payload[-8:-4] == "6304"
    assert re.fullmatch(r"[0-9A-F]{4}", d["63"])
    assert d["63"] == reference_crc(payload[:-4])
    # Raw header lengths as 2 digits.
    assert payload.startswith("000201" + "2636" + "0014br.gov.bcb.pix")
    assert "5406150.00" in payload
    assert "62150511ODYS2024ABC" in payload


def test_every_field_length_is_two_digits_and_consistent():
    payload = build_pix_payload("a" * 60 + "@example.com", "N" * 40, "C" * 40, 999, "X" * 25)
    pos = 0
    while pos < len(payload):
        header = payload[pos : pos + 4]
        assert header.isdigit()
        length = int(header[2:])
        assert length <= 99
        pos += 4 + length
    assert pos == len(payload)


def test_amount_omitted_when_none():
    payload = build_pix_payload("52998224725", "Ana")
    assert "54" not in dict(split_tlv(payload))


@pytest.mark.parametrize(
    ("cents", "text"),
    [(15000, "150.00"), (1, "0.01"), (10, "0.10"), (100, "1.00"), (123456, "1234.56"), (99, "0.99")],
)
def test_amount_formatting(cents: int, text: str):
    payload = build_pix_payload("52998224725", "Ana", amount_cents=cents)
    assert dict(split_tlv(payload))["54"] == text
    assert parse_pix_payload(payload).amount_cents == cents


@pytest.mark.parametrize("bad", [0, -1, -15000])
def test_amount_must_be_positive(bad: int):
    with pytest.raises(ValueError):
        build_pix_payload("52998224725", "Ana", amount_cents=bad)


def test_amount_must_be_int():
    with pytest.raises(ValueError):
        build_pix_payload("52998224725", "Ana", amount_cents=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        build_pix_payload("52998224725", "Ana", amount_cents=True)  # type: ignore[arg-type]


def test_accents_folded():
    payload = build_pix_payload("52998224725", "José Conceição Açaí", "São João")
    d = dict(split_tlv(payload))
    assert d["59"] == "Jose Conceicao Acai"
    assert d["60"] == "Sao Joao"
    assert payload.isascii()


def test_name_and_city_truncated():
    name = "Salão de Beleza da Maria Aparecida"  # folded: 34 chars
    city = "São José dos Campos"  # folded: 19 chars
    d = dict(split_tlv(build_pix_payload("52998224725", name, city)))
    assert d["59"] == "Salao de Beleza da Maria"  # first 25 folded chars, trailing space dropped
    assert len(d["59"]) <= 25
    assert d["60"] == "Sao Jose dos Ca"
    assert len(d["60"]) == 15


def test_default_city_is_brasil():
    assert dict(split_tlv(build_pix_payload("52998224725", "Ana")))["60"] == "Brasil"


@pytest.mark.parametrize("name", ["", "   ", "日本"])
def test_empty_name_rejected(name: str):
    with pytest.raises(ValueError):
        build_pix_payload("52998224725", name)


def test_empty_key_rejected():
    with pytest.raises(ValueError):
        build_pix_payload("", "Ana")


@pytest.mark.parametrize("txid", ["", "abc-123", "has space", "X" * 26, "**", "çedilha"])
def test_invalid_txid_rejected(txid: str):
    with pytest.raises(ValueError):
        build_pix_payload("52998224725", "Ana", txid=txid)


@pytest.mark.parametrize("txid", ["***", "A", "X" * 25, "abcXYZ0123"])
def test_valid_txid_accepted(txid: str):
    assert parse_pix_payload(build_pix_payload("52998224725", "Ana", txid=txid)).txid == txid


def test_key_too_long_for_field_26():
    # 00 14 GUI (18 chars) + 01 LL key: key of 77 fits (99), 78 does not.
    ok = "k" * 77
    payload = build_pix_payload(ok, "Ana")
    assert len(dict(split_tlv(payload))["26"]) == 99
    with pytest.raises(ValueError):
        build_pix_payload("k" * 78, "Ana")


# --- Parsing --------------------------------------------------------------------------------


def test_parse_banco_central_example():
    p = parse_pix_payload(BCB_EXAMPLE)
    assert p == PixPayload(
        key="123e4567-e12b-12d1-a456-426655440000",
        name="Fulano de Tal",
        city="BRASILIA",
        amount_cents=None,
        txid="***",
    )
    assert p.fields["53"] == "986"
    assert list(p.fields)[-1] == "63"
    with pytest.raises(Exception):
        p.key = "other"  # type: ignore[misc]  # frozen


@pytest.mark.parametrize(
    ("key_type", "raw"),
    [
        ("cpf", "529.982.247-25"),
        ("cnpj", "11.222.333/0001-81"),
        ("email", "Contato@Salao-Exemplo.com.br"),
        ("phone", "(11) 98765-4321"),
        ("evp", "123E4567-E12B-12D1-A456-426655440000"),
    ],
)
def test_round_trip_each_key_type(key_type, raw: str):
    key = normalize_pix_key(key_type, raw)
    payload = build_pix_payload(key, "Clínica Odontológica São Lucas", "Florianópolis", 4990, "ODYS42")
    p = parse_pix_payload(payload)
    assert p.key == key
    assert p.name == "Clinica Odontologica Sao"  # folded, 25 chars, trailing space stripped
    assert p.city == "Florianopolis"
    assert p.amount_cents == 4990
    assert p.txid == "ODYS42"


def test_round_trip_new_txid():
    txid = new_txid()
    assert parse_pix_payload(build_pix_payload("52998224725", "Ana", txid=txid)).txid == txid


def test_parse_tolerates_surrounding_whitespace():
    assert parse_pix_payload("  " + BCB_EXAMPLE + "\n").txid == "***"


def test_tampered_payload_rejected():
    good = build_pix_payload("52998224725", "Ana Maria", "Recife", 15000)
    i = good.index("Ana Maria")
    tampered = good[:i] + "Ane" + good[i + 3 :]
    assert len(tampered) == len(good) and tampered != good
    with pytest.raises(InvalidPixPayload):
        parse_pix_payload(tampered)
    # Changing the amount is caught too.
    with pytest.raises(InvalidPixPayload):
        parse_pix_payload(good.replace("150.00", "950.00"))


def test_every_single_char_change_detected():
    good = build_pix_payload("52998224725", "Ana", "Recife", 1, "T1")
    for i in range(len(good) - 4):  # body characters (CRC digits are tested separately)
        ch = "Z" if good[i] != "Z" else "Y"
        with pytest.raises(InvalidPixPayload):
            parse_pix_payload(good[:i] + ch + good[i + 1 :])


def test_bad_crc_rejected():
    good = build_pix_payload("52998224725", "Ana")
    crc = good[-4:]
    wrong = f"{(int(crc, 16) + 1) & 0xFFFF:04X}"
    with pytest.raises(InvalidPixPayload, match="CRC"):
        parse_pix_payload(good[:-4] + wrong)


def _with_crc(body_without_crc: str) -> str:
    body = body_without_crc + "6304"
    return body + reference_crc(body)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        # payload format indicator must be 01
        ("000202" + BCB_EXAMPLE[6:-8], "00"),
        # wrong GUI
        ("00020126580014br.gov.bcb.xxx0136123e4567-e12b-12d1-a456-426655440000"
         "5204000053039865802BR5913Fulano de Tal6008BRASILIA62070503***", "GUI"),
        # wrong currency
        ("00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-426655440000"
         "5204000053038405802BR5913Fulano de Tal6008BRASILIA62070503***", "53"),
        # wrong MCC
        ("00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-426655440000"
         "5204123453039865802BR5913Fulano de Tal6008BRASILIA62070503***", "52"),
        # wrong country
        ("00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-426655440000"
         "5204000053039865802US5913Fulano de Tal6008BRASILIA62070503***", "58"),
        # no key in 26
        ("00020126180014br.gov.bcb.pix"
         "5204000053039865802BR5913Fulano de Tal6008BRASILIA62070503***", "key"),
        # no 26 at all
        ("000201" "5204000053039865802BR5913Fulano de Tal6008BRASILIA62070503***", "26"),
        # length overruns the payload (59 says 99 chars)
        ("00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-426655440000"
         "5204000053039865802BR5999Fulano", "59"),
        # zero amount
        ("00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-426655440000"
         "52040000530398654040.005802BR5913Fulano de Tal6008BRASILIA62070503***", "54"),
        # missing txid block
        ("00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-426655440000"
         "5204000053039865802BR5913Fulano de Tal6008BRASILIA", "62"),
    ],
)
def test_structurally_invalid_payloads_rejected(body: str, fragment: str):
    with pytest.raises(InvalidPixPayload, match=re.escape(fragment)):
        parse_pix_payload(_with_crc(body))


def test_crc_field_must_be_last_and_present():
    with pytest.raises(InvalidPixPayload):
        parse_pix_payload(BCB_EXAMPLE[:-8])  # CRC removed
    with pytest.raises(InvalidPixPayload):
        parse_pix_payload("")
    # A field after 63: build it so the trailing 8 chars still look like a CRC block.
    body = BCB_EXAMPLE[:-8] + "63041D3D" + "6304"
    with pytest.raises(InvalidPixPayload):
        parse_pix_payload(body + reference_crc(body))


def test_invalid_payload_is_value_error():
    assert issubclass(InvalidPixPayload, ValueError)
    with pytest.raises(ValueError):
        parse_pix_payload("not a pix code")


# --- PIX keys -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("529.982.247-25", "52998224725"),
        ("52998224725", "52998224725"),
        ("111.444.777-35", "11144477735"),
        (" 111 444 777 35 ", "11144477735"),
    ],
)
def test_cpf_valid(raw: str, expected: str):
    assert normalize_pix_key("cpf", raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "529.982.247-24",  # wrong second check digit
        "529.982.247-15",  # wrong first check digit
        "111.111.111-11",  # all same digits (check digits would pass)
        "000.000.000-00",
        "5299822472",  # 10 digits
        "529982247251",  # 12 digits
        "529.982.247-2a",
        "",
    ],
)
def test_cpf_invalid(raw: str):
    with pytest.raises(InvalidPixKey):
        normalize_pix_key("cpf", raw)


def test_cpf_error_messages_are_helpful():
    with pytest.raises(InvalidPixKey, match="check digits"):
        normalize_pix_key("cpf", "529.982.247-24")
    with pytest.raises(InvalidPixKey, match="11 digits"):
        normalize_pix_key("cpf", "1234")
    with pytest.raises(InvalidPixKey, match="same"):
        normalize_pix_key("cpf", "99999999999")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("11.222.333/0001-81", "11222333000181"),
        ("11222333000181", "11222333000181"),
        ("11.444.777/0001-61", "11444777000161"),
    ],
)
def test_cnpj_valid(raw: str, expected: str):
    assert normalize_pix_key("cnpj", raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["11.222.333/0001-80", "11.222.333/0001-91", "11.111.111/1111-11", "00000000000000", "1122233300018", "abc"],
)
def test_cnpj_invalid(raw: str):
    with pytest.raises(InvalidPixKey):
        normalize_pix_key("cnpj", raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Ana@Example.com", "ana@example.com"),
        ("  joao.silva+pix@clinica.com.br ", "joao.silva+pix@clinica.com.br"),
    ],
)
def test_email_valid(raw: str, expected: str):
    assert normalize_pix_key("email", raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["ana", "ana@", "@example.com", "ana@example", "ana @example.com", "ana@@example.com",
     "ana..b@example.com", "a" * 66 + "@example.com"],  # last one: 78 chars
)
def test_email_invalid(raw: str):
    with pytest.raises(InvalidPixKey):
        normalize_pix_key("email", raw)


def test_email_length_limit():
    local = "a" * (77 - len("@example.com"))
    assert normalize_pix_key("email", local + "@example.com") == local + "@example.com"
    with pytest.raises(InvalidPixKey, match="77"):
        normalize_pix_key("email", "a" + local + "@example.com")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+5511987654321", "+5511987654321"),
        ("+55 (11) 98765-4321", "+5511987654321"),
        ("5511987654321", "+5511987654321"),
        ("(11) 98765-4321", "+5511987654321"),
        ("11 98765 4321", "+5511987654321"),
        ("+55 21 3456-7890", "+552134567890"),  # 8-digit number
        ("(55) 3222-1234", "+555532221234"),  # DDD 55 without country code
    ],
)
def test_phone_normalisation(raw: str, expected: str):
    assert normalize_pix_key("phone", raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "+1 415 555 2671",  # not Brazil
        "+55 11 9876-543",  # too short (7-digit number)
        "+55 11 987654-3210",  # too long
        "+55 10 98765-4321",  # DDD 10 does not exist
        "+55 11 88765-4321",  # 9-digit number not starting with 9
        "+55 11 9876a-4321",
        "98765-4321",  # no DDD
        "",
    ],
)
def test_phone_invalid(raw: str):
    with pytest.raises(InvalidPixKey):
        normalize_pix_key("phone", raw)


def test_phone_error_messages_are_helpful():
    with pytest.raises(InvalidPixKey, match=r"\+55"):
        normalize_pix_key("phone", "+1 415 555 2671")
    with pytest.raises(InvalidPixKey, match="DDD"):
        normalize_pix_key("phone", "98765-4321")
    with pytest.raises(InvalidPixKey, match="10"):
        normalize_pix_key("phone", "+55 10 98765-4321")


@pytest.mark.parametrize(
    "raw",
    [
        "123e4567-e89b-12d3-a456-426614174000",
        "123E4567-E89B-12D3-A456-426614174000",
        "123e4567e89b12d3a456426614174000",
        "  123E4567-e89b-12d3-A456-426614174000 ",
    ],
)
def test_evp_normalised(raw: str):
    assert normalize_pix_key("evp", raw) == "123e4567-e89b-12d3-a456-426614174000"


@pytest.mark.parametrize(
    "raw", ["123e4567-e89b-12d3-a456-42661417400", "123e4567-e89b-12d3-a456-42661417400g", "not-a-uuid", ""]
)
def test_evp_invalid(raw: str):
    with pytest.raises(InvalidPixKey):
        normalize_pix_key("evp", raw)


def test_unknown_key_type_and_error_hierarchy():
    assert issubclass(InvalidPixKey, ValueError)
    with pytest.raises(InvalidPixKey, match="cpf"):
        normalize_pix_key("iban", "x")  # type: ignore[arg-type]


# --- txid and QR ----------------------------------------------------------------------------


def test_new_txid_is_25_alnum_and_unique():
    txids = {new_txid() for _ in range(500)}
    assert len(txids) == 500
    for txid in txids:
        assert len(txid) == 25
        assert re.fullmatch(r"[A-Za-z0-9]{25}", txid)


def test_qr_svg_returns_svg():
    svg = qr_svg(BCB_EXAMPLE)
    assert isinstance(svg, str)
    assert svg.lstrip().startswith("<svg")
    assert svg.rstrip().endswith("</svg>")
    assert "<?xml" not in svg


def test_import_does_not_load_segno():
    import os
    import subprocess
    import sys

    code = "import sys, odys.pix; print('segno' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "False"
