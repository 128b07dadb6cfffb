"""Supabase access tokens, verified inside the function (no call to Supabase per request).

    claims = verify_token(token)        # -> {"sub": "<user uuid>", "aud": "authenticated", "exp": ..., ...}

Accepted: HS256 signed with ``SUPABASE_JWT_SECRET`` (legacy projects), and ES256/RS256 signed by a key published
at ``SUPABASE_JWKS_URL`` (``https://<project>.supabase.co/auth/v1/.well-known/jwks.json``). ``aud`` must be
``authenticated``, ``sub`` must be a non-empty string, ``exp`` is enforced (30 s leeway for clock skew) and so are
``iat``/``nbf`` when present. Every failure is a 401 problem with code ``invalid_token`` or ``token_expired``.

The compact JWS is read once (header, payload, signature) and checked here with the standard library and
``cryptography``'s key objects, without PyJWT:

* **Algorithms.** The header's ``alg`` picks the key *kind*, never the key: ``HS256`` is checked only against the
  secret, ``ES256`` only against a P-256 key and ``RS256`` only against an RSA key of the JWKS, chosen by the
  header's ``kid`` (a key whose JWK names another ``alg`` is refused). ``none``, any other algorithm, HMAC keys in
  the JWKS and headers with ``crit`` extensions are refused. ``cryptography`` is imported only when an asymmetric
  token arrives: an HS256 function needs ``hmac`` alone.
* **The JWKS** is fetched on the first asymmetric token and kept per process as key objects by ``kid``. A ``kid``
  it does not hold triggers one refetch (keys rotate), at most every :data:`JWKS_REFETCH_SECONDS` after a
  successful fetch (so tokens with made-up ``kid`` cannot make every request fetch); a fetch that fails is not
  remembered and the next token tries again. A refetch replaces the keys: a key Supabase revoked stops working.
* **Verified tokens are remembered** (token -> claims, the last :data:`VERIFIED_CACHE_SIZE`): a client sends the
  same token for its hour, and checking it again costs more than the rest of a request (an ECDSA verification
  alone is ~100 µs). A remembered token is honoured only until its ``exp`` (with the leeway) and only while the key
  that verified it is still the one its ``alg``/``kid`` names (a rotated secret, a refetched JWKS without that key:
  it is verified again, and refused).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import re
import threading
import time
from typing import Any

from odys import config, snapstart
from odys.errors import Unauthorized

AUDIENCE = "authenticated"
LEEWAY_SECONDS = 30
JWKS_TIMEOUT_SECONDS = 3
JWKS_REFETCH_SECONDS = 30
VERIFIED_CACHE_SIZE = 512
MAX_TOKEN_CHARS = 16 * 1024  # Supabase's tokens are ~1 KiB; a bigger one is not worth parsing
_MAX_JWKS_BYTES = 1024 * 1024

# What an asymmetric token needs: imported on the first one (an HS256 function never pays for them), or before
# the SnapStart snapshot, where they cost nothing.
snapstart.preload("cryptography.hazmat.primitives.asymmetric.ec", "cryptography.hazmat.primitives.asymmetric.rsa",
                  "cryptography.hazmat.primitives.asymmetric.padding", "cryptography.hazmat.primitives.asymmetric.utils")

_COMPACT = re.compile(r"([A-Za-z0-9_-]+)={0,2}\.([A-Za-z0-9_-]+)={0,2}\.([A-Za-z0-9_-]+)={0,2}")
_ASYMMETRIC = {"ES256": "EC", "RS256": "RSA"}  # alg -> the JWK key type it must be checked with


def _invalid(detail: str) -> Unauthorized:
    return Unauthorized(f"The token is not valid: {detail}.", code="invalid_token")


def _b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _json_object(segment: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(_b64decode(segment))
    except (ValueError, binascii.Error, RecursionError):
        raise Unauthorized("The bearer token is malformed.", code="invalid_token") from None
    if not isinstance(value, dict):
        raise Unauthorized(f"The bearer token is malformed: its {what} is not a JSON object.", code="invalid_token")
    return value


# --- the JWKS ---------------------------------------------------------------------------------------------------

class _KeySet:
    """The public keys of one JWKS URL by ``kid``: ``(kty, alg or None, key object)``."""

    def __init__(self) -> None:
        self.keys: dict[str, tuple[str, str | None, Any]] = {}
        self.fetched_at: float | None = None  # monotonic time of the last successful fetch
        self.lock = threading.Lock()


_key_sets: dict[str, _KeySet] = {}


def _b64int(value: Any) -> int:
    if not isinstance(value, str) or not value:
        raise ValueError("not a base64url integer")
    return int.from_bytes(_b64decode(value), "big")


def _public_key(jwk: dict[str, Any]) -> tuple[str, Any] | None:
    """``(kty, cryptography public key)`` of a JWK usable for ES256/RS256; None for any other key (or a broken one)."""
    kty = jwk.get("kty")
    try:
        if kty == "EC" and jwk.get("crv") == "P-256":
            from cryptography.hazmat.primitives.asymmetric import ec

            return kty, ec.EllipticCurvePublicNumbers(_b64int(jwk.get("x")), _b64int(jwk.get("y")),
                                                      ec.SECP256R1()).public_key()  # refuses a point off the curve
        if kty == "RSA":
            from cryptography.hazmat.primitives.asymmetric import rsa

            return kty, rsa.RSAPublicNumbers(_b64int(jwk.get("e")), _b64int(jwk.get("n"))).public_key()
    except (ValueError, TypeError, binascii.Error):
        return None
    return None  # oct (a shared secret must never come from a URL), OKP, other curves: not for us


def _fetch_keys(url: str) -> dict[str, tuple[str, str | None, Any]]:
    """The key set at ``url``, over http.client: urllib's opener would build (and load the CA store into) a TLS
    context of its own on every call, ~50 ms, even for a plain http URL; HTTPS uses the environment's shared one."""
    try:
        status, body = config.http_get(url, {"Accept": "application/json", "User-Agent": "odys"},
                                       JWKS_TIMEOUT_SECONDS, limit=_MAX_JWKS_BYTES)
        if status != 200:
            raise ValueError(f"JWKS answered {status}")
        document = json.loads(body)
    except Exception:  # unreachable, timeout, HTTP error, not JSON: no key can be trusted from it
        raise Unauthorized("The token's signing keys cannot be fetched right now; retry shortly.",
                           code="invalid_token") from None
    keys: dict[str, tuple[str, str | None, Any]] = {}
    for jwk in document.get("keys", []) if isinstance(document, dict) else []:
        if not isinstance(jwk, dict) or not isinstance(jwk.get("kid"), str) or jwk.get("use", "sig") != "sig":
            continue
        found = _public_key(jwk)
        if found is not None:
            alg = jwk.get("alg")
            keys[jwk["kid"]] = (found[0], alg if isinstance(alg, str) else None, found[1])
    return keys


def _signing_key(url: str, kid: str) -> tuple[str, str | None, Any]:
    """The JWKS key named ``kid``: from memory, else after one (rate-limited) refetch; 401 when there is none."""
    key_set = _key_sets.get(url) or _key_sets.setdefault(url, _KeySet())
    key = key_set.keys.get(kid)
    if key is not None:
        return key
    with key_set.lock:
        key = key_set.keys.get(kid)  # another thread may have fetched it meanwhile
        recent = key_set.fetched_at is not None and time.monotonic() - key_set.fetched_at < JWKS_REFETCH_SECONDS
        if key is None and not recent:
            key_set.keys = _fetch_keys(url)
            key_set.fetched_at = time.monotonic()
            key = key_set.keys.get(kid)
    if key is None:
        raise Unauthorized("The token's signing key is unknown.", code="invalid_token")
    return key


def _verify_asymmetric(algorithm: str, key: Any, signing_input: bytes, signature: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes

    try:
        if algorithm == "ES256":
            from cryptography.hazmat.primitives.asymmetric import ec
            from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

            if len(signature) != 64:  # JWS: r || s, 32 bytes each (RFC 7518 §3.4), not DER
                return False
            der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
            key.verify(der, signing_input, ec.ECDSA(hashes.SHA256()))
        else:
            from cryptography.hazmat.primitives.asymmetric import padding

            key.verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


# --- tokens -----------------------------------------------------------------------------------------------------

# token -> (claims, valid until (exp + leeway), alg, kid, the key it was verified with)
_verified: dict[str, tuple[dict[str, Any], float, str, str | None, Any]] = {}


def _key(header: dict[str, Any]) -> tuple[str, Any]:
    """``(alg, key)`` the token of ``header`` must be verified with: the secret for HS256, the JWKS key named by its
    ``kid`` (of the key type its ``alg`` requires) for ES256/RS256; 401 for anything else."""
    algorithm = header.get("alg")
    if "crit" in header or header.get("b64", True) is not True:
        raise _invalid("it uses JWS extensions this service does not implement")
    if algorithm == "HS256":
        secret = config.secret("SUPABASE_JWT_SECRET", required=False)
        if secret:
            return algorithm, secret
    elif algorithm in _ASYMMETRIC and config.env("SUPABASE_JWKS_URL"):
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise Unauthorized("The token's signing key is unknown.", code="invalid_token")
        kty, key_alg, key = _signing_key(config.env("SUPABASE_JWKS_URL"), kid)  # type: ignore[arg-type]
        if kty != _ASYMMETRIC[algorithm] or key_alg not in (None, algorithm):
            raise _invalid(f"its key {kid!r} is not an {algorithm} key")
        return algorithm, key
    raise Unauthorized(f"Tokens signed with {algorithm!r} are not accepted.", code="invalid_token")


def _current_key(algorithm: str, kid: str | None) -> Any:
    """The key a remembered token's ``alg``/``kid`` names now (None when there is none): nothing is fetched."""
    if algorithm == "HS256":
        return config.secret("SUPABASE_JWT_SECRET", required=False)
    key_set = _key_sets.get(config.env("SUPABASE_JWKS_URL") or "")
    found = key_set.keys.get(kid) if key_set is not None and kid is not None else None
    return found[2] if found is not None else None


def _signature_valid(algorithm: str, key: Any, signing_input: bytes, signature: bytes) -> bool:
    if algorithm == "HS256":
        return hmac.compare_digest(hmac.new(key.encode(), signing_input, hashlib.sha256).digest(), signature)
    return _verify_asymmetric(algorithm, key, signing_input, signature)


def _number(claims: dict[str, Any], name: str) -> float:
    value = claims[name]
    try:
        if isinstance(value, bool) or not math.isfinite(value):  # NaN would never expire
            raise ValueError(value)
    except (TypeError, ValueError, OverflowError):  # not a number, or an int beyond any float
        raise _invalid(f"the {name} claim must be a number of seconds") from None
    return value


def _check_claims(claims: dict[str, Any]) -> float:
    """PyJWT's order of checks (required, iat, nbf, exp, aud, sub); returns the instant the token stops being valid."""
    for name in ("exp", "sub", "aud"):
        if claims.get(name) is None:
            raise _invalid(f'Token is missing the "{name}" claim')
    now = time.time()
    for name in ("iat", "nbf"):
        if name in claims and _number(claims, name) > now + LEEWAY_SECONDS:
            raise _invalid(f"The token is not yet valid ({name})")
    valid_until = _number(claims, "exp") + LEEWAY_SECONDS
    if valid_until <= now:
        raise Unauthorized("The token has expired; sign in again.", code="token_expired")
    audience = claims["aud"]
    if not (audience == AUDIENCE or (isinstance(audience, list) and AUDIENCE in audience)):
        raise _invalid("Audience doesn't match")
    if not isinstance(claims["sub"], str) or not claims["sub"]:
        raise Unauthorized("The token names no user.", code="invalid_token")
    if "jti" in claims and not isinstance(claims["jti"], str):
        raise _invalid("JWT ID must be a string")
    return valid_until


def verify_token(token: str) -> dict[str, Any]:
    remembered = _verified.get(token)
    if remembered is not None:
        claims, valid_until, algorithm, kid, key = remembered
        if time.time() < valid_until and _current_key(algorithm, kid) == key:  # a rotated secret/key: verify again
            return dict(claims)
        del _verified[token]
    parts = _COMPACT.fullmatch(token) if len(token) <= MAX_TOKEN_CHARS else None
    if parts is None:
        raise Unauthorized("The bearer token is malformed.", code="invalid_token")
    header = _json_object(parts[1], "header")
    try:
        signature = _b64decode(parts[3])
    except (ValueError, binascii.Error):
        raise Unauthorized("The bearer token is malformed.", code="invalid_token") from None
    algorithm, key = _key(header)
    if not _signature_valid(algorithm, key, token[:token.rindex(".")].encode("ascii"), signature):
        raise _invalid("Signature verification failed")
    claims = _json_object(parts[2], "payload")
    valid_until = _check_claims(claims)
    if len(_verified) >= VERIFIED_CACHE_SIZE:
        del _verified[next(iter(_verified))]  # the oldest
    _verified[token] = (claims, valid_until, algorithm, header.get("kid"), key)
    return dict(claims)


def forget_keys_for_tests() -> None:
    """Forget fetched JWKS keys and remembered tokens (each test's key set is its own)."""
    _key_sets.clear()
    _verified.clear()


def bearer_token(headers: dict[str, str]) -> str:
    value = headers.get("authorization") or headers.get("Authorization") or ""
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Send the Supabase access token as 'Authorization: Bearer <token>'.",
                           code="missing_token")
    return token.strip()


def verified_contacts(claims: dict[str, Any]) -> tuple[str | None, str | None]:
    """The token's ``phone`` and ``email`` claims, each only when Supabase marks it verified
    (``user_metadata.phone_verified`` / ``email_verified`` is ``true``), as the token has them (Supabase writes the
    phone as digits without ``+``): ``("5511988887777", "bia@example.com")``, ``(None, None)``, ...
    """
    metadata = claims.get("user_metadata")
    metadata = metadata if isinstance(metadata, dict) else {}

    def verified(claim: str) -> str | None:
        value = claims.get(claim)
        return value if metadata.get(f"{claim}_verified") is True and isinstance(value, str) and value else None

    return verified("phone"), verified("email")


def require_user(app: Any, next_middleware: Any) -> Any:
    """Resolver middleware: verifies the bearer token and puts ``user_id``, ``claims`` and the verified contacts
    (``verified_phone``, ``verified_email``: :func:`verified_contacts`) in ``app.context``."""
    claims = verify_token(bearer_token(app.current_event.get("headers") or {}))  # as sent: API Gateway lowercases
    phone, email = verified_contacts(claims)
    app.append_context(user_id=claims["sub"], claims=claims, verified_phone=phone, verified_email=email)
    return next_middleware(app)
