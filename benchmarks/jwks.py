"""The JWKS endpoint the benchmarks verify ES256 tokens through (what Supabase publishes for new projects): one
P-256 key, served by :class:`devtools.http_double.HttpDouble`.

    jwks = Jwks().start()
    os.environ["SUPABASE_JWKS_URL"] = jwks.jwks_url
    token = jwks.token(user_id)          # ES256, signed with the served key, valid for a day
    jwks.stop()

No side effect at import (``benchmarks.warm.worker`` imports it while measuring another tree's code).
"""

from __future__ import annotations

import base64
import json
from http.server import BaseHTTPRequestHandler
from typing import Any

from devtools.http_double import HttpDouble

KID = "bench-ec-1"
PATH = "/auth/v1/.well-known/jwks.json"


def _b64(n: int) -> str:
    return base64.urlsafe_b64encode(n.to_bytes(32, "big")).rstrip(b"=").decode()


class _Handler(BaseHTTPRequestHandler):
    double: Jwks

    def do_GET(self) -> None:  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.double.document)))
        self.end_headers()
        self.wfile.write(self.double.document)

    def log_message(self, *args: Any) -> None:
        pass


class Jwks(HttpDouble):
    """One ES256 key (``key``, the private half) and its key set."""

    def __init__(self) -> None:
        from cryptography.hazmat.primitives.asymmetric import ec

        self.key = ec.generate_private_key(ec.SECP256R1())
        numbers = self.key.public_key().public_numbers()
        self.document = json.dumps({"keys": [{"kty": "EC", "crv": "P-256", "x": _b64(numbers.x), "y": _b64(numbers.y),
                                              "kid": KID, "alg": "ES256", "use": "sig", "key_ops": ["verify"]}]}).encode()

    def handler(self) -> type[BaseHTTPRequestHandler]:
        return _Handler

    @property
    def jwks_url(self) -> str:
        return self.url + PATH

    def token(self, user_id: str) -> str:
        from devtools.tokens import mint_token

        return mint_token(user_id, secret="", key=self.key, algorithm="ES256", kid=KID, expires_in=86400)
