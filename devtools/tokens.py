"""Access tokens shaped like Supabase's, for the dev server and tests.

    mint_token("0b6f...-uuid", secret="dev-secret")   # HS256, aud "authenticated", 1 h expiry
    mint_token(secret="dev-secret", phone="5511988887777", user_metadata={"phone_verified": True})  # a client user
"""

from __future__ import annotations

import time
import uuid

import jwt


def mint_token(sub: str | None = None, *, secret: str, expires_in: int = 3600, audience: str = "authenticated",
               email: str | None = None, algorithm: str = "HS256", key: object | None = None,
               kid: str | None = None, phone: str | None = None, user_metadata: dict | None = None) -> str:
    now = int(time.time())
    claims = {"sub": sub or str(uuid.uuid4()), "aud": audience, "role": "authenticated", "iat": now,
              "exp": now + expires_in, "iss": "supabase-local"}
    if email:
        claims["email"] = email
    if phone:
        claims["phone"] = phone  # as Supabase writes it: digits, no "+"
    if user_metadata is not None:
        claims["user_metadata"] = user_metadata  # e.g. {"phone_verified": True}
    headers = {"kid": kid} if kid else None
    return jwt.encode(claims, key if key is not None else secret, algorithm=algorithm, headers=headers)
