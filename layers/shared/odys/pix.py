"""PIX: static BR Codes (EMV QR "copia e cola"), their parser, and PIX key validation.

Follows Banco Central's "Manual de Padrões para Iniciação do Pix". Pure functions: no HTTP, no DB::

    >>> payload = build_pix_payload("+5511987654321", "José da Silva", "São Paulo",
    ...                             amount_cents=15000, txid="ODYS123")
    >>> payload[:4], payload[-8:-4]
    ('0002', '6304')
    >>> p = parse_pix_payload(payload)
    >>> p.key, p.name, p.city, p.amount_cents, p.txid
    ('+5511987654321', 'Jose da Silva', 'Sao Paulo', 15000, 'ODYS123')

    >>> normalize_pix_key("cpf", "529.982.247-25")
    '52998224725'
    >>> normalize_pix_key("phone", "(11) 98765-4321")
    '+5511987654321'

A BR Code is a sequence of TLV fields: a 2-digit id, a 2-digit length and the value, e.g.
``000201`` is field 00 with the 2-character value ``01``. Field 63 (CRC16) is always last.
"""

from __future__ import annotations

import io
import re
import unicodedata
import uuid
from dataclasses import dataclass, field
from typing import Literal, get_args

__all__ = [
    "GUI",
    "InvalidPixKey",
    "InvalidPixPayload",
    "PixKeyType",
    "PixPayload",
    "build_pix_payload",
    "crc16",
    "fold_ascii",
    "new_txid",
    "normalize_pix_key",
    "parse_pix_payload",
    "qr_svg",
]

GUI = "br.gov.bcb.pix"
"""Globally Unique Identifier of the PIX arrangement (sub-field 00 of field 26)."""

NAME_MAX = 25
CITY_MAX = 15
TXID_MAX = 25
AMOUNT_MAX_LEN = 13  # field 54 is at most 13 characters, e.g. "9999999999.99"
EMAIL_MAX = 77

_TXID_RE = re.compile(r"[A-Za-z0-9]{1,25}")
_AMOUNT_RE = re.compile(r"\d+(?:\.\d{1,2})?")
_PRINTABLE_RE = re.compile(r"[\x20-\x7e]+")

# ---------------------------------------------------------------------------------------------
# Errors


class InvalidPixPayload(ValueError):
    """The text is not a valid static PIX BR Code (structure, mandatory fields or CRC)."""


class InvalidPixKey(ValueError):
    """A PIX key that cannot be saved; the message says what is wrong."""


# ---------------------------------------------------------------------------------------------
# Helpers


def crc16(data: str | bytes) -> int:
    """CRC16-CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, xorout 0).

    >>> hex(crc16("123456789"))
    '0x29b1'
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc


def fold_ascii(text: str) -> str:
    """Strip accents (NFKD), drop non-printable/non-ASCII characters, collapse whitespace.

    >>> fold_ascii("  Conceição   do Araguaia ")
    'Conceicao do Araguaia'
    """
    decomposed = unicodedata.normalize("NFKD", text)
    ascii_only = decomposed.encode("ascii", "ignore").decode("ascii")
    printable = "".join(ch if ch.isprintable() else " " for ch in ascii_only)
    return " ".join(printable.split())


def _tlv(field_id: str, value: str) -> str:
    if len(value) > 99:
        raise ValueError(f"PIX field {field_id} is {len(value)} characters long; the maximum is 99.")
    return f"{field_id}{len(value):02d}{value}"


def _format_amount(amount_cents: int) -> str:
    return f"{amount_cents // 100}.{amount_cents % 100:02d}"


def _parse_tlvs(data: str, where: str) -> dict[str, str]:
    """Split ``data`` into TLV fields; raise InvalidPixPayload on any inconsistency."""
    fields: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        header = data[pos : pos + 4]
        if len(header) < 4 or not header.isdigit() or not header.isascii():
            raise InvalidPixPayload(f"{where}: malformed field header {header!r} at position {pos}.")
        field_id, length = header[:2], int(header[2:])
        value = data[pos + 4 : pos + 4 + length]
        if len(value) != length:
            raise InvalidPixPayload(
                f"{where}: field {field_id} declares {length} characters but only {len(value)} remain."
            )
        if field_id in fields:
            raise InvalidPixPayload(f"{where}: field {field_id} appears more than once.")
        fields[field_id] = value
        pos += 4 + length
    return fields


# ---------------------------------------------------------------------------------------------
# Building


def build_pix_payload(
    key: str,
    name: str,
    city: str = "Brasil",
    amount_cents: int | None = None,
    txid: str = "***",
) -> str:
    """Return a static PIX BR Code ("copia e cola") for ``key``.

    ``name`` and ``city`` are ASCII-folded and truncated to 25 and 15 characters; ``amount_cents``
    (optional, > 0) becomes field 54 as ``"150.00"``; ``txid`` is 1-25 letters/digits or ``"***"``.
    The key is used as given: normalise it with :func:`normalize_pix_key` first.

    >>> build_pix_payload("52998224725", "Ana", "Recife", 1, "A1")
    '00020126330014br.gov.bcb.pix01115299822472552040000530398654040.015802BR5903Ana6006Recife62060502A163046422'
    """
    if not isinstance(key, str) or not key:
        raise ValueError("The PIX key is empty.")
    if not _PRINTABLE_RE.fullmatch(key) or key != key.strip():
        raise ValueError("The PIX key must be printable ASCII without surrounding spaces; normalise it first.")
    merchant_account = _tlv("00", GUI) + _tlv("01", key)
    if len(merchant_account) > 99:
        raise ValueError(f"The PIX key is too long ({len(key)} characters) to fit in a BR Code.")

    folded_name = fold_ascii(name or "")[:NAME_MAX].rstrip()
    if not folded_name:
        raise ValueError("The merchant name is empty (after removing accents and symbols).")
    folded_city = fold_ascii(city or "")[:CITY_MAX].rstrip()
    if not folded_city:
        raise ValueError("The merchant city is empty (after removing accents and symbols).")

    if txid != "***" and not _TXID_RE.fullmatch(txid or ""):
        raise ValueError(f"Invalid txid {txid!r}: use 1-{TXID_MAX} letters/digits or '***'.")

    amount = ""
    if amount_cents is not None:
        if isinstance(amount_cents, bool) or not isinstance(amount_cents, int):
            raise ValueError("amount_cents must be an integer number of cents.")
        if amount_cents <= 0:
            raise ValueError("amount_cents must be greater than zero.")
        amount = _format_amount(amount_cents)
        if len(amount) > AMOUNT_MAX_LEN:
            raise ValueError(f"amount_cents is too large for a BR Code (max {AMOUNT_MAX_LEN} characters).")

    body = (
        _tlv("00", "01")
        + _tlv("26", merchant_account)
        + _tlv("52", "0000")
        + _tlv("53", "986")
        + (_tlv("54", amount) if amount else "")
        + _tlv("58", "BR")
        + _tlv("59", folded_name)
        + _tlv("60", folded_city)
        + _tlv("62", _tlv("05", txid))
        + "6304"
    )
    return body + f"{crc16(body):04X}"


# ---------------------------------------------------------------------------------------------
# Parsing


@dataclass(frozen=True)
class PixPayload:
    """A decoded static BR Code. ``fields`` holds the raw top-level TLVs by id (``"00"``…``"63"``)."""

    key: str
    name: str
    city: str
    amount_cents: int | None
    txid: str
    fields: dict[str, str] = field(default_factory=dict, compare=False)


def parse_pix_payload(payload: str) -> PixPayload:
    """Decode and verify a static PIX BR Code; raise :class:`InvalidPixPayload` if anything is off.

    Checks: TLV lengths, field 63 last with a matching CRC16, 00 = ``01``, 26 with GUI
    ``br.gov.bcb.pix`` and a key (sub 01), 52 = ``0000``, 53 = ``986``, 58 = ``BR``, a name (59),
    a city (60), an optional positive amount (54) and a txid (62/05).

    >>> try:
    ...     parse_pix_payload("000201")
    ... except InvalidPixPayload as exc:
    ...     print(exc)
    The BR Code must end with the CRC field 63 (6304XXXX).
    """
    if not isinstance(payload, str):
        raise InvalidPixPayload("The BR Code must be a string.")
    payload = payload.strip()
    if len(payload) < 8 or payload[-8:-4] != "6304":
        raise InvalidPixPayload("The BR Code must end with the CRC field 63 (6304XXXX).")
    expected_crc = f"{crc16(payload[:-4]):04X}"
    if payload[-4:].upper() != expected_crc:
        raise InvalidPixPayload(
            f"CRC mismatch: the BR Code says {payload[-4:]!r} but its content gives {expected_crc!r}"
            " (the code was altered or copied incompletely)."
        )

    fields = _parse_tlvs(payload, "BR Code")
    ids = list(fields)
    if ids[-1] != "63":  # e.g. a field whose length swallowed the "6304" marker
        raise InvalidPixPayload("Field 63 (CRC) must be the last field.")
    if ids[0] != "00" or fields["00"] != "01":
        raise InvalidPixPayload("Field 00 (payload format indicator) must come first and be '01'.")
    if "01" in fields and fields["01"] not in ("11", "12"):
        raise InvalidPixPayload("Field 01 (point of initiation method) must be '11' or '12'.")

    for field_id, expected, label in (("52", "0000", "merchant category code"),
                                      ("53", "986", "currency (BRL)"),
                                      ("58", "BR", "country code")):
        if fields.get(field_id) != expected:
            raise InvalidPixPayload(f"Field {field_id} ({label}) must be {expected!r}, got {fields.get(field_id)!r}.")

    if "26" not in fields:
        raise InvalidPixPayload("Field 26 (merchant account information) is missing.")
    account = _parse_tlvs(fields["26"], "Field 26")
    if account.get("00", "").lower() != GUI:
        raise InvalidPixPayload(f"Field 26 must contain the GUI {GUI!r}.")
    key = account.get("01", "")
    if not key:
        raise InvalidPixPayload("Field 26 has no PIX key (sub-field 01); dynamic (URL) codes are not supported.")

    name, city = fields.get("59", ""), fields.get("60", "")
    if not name or len(name) > NAME_MAX:
        raise InvalidPixPayload(f"Field 59 (merchant name) must have 1-{NAME_MAX} characters.")
    if not city or len(city) > CITY_MAX:
        raise InvalidPixPayload(f"Field 60 (merchant city) must have 1-{CITY_MAX} characters.")

    amount_cents: int | None = None
    if "54" in fields:
        raw = fields["54"]
        if len(raw) > AMOUNT_MAX_LEN or not _AMOUNT_RE.fullmatch(raw):
            raise InvalidPixPayload(f"Field 54 (amount) {raw!r} is not a decimal like '150.00'.")
        whole, _, frac = raw.partition(".")
        amount_cents = int(whole) * 100 + int(frac.ljust(2, "0") or 0)
        if amount_cents <= 0:
            raise InvalidPixPayload("Field 54 (amount) must be greater than zero.")

    if "62" not in fields:
        raise InvalidPixPayload("Field 62 (additional data with the txid) is missing.")
    txid = _parse_tlvs(fields["62"], "Field 62").get("05", "")
    if not txid or len(txid) > TXID_MAX:
        raise InvalidPixPayload(f"Field 62 must contain a txid (sub-field 05) of 1-{TXID_MAX} characters.")

    return PixPayload(key=key, name=name, city=city, amount_cents=amount_cents, txid=txid, fields=fields)


# ---------------------------------------------------------------------------------------------
# PIX keys

PixKeyType = Literal["cpf", "cnpj", "email", "phone", "evp"]
PIX_KEY_TYPES: tuple[str, ...] = get_args(PixKeyType)

_EMAIL_RE = re.compile(
    r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}"
)
_UUID_RE = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}")
_DOC_PUNCT_RE = re.compile(r"[.\-/\s]")
_PHONE_PUNCT_RE = re.compile(r"[\s\-().]")
# Area codes (DDD) in use in Brazil.
_DDDS = frozenset(
    {11, 12, 13, 14, 15, 16, 17, 18, 19, 21, 22, 24, 27, 28, 31, 32, 33, 34, 35, 37, 38,
     41, 42, 43, 44, 45, 46, 47, 48, 49, 51, 53, 54, 55, 61, 62, 63, 64, 65, 66, 67, 68, 69,
     71, 73, 74, 75, 77, 79, 81, 82, 83, 84, 85, 86, 87, 88, 89, 91, 92, 93, 94, 95, 96, 97, 98, 99}
)


def _check_digit(digits: str, weights: list[int]) -> int:
    rest = sum(int(d) * w for d, w in zip(digits, weights)) % 11
    return 0 if rest < 2 else 11 - rest


def _digits_only(value: str, label: str, size: int) -> str:
    digits = _DOC_PUNCT_RE.sub("", value)
    if not (digits.isascii() and digits.isdigit()) or len(digits) != size:
        raise InvalidPixKey(f"A {label} must have {size} digits (dots, dashes and slashes are allowed).")
    if len(set(digits)) == 1:
        raise InvalidPixKey(f"{digits} is not a valid {label}: all digits are the same.")
    return digits


def _normalize_cpf(value: str) -> str:
    cpf = _digits_only(value, "CPF", 11)
    d1 = _check_digit(cpf[:9], list(range(10, 1, -1)))
    d2 = _check_digit(cpf[:9] + str(d1), list(range(11, 1, -1)))
    if cpf[9:] != f"{d1}{d2}":
        raise InvalidPixKey("This CPF is invalid: its check digits do not match. Please check the number.")
    return cpf


def _normalize_cnpj(value: str) -> str:
    cnpj = _digits_only(value, "CNPJ", 14)
    w1 = [5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]
    d1 = _check_digit(cnpj[:12], w1)
    d2 = _check_digit(cnpj[:12] + str(d1), [6, *w1])
    if cnpj[12:] != f"{d1}{d2}":
        raise InvalidPixKey("This CNPJ is invalid: its check digits do not match. Please check the number.")
    return cnpj


def _normalize_email(value: str) -> str:
    email = value.strip().lower()
    if len(email) > EMAIL_MAX:
        raise InvalidPixKey(f"An e-mail PIX key can have at most {EMAIL_MAX} characters.")
    if not _EMAIL_RE.fullmatch(email):
        raise InvalidPixKey("This e-mail address is not valid (expected something like name@example.com).")
    return email


def _normalize_phone(value: str) -> str:
    raw = _PHONE_PUNCT_RE.sub("", value)
    has_plus = raw.startswith("+")
    digits = raw[1:] if has_plus else raw
    if not (digits.isascii() and digits.isdigit()):
        raise InvalidPixKey("A phone number may contain only digits, spaces, dashes, parentheses and a leading '+'.")
    if not has_plus and len(digits) in (10, 11):  # DDD + number, country code omitted
        digits = "55" + digits
    if has_plus and not digits.startswith("55"):
        raise InvalidPixKey("Only Brazilian phone numbers (+55) can be PIX keys.")
    if len(digits) not in (12, 13) or not digits.startswith("55"):
        raise InvalidPixKey("A phone PIX key is +55, a 2-digit area code (DDD) and an 8- or 9-digit number.")
    ddd, number = int(digits[2:4]), digits[4:]
    if ddd not in _DDDS:
        raise InvalidPixKey(f"{ddd:02d} is not a Brazilian area code (DDD).")
    if len(number) == 9 and number[0] != "9":
        raise InvalidPixKey("A 9-digit mobile number must start with 9.")
    if len(number) == 8 and number[0] in "01":
        raise InvalidPixKey("An 8-digit phone number cannot start with 0 or 1.")
    return "+" + digits


def _normalize_evp(value: str) -> str:
    candidate = value.strip().lower()
    if not _UUID_RE.fullmatch(candidate):
        raise InvalidPixKey(
            "A random PIX key (EVP) is a UUID like 123e4567-e89b-12d3-a456-426614174000."
        )
    return str(uuid.UUID(candidate))


_NORMALIZERS = {
    "cpf": _normalize_cpf,
    "cnpj": _normalize_cnpj,
    "email": _normalize_email,
    "phone": _normalize_phone,
    "evp": _normalize_evp,
}


def normalize_pix_key(key_type: PixKeyType, key: str) -> str:
    """Validate a PIX key and return its canonical form; raise :class:`InvalidPixKey` otherwise.

    >>> normalize_pix_key("cnpj", "11.222.333/0001-81")
    '11222333000181'
    >>> normalize_pix_key("email", " Ana@Example.COM ")
    'ana@example.com'
    >>> normalize_pix_key("evp", "123E4567E89B12D3A456426614174000")
    '123e4567-e89b-12d3-a456-426614174000'
    >>> try:
    ...     normalize_pix_key("cpf", "111.111.111-11")
    ... except InvalidPixKey as exc:
    ...     print(exc)
    11111111111 is not a valid CPF: all digits are the same.
    """
    normalizer = _NORMALIZERS.get(key_type)
    if normalizer is None:
        raise InvalidPixKey(f"Unknown PIX key type {key_type!r}; use one of {', '.join(PIX_KEY_TYPES)}.")
    if not isinstance(key, str) or not key.strip():
        raise InvalidPixKey("The PIX key is empty.")
    return normalizer(key)


# ---------------------------------------------------------------------------------------------
# txid and QR


def new_txid() -> str:
    """A unique 25-character alphanumeric txid (from uuid4), e.g. ``'3F2A9C1B7E4D4A0B8C6E1D2F3'``."""
    return uuid.uuid4().hex[:TXID_MAX].upper()


QR_MASK = 0  # every mask pattern is a valid QR code (readers take it from the format bits); see qr_svg


def qr_svg(payload: str) -> str:
    """Render ``payload`` as an SVG QR code (error correction M, mask :data:`QR_MASK`). Needs ``segno`` (imported
    lazily). A fixed mask skips segno's search scoring all 8 masks in Python, which is ~80% of the rendering
    (``python -m benchmarks.qr``).

    >>> qr_svg(build_pix_payload("52998224725", "Ana")).startswith("<svg")
    True
    """
    import segno  # lazy: keeps `import odys.pix` cheap

    qr = segno.make(payload, error="m", micro=False, mask=QR_MASK)
    buffer = io.BytesIO()
    qr.save(buffer, kind="svg", scale=4, border=2, xmldecl=False)
    return buffer.getvalue().decode("utf-8")
