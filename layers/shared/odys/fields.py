"""Request field types shared by every route: camelCase JSON, strict, with messages a user can act on.

    class ClientIn(ApiModel):
        name: Name
        phone: Phone          # "+55 (11) 99999-0000" or "11999990000" -> "+5511999990000"
        email: Email | None = None

    class Move(ApiModel):
        starts_at: Instant    # "2026-12-01T09:00:00-03:00" -> datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
        timezone: TimeZone    # "America/Sao_Paulo"; not "Factory", "posixrules", "right/UTC", "US/Eastern"
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema, field_validator
from pydantic.alias_generators import to_camel

from odys.errors import ValidationFailed


class ApiModel(BaseModel):
    """Base of request bodies: camelCase keys (snake_case accepted too), unknown keys rejected, no NUL characters
    in any text (PostgreSQL cannot store them: they would otherwise fail deep in a query).

    Validators are built on a model's first use (``defer_build``): building one costs ~1–2 ms, and a function's
    modules define models its cold request never validates (``booking`` imports the manage link's and the slot
    query's). Under SnapStart, :func:`build_validators` builds them all before the snapshot instead."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid",
                              str_strip_whitespace=True, defer_build=True)

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul_characters(cls, value: Any) -> Any:
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("must not contain NUL (\\u0000) characters")
        return value


def build_validators() -> list[type[ApiModel]]:
    """Build the validator of every :class:`ApiModel` defined so far that has not been used yet: the models whose
    ``defer_build`` would otherwise leave the work to a request (``odys.snapstart`` calls it before the snapshot).

    >>> class Ping(ApiModel):
    ...     at: str
    >>> Ping in build_validators(), Ping.__pydantic_complete__, build_validators().count(Ping)
    (True, True, 0)
    """
    built, pending = [], list(ApiModel.__subclasses__())
    while pending:
        model = pending.pop()
        pending.extend(model.__subclasses__())
        if not model.__pydantic_complete__:
            model.model_rebuild()
            built.append(model)
    return built


def reject_nulls(changes: dict[str, Any], not_null: frozenset[str]) -> None:
    """422 ``null_not_allowed`` naming (camelCase) each field of ``not_null`` that a PATCH body set to null.

    >>> reject_nulls({"session_price": None, "bio": None}, frozenset({"session_price"}))
    Traceback (most recent call last):
    odys.errors.ValidationFailed: Some fields cannot be null.
    """
    nulls = sorted(k for k, v in changes.items() if v is None and k in not_null)
    if nulls:
        raise ValidationFailed("Some fields cannot be null.", errors=[
            {"field": to_camel(name), "message": "may not be null", "code": "null_not_allowed"} for name in nulls])


def normalize_phone(value: str, default_country: str = "55") -> str:
    """E.164: digits with a leading ``+``; a Brazilian number without country code gets ``+55``."""
    if not isinstance(value, str):
        raise ValueError("phone must be a string")
    has_plus = value.strip().startswith("+")
    digits = re.sub(r"[\s().-]", "", value.strip().lstrip("+"))
    if not digits.isdigit():
        raise ValueError("phone may contain only digits, spaces, parentheses, dashes and a leading +")
    if not has_plus and len(digits) in (10, 11):  # Brazilian DDD + number
        digits = default_country + digits
    if not 8 <= len(digits) <= 15 or digits[0] == "0":
        raise ValueError("phone must be a full number with country code, e.g. +5511999990000")
    if digits.startswith("55") and len(digits) not in (12, 13):
        raise ValueError("a Brazilian phone needs the 2-digit DDD and 8 or 9 digits, e.g. +5511999990000")
    return "+" + digits


def phone_variants(wa_id: str) -> list[str]:
    """The E.164 numbers a WhatsApp id may be stored as: itself and, for Brazilian mobiles, the form with / without
    the 9th digit (old accounts keep the 8-digit form as their WhatsApp id).

    >>> phone_variants("551187654321"), phone_variants("5511987654321"), phone_variants("551133334444")
    (['+551187654321', '+5511987654321'], ['+5511987654321', '+551187654321'], ['+551133334444'])
    """
    variants = ["+" + wa_id]
    if wa_id.startswith("55"):
        ddd, rest = wa_id[2:4], wa_id[4:]
        if len(rest) == 8 and rest[0] in "6789":
            variants.append(f"+55{ddd}9{rest}")
        elif len(rest) == 9 and rest[0] == "9" and rest[1] in "6789":
            variants.append(f"+55{ddd}{rest[1:]}")
    return variants


def _email(value: str) -> str:
    value = value.strip().lower()
    if len(value) > 254 or not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value):
        raise ValueError("not a valid e-mail address")
    return value


# IANA region zones: Area/Location[/Sublocation]. Leaves out what zoneinfo also finds on disk but is no place's
# zone or means something else to PostgreSQL: "Factory", "posixrules", "localtime", "right/…" (leap seconds: 27 s
# off PostgreSQL's view), "posix/…", "Etc/GMT+3" (inverted sign), "US/…", "EST5EDT", "GB".
_REGION_ZONE = re.compile(r"(Africa|America|Antarctica|Arctic|Asia|Atlantic|Australia|Europe|Indian|Pacific)"
                          r"(/[A-Z][A-Za-z0-9_+-]*){1,2}")


def _timezone(value: str) -> str:
    """An IANA region time zone (``America/Sao_Paulo``) that zoneinfo can load.

    >>> _timezone("America/Argentina/Buenos_Aires")
    'America/Argentina/Buenos_Aires'
    >>> _timezone("right/UTC")
    Traceback (most recent call last):
    ValueError: not an IANA region time zone, e.g. America/Sao_Paulo
    """
    try:
        if not isinstance(value, str) or not _REGION_ZONE.fullmatch(value):
            raise ValueError
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, TypeError, OSError):
        raise ValueError("not an IANA region time zone, e.g. America/Sao_Paulo") from None
    return value


INSTANT_FIRST_YEAR = 2000
INSTANT_LAST_YEAR = 2100
_INSTANT_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})")
_UTC = dt.timezone.utc


def _instant(value: object) -> dt.datetime:
    """An ISO 8601 date-time string **with** an offset (``Z`` or ``±HH:MM``) in the years INSTANT_FIRST_YEAR to
    INSTANT_LAST_YEAR (UTC), returned in UTC. No Unix numbers, no naive times, no year 1900 or 9998: nothing an
    agenda means. (A timezone-aware ``datetime`` from Python code is checked the same way.)

    >>> _instant("2026-12-01T09:00:00-03:00")
    datetime.datetime(2026, 12, 1, 12, 0, tzinfo=datetime.timezone.utc)
    >>> _instant(1764590400)
    Traceback (most recent call last):
    ValueError: must be an ISO 8601 date-time with offset, e.g. 2026-12-01T12:00:00Z
    """
    if isinstance(value, dt.datetime):
        parsed = value
    elif isinstance(value, str) and _INSTANT_RE.fullmatch(value):
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            raise ValueError("not a valid date-time") from None
    else:
        raise ValueError("must be an ISO 8601 date-time with offset, e.g. 2026-12-01T12:00:00Z")
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValueError("needs a UTC offset, e.g. 2026-12-01T12:00:00Z")
    if not dt.datetime(INSTANT_FIRST_YEAR, 1, 1, tzinfo=_UTC) <= parsed < dt.datetime(INSTANT_LAST_YEAR + 1, 1, 1,
                                                                                         tzinfo=_UTC):
        raise ValueError(f"must be between the years {INSTANT_FIRST_YEAR} and {INSTANT_LAST_YEAR}")
    return parsed.astimezone(_UTC)


RESERVED_SLUGS = frozenset({"api", "admin", "app", "login", "signup", "dashboard", "settings", "booking", "odys",
                            "www", "help", "support", "static"})


def _slug(value: str) -> str:
    value = value.strip().lower()
    if not re.fullmatch(r"[a-z0-9-]{3,40}", value) or value.startswith("-") or value.endswith("-"):
        raise ValueError("3 to 40 characters: lower-case letters, digits and dashes (not at the ends)")
    if value in RESERVED_SLUGS:
        raise ValueError("this address is reserved; choose another")
    return value


def _hhmm(value: object) -> dt.time:
    if isinstance(value, dt.time):
        return value
    if not isinstance(value, str) or not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
        raise ValueError("time must be HH:MM (00:00 to 23:59)")
    hours, minutes = value.split(":")
    return dt.time(int(hours), int(minutes))


def _documented(pattern: str, example: str, description: str, **more: Any) -> WithJsonSchema:
    """The JSON Schema docs/openapi.json shows for a field type (documentation: validation stays the validators')."""
    return WithJsonSchema({"type": "string", "pattern": pattern, "examples": [example], "description": description,
                           **more})


Phone = Annotated[str, AfterValidator(normalize_phone), _documented(
    r"^\+?[0-9][0-9 ().-]{6,22}$", "+5511987654321",
    "a full number with country code (E.164); a Brazilian number may omit +55 and use spaces, dashes and "
    "parentheses: answered as +5511987654321")]
Email = Annotated[str, Field(max_length=254), AfterValidator(_email)]
TimeZone = Annotated[str, AfterValidator(_timezone), _documented(
    "^" + _REGION_ZONE.pattern + "$", "America/Sao_Paulo", "an IANA region time zone")]
Instant = Annotated[dt.datetime, BeforeValidator(_instant), _documented(
    "^" + _INSTANT_RE.pattern + "$", "2026-12-01T09:00:00-03:00",
    f"ISO 8601 date-time with offset (Z or ±HH:MM), years {INSTANT_FIRST_YEAR} to {INSTANT_LAST_YEAR}",
    format="date-time")]
Slug = Annotated[str, AfterValidator(_slug), _documented(
    r"^[a-z0-9][a-z0-9-]{1,38}[a-z0-9]$", "ana-psi",
    "3 to 40 lower-case letters, digits and dashes (not at the ends); a few words are reserved")]
Name = Annotated[str, Field(min_length=1, max_length=120)]
HHMM = Annotated[dt.time, BeforeValidator(_hhmm), _documented(r"^([01]\d|2[0-3]):[0-5]\d$", "09:00",
                                                               "local time HH:MM, 00:00 to 23:59")]
Cents = Annotated[int, Field(ge=0, le=100_000_00, strict=True)]
