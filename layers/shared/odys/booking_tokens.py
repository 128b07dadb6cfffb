"""Signed self-service links of a booking: ``/api/booking/{token}``.

    token = booking_tokens.issue(appointment_id, expires_at)   # 'AQ3x…Q.k2f…w' (51 URL-safe characters)
    token = booking_tokens.for_appointment(row)                # the manage link's token: valid until end + 30 days
    booking_tokens.verify(token)                               # -> appointment id, or None

Format: ``base64url(version ‖ appointment uuid (16 bytes) ‖ expiry (uint32 epoch seconds, big-endian))``, a dot,
and ``base64url(HMAC-SHA256(secret, "odys-booking:" ‖ those 21 bytes)[:16])``, both without padding. The token
is bound to one appointment and expires (the service uses the appointment's end + 30 days). Nothing is stored:
the secret ``BOOKING_TOKEN_SECRET`` (:func:`odys.config.secret`; at least 32 characters) is the only state, and
rotating it revokes every link. :func:`verify` answers None for malformed, forged and expired tokens alike, so the
caller cannot tell them apart (and neither can an attacker).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import re
import struct
import uuid

from odys import config

VERSION = 1
MAC_BYTES = 16
_DOMAIN = b"odys-booking:"
_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{28}\.[A-Za-z0-9_-]{22}")
_PAYLOAD = struct.Struct(">B16sI")


def _secret() -> bytes:
    value = config.secret("BOOKING_TOKEN_SECRET") or ""
    if len(value) < 32:
        raise config.ConfigurationError("secret BOOKING_TOKEN_SECRET must be at least 32 characters")
    return value.encode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(payload: bytes) -> bytes:
    return hmac.new(_secret(), _DOMAIN + payload, hashlib.sha256).digest()[:MAC_BYTES]


def issue(appointment_id: str, expires_at: dt.datetime) -> str:
    """A link token for ``appointment_id`` valid until ``expires_at``.

    >>> import os; os.environ["BOOKING_TOKEN_SECRET"] = "doctest-secret-0123456789-0123456789"
    >>> t = issue("3f2a9c1b-7e4d-4a0b-8c6e-1d2f3a4b5c6d", dt.datetime(2027, 1, 1, tzinfo=dt.timezone.utc))
    >>> len(t), verify(t, now=dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc))
    (51, '3f2a9c1b-7e4d-4a0b-8c6e-1d2f3a4b5c6d')
    """
    payload = _PAYLOAD.pack(VERSION, uuid.UUID(str(appointment_id)).bytes, int(expires_at.timestamp()))
    return f"{_b64(payload)}.{_b64(_mac(payload))}"


def verify(token: str, now: dt.datetime | None = None) -> str | None:
    """The appointment id of a genuine, unexpired token; None otherwise (malformed, forged or expired).

    >>> verify("not-a-token") is None
    True
    """
    if not isinstance(token, str) or not _TOKEN_RE.fullmatch(token):
        return None
    body, mac = token.split(".")
    payload, given = _unb64(body), _unb64(mac)
    if len(payload) != _PAYLOAD.size or _b64(payload) != body or _b64(given) != mac:  # canonical encoding only
        return None
    if not hmac.compare_digest(given, _mac(payload)):
        return None
    version, raw_id, expires = _PAYLOAD.unpack(payload)
    now = now or dt.datetime.now(dt.timezone.utc)
    if version != VERSION or expires <= now.timestamp():
        return None
    return str(uuid.UUID(bytes=raw_id))


LINK_VALID_AFTER_END = dt.timedelta(days=30)


def for_appointment(row: dict) -> str:
    """The manage-link token of an appointment row (``id``, ``ends_at``), valid until 30 days after it ends."""
    return issue(str(row["id"]), row["ends_at"] + LINK_VALID_AFTER_END)
