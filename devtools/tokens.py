"""Access tokens shaped like Supabase's, for the dev server and tests.

    mint_token("0b6f...-uuid", secret="dev-secret")   # HS256, aud "authenticated", 1 h expiry
"""

from __future__ import annotations

import time
import uuid

import jwt


def mint_token(sub: str | None = None, *, secret: str, expires_in: int = 3600, audience: str = "authenticated",
               email: str | None = None, algorithm: str = "HS256", key: object | None = None,
               kid: str | None = None) -> str:
    now = int(time.time())
    claims = {"sub": sub or str(uuid.uuid4()), "aud": audience, "role": "authenticated", "iat": now,
              "exp": now + expires_in, "iss": "supabase-local"}
    if email:
        claims["email"] = email
    headers = {"kid": kid} if kid else None
    return jwt.encode(claims, key if key is not None else secret, algorithm=algorithm, headers=headers)
