"""Signed quick-reply payloads of the WhatsApp buttons (confirm / reschedule / cancel).

    payload = reply_payloads.issue(message_id, appointment_id, "cancel", expires_at)   # 74 URL-safe characters
    p = reply_payloads.verify(payload, now)      # -> Payload(message_id, appointment_id, action, expires_at) | None
    p.use_id                                     # 'message-uuid:cancel': the key of its single use

Format, like :mod:`odys.booking_tokens` but under its own HMAC domain ``"odys-reply:"`` so that neither kind of
token can stand for the other: ``base64url(version ‖ message uuid ‖ appointment uuid ‖ action byte ‖ expiry
(uint32 epoch seconds))``, a dot, ``base64url(HMAC-SHA256(BOOKING_TOKEN_SECRET, "odys-reply:" ‖ those 38 bytes)
[:16])``, no padding (Meta allows 256 characters; this stays well under 128). The payload is bound to the message
that carried the button and to its appointment; single use is enforced by the caller (``quick_reply_uses``, keyed
by :attr:`Payload.use_id`). :func:`verify` answers None for malformed, forged and expired payloads alike.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import hmac
import re
import struct
import uuid

from odys import booking_tokens

VERSION = 1
MAC_BYTES = 16
ACTIONS = ("confirm", "reschedule", "cancel")
_DOMAIN = b"odys-reply:"
_PAYLOAD = struct.Struct(">B16s16sBI")
_RE = re.compile(r"[A-Za-z0-9_-]{51}\.[A-Za-z0-9_-]{22}")


@dataclasses.dataclass(frozen=True)
class Payload:
    """A verified quick-reply payload."""

    message_id: str
    appointment_id: str
    action: str
    expires_at: dt.datetime

    @property
    def use_id(self) -> str:
        """The key under which this button acts once (``quick_reply_uses.payload_id``)."""
        return f"{self.message_id}:{self.action}"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(body: bytes) -> bytes:
    return hmac.new(booking_tokens._secret(), _DOMAIN + body, hashlib.sha256).digest()[:MAC_BYTES]


def issue(message_id: str, appointment_id: str, action: str, expires_at: dt.datetime) -> str:
    """The button payload of ``action`` on the message ``message_id`` about ``appointment_id``.

    >>> import os; os.environ["BOOKING_TOKEN_SECRET"] = "doctest-secret-0123456789-0123456789"
    >>> m, a = "3f2a9c1b-7e4d-4a0b-8c6e-1d2f3a4b5c6d", "0b7d5c1e-2f3a-4b5c-8d6e-7f8091a2b3c4"
    >>> p = issue(m, a, "cancel", dt.datetime(2027, 1, 1, tzinfo=dt.timezone.utc))
    >>> len(p), verify(p, dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc)).action
    (74, 'cancel')
    >>> verify(p, dt.datetime(2027, 1, 2, tzinfo=dt.timezone.utc)) is None   # expired
    True
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown quick-reply action {action!r}")
    body = _PAYLOAD.pack(
        VERSION,
        uuid.UUID(str(message_id)).bytes,
        uuid.UUID(str(appointment_id)).bytes,
        ACTIONS.index(action),
        int(expires_at.timestamp()),
    )
    return f"{_b64(body)}.{_b64(_mac(body))}"


def verify(payload: object, now: dt.datetime) -> Payload | None:
    """The genuine, unexpired payload; None otherwise (malformed, forged, expired).

    >>> verify("confirm", dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)) is None
    True
    """
    if not isinstance(payload, str) or not _RE.fullmatch(payload):
        return None
    text, mac = payload.split(".")
    body, given = _unb64(text), _unb64(mac)
    if len(body) != _PAYLOAD.size or _b64(body) != text or _b64(given) != mac:  # canonical encoding only
        return None
    if not hmac.compare_digest(given, _mac(body)):
        return None
    version, message, appointment, action, expires = _PAYLOAD.unpack(body)
    if version != VERSION or action >= len(ACTIONS) or expires <= now.timestamp():
        return None
    return Payload(
        message_id=str(uuid.UUID(bytes=message)),
        appointment_id=str(uuid.UUID(bytes=appointment)),
        action=ACTIONS[action],
        expires_at=dt.datetime.fromtimestamp(expires, dt.timezone.utc),
    )
