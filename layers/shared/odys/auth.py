"""Supabase access tokens, verified inside the function (no call to Supabase per request).

    claims = verify_token(token)        # -> {"sub": "<user uuid>", "aud": "authenticated", "exp": ..., ...}

Accepted: HS256 signed with ``SUPABASE_JWT_SECRET`` (legacy projects), and RS256/ES256 signed by a key published
at ``SUPABASE_JWKS_URL`` (``https://<project>.supabase.co/auth/v1/.well-known/jwks.json``; keys cached per
process). ``aud`` must be ``authenticated``, ``sub`` must be present, and ``exp`` is enforced (30 s leeway for
clock skew). Every failure is a 401 problem with code ``invalid_token`` or ``token_expired``.
"""

from __future__ import annotations

from typing import Any

from odys import config
from odys.errors import Unauthorized

AUDIENCE = "authenticated"
LEEWAY_SECONDS = 30
_jwks_clients: dict[str, Any] = {}


def _jwks_client(url: str) -> Any:
    from jwt import PyJWKClient

    if url not in _jwks_clients:
        _jwks_clients[url] = PyJWKClient(url, cache_keys=True, lifespan=600, timeout=3)
    return _jwks_clients[url]


def verify_token(token: str) -> dict[str, Any]:
    import jwt

    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise Unauthorized("The bearer token is malformed.", code="invalid_token") from None
    algorithm = header.get("alg")
    try:
        if algorithm == "HS256":
            key: Any = config.secret("SUPABASE_JWT_SECRET")
        elif algorithm in ("RS256", "ES256") and config.env("SUPABASE_JWKS_URL"):
            # the header is read already: get_signing_key_from_jwt would decode the whole token again
            key = _jwks_client(config.env("SUPABASE_JWKS_URL")).get_signing_key(header.get("kid")).key
        else:
            raise Unauthorized(f"Tokens signed with {algorithm!r} are not accepted.", code="invalid_token")
        claims = jwt.decode(token, key, algorithms=[algorithm], audience=AUDIENCE, leeway=LEEWAY_SECONDS,
                            options={"require": ["exp", "sub", "aud"]})
    except jwt.ExpiredSignatureError:
        raise Unauthorized("The token has expired; sign in again.", code="token_expired") from None
    except jwt.PyJWKClientError:
        raise Unauthorized("The token's signing key is unknown.", code="invalid_token") from None
    except jwt.PyJWTError as error:
        raise Unauthorized(f"The token is not valid: {error}.", code="invalid_token") from None
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise Unauthorized("The token names no user.", code="invalid_token")
    return claims


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
    claims = verify_token(bearer_token(app.current_event.headers or {}))
    phone, email = verified_contacts(claims)
    app.append_context(user_id=claims["sub"], claims=claims, verified_phone=phone, verified_email=email)
    return next_middleware(app)
