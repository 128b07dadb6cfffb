"""Bearer token verification (odys.auth) through GET /api/account: what is accepted, and every way a token is
refused with a 401 problem and a stable code (``invalid_token``, ``token_expired``, ``missing_token``), never a 500.

An accepted token reaches the service: a user without a professional profile gets 404 ``onboarding_required``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from conftest import JWT_SECRET
from odys import auth
from test_account import assert_problem
from test_core import _JsonServer

ROOT = Path(__file__).resolve().parent.parent


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64int(n: int, size: int | None = None) -> str:
    return b64(n.to_bytes(size or (n.bit_length() + 7) // 8, "big"))


def claims(**overrides) -> dict:
    now = int(time.time())
    body = {"sub": str(uuid.uuid4()), "aud": "authenticated", "role": "authenticated", "iat": now, "exp": now + 3600}
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def sign(header: dict, payload: dict | bytes, key=JWT_SECRET) -> str:
    """A compact JWS signed as ``header["alg"]`` says, with ``key`` (an HMAC secret, an EC or RSA private key)."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(body)}".encode()
    alg = header.get("alg")
    if alg == "HS256":
        secret = key if isinstance(key, bytes) else key.encode()
        signature = hmac.new(secret, signing_input, hashlib.sha256).digest()
    elif alg == "ES256":
        r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    elif alg == "RS256":
        signature = key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    else:
        signature = b""
    return f"{signing_input.decode()}.{b64(signature)}"


class Jwks(_JsonServer):
    """A JWKS endpoint whose key list a test can change; counts its fetches (``hits``)."""

    def __init__(self) -> None:
        self.keys: list[dict] = []
        super().__init__(lambda path, headers: (200, {"keys": self.keys}))
        self.url += "/auth/v1/.well-known/jwks.json"

    def publish_ec(self, kid: str, key, **extra) -> None:
        numbers = key.public_key().public_numbers()
        self.keys.append({"kty": "EC", "crv": "P-256", "x": b64int(numbers.x, 32), "y": b64int(numbers.y, 32),
                          "kid": kid, "alg": "ES256", "use": "sig", **extra})

    def publish_rsa(self, kid: str, key, **extra) -> None:
        numbers = key.public_key().public_numbers()
        self.keys.append({"kty": "RSA", "n": b64int(numbers.n), "e": b64int(numbers.e), "kid": kid, "alg": "RS256",
                          "use": "sig", **extra})


@pytest.fixture(scope="module")
def ec_key():
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def jwks(monkeypatch, ec_key, rsa_key):
    server = Jwks()
    server.publish_ec("ec-1", ec_key)
    server.publish_rsa("rsa-1", rsa_key)
    monkeypatch.setenv("SUPABASE_JWKS_URL", server.url)
    auth.forget_keys_for_tests()
    yield server
    auth.forget_keys_for_tests()
    server.stop()


def accepted(result) -> None:
    assert_problem(result, 404, "onboarding_required")  # authenticated; the user has no profile yet


def test_asymmetric_tokens_of_the_jwks_are_accepted_and_the_key_set_fetched_once(api, jwks, ec_key, rsa_key):
    accepted(api.get("/api/account", token=sign({"alg": "ES256", "typ": "JWT", "kid": "ec-1"}, claims(), ec_key)))
    accepted(api.get("/api/account", token=sign({"alg": "RS256", "kid": "rsa-1"}, claims(), rsa_key)))
    accepted(api.get("/api/account", token=sign({"alg": "HS256", "typ": "JWT"}, claims())))  # beside the secret
    assert jwks.hits == 1


def test_an_audience_list_naming_authenticated_is_accepted_and_then_remembered(api, jwks, ec_key):
    token = sign({"alg": "ES256", "kid": "ec-1"}, claims(aud=["other", "authenticated"]), ec_key)
    for _ in range(2):  # verified, then remembered: the same answer
        accepted(api.get("/api/account", token=token))


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "HS384", "HS512", "PS256", "ES384", "RS512", "EdDSA", None])
def test_algorithms_other_than_hs256_es256_rs256_are_refused(api, jwks, alg, ec_key):
    header = {"alg": alg, "kid": "ec-1"} if alg is not None else {"kid": "ec-1"}
    for token in (sign(header, claims()), sign(header, claims())[:-1] + "A", sign({"alg": "ES256", "kid": "ec-1"},
                                                                              claims(), ec_key).rsplit(".", 2)[0]
                  .replace(b64(json.dumps({"alg": "ES256", "kid": "ec-1"}).encode()), b64(json.dumps(header).encode()))
                  + ".x"):
        assert_problem(api.get("/api/account", token=token), 401, "invalid_token")


def test_forged_and_tampered_tokens_are_refused(api, jwks, ec_key, rsa_key):
    stranger_ec = ec.generate_private_key(ec.SECP256R1())
    stranger_rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = [sign({"alg": "HS256"}, claims(), "not-the-secret-but-long-enough-0123456789"),
              sign({"alg": "ES256", "kid": "ec-1"}, claims(), stranger_ec),
              sign({"alg": "RS256", "kid": "rsa-1"}, claims(), stranger_rsa)]
    genuine = sign({"alg": "ES256", "kid": "ec-1"}, claims(), ec_key)
    head, _, signature = genuine.split(".")
    forged.append(f"{head}.{b64(json.dumps(claims()).encode())}.{signature}")  # another user's claims, same signature
    forged.append(f"{head}.{genuine.split('.')[1]}.{b64(base64.urlsafe_b64decode(signature + '==')[::-1])}")
    for token in forged:
        assert_problem(api.get("/api/account", token=token), 401, "invalid_token")
    accepted(api.get("/api/account", token=genuine))


def test_alg_confusion_is_refused(api, jwks, ec_key, rsa_key, monkeypatch):
    rsa_pem = rsa_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                serialization.PublicFormat.SubjectPublicKeyInfo)
    # an HMAC "signed" with the public key, the classic confusion; a JWK's key type against another alg
    confused = [sign({"alg": "HS256", "kid": "rsa-1"}, claims(), rsa_pem),
                sign({"alg": "RS256", "kid": "ec-1"}, claims(), rsa_key),
                sign({"alg": "ES256", "kid": "rsa-1"}, claims(), ec_key)]
    for token in confused:
        assert_problem(api.get("/api/account", token=token), 401, "invalid_token")
    # a symmetric key published in the JWKS is never a verification key
    jwks.keys.append({"kty": "oct", "k": b64(b"published-secret"), "kid": "oct-1", "alg": "HS256"})
    auth.forget_keys_for_tests()
    assert_problem(api.get("/api/account", token=sign({"alg": "HS256", "kid": "oct-1"}, claims(), b"published-secret")),
                   401, "invalid_token")
    # a JWK that names its algorithm refuses tokens claiming another one of the same key type
    jwks.keys.append({**jwks.keys[1], "kid": "rsa-ps", "alg": "PS256"})
    auth.forget_keys_for_tests()
    assert_problem(api.get("/api/account", token=sign({"alg": "RS256", "kid": "rsa-ps"}, claims(), rsa_key)),
                   401, "invalid_token")


def test_only_the_configured_kind_of_key_is_used(api, jwks, ec_key, monkeypatch):
    monkeypatch.delenv("SUPABASE_JWT_SECRET")  # a project with asymmetric keys only
    assert_problem(api.get("/api/account", token=sign({"alg": "HS256"}, claims())), 401, "invalid_token")
    accepted(api.get("/api/account", token=sign({"alg": "ES256", "kid": "ec-1"}, claims(), ec_key)))
    monkeypatch.setenv("SUPABASE_JWT_SECRET", JWT_SECRET)
    monkeypatch.delenv("SUPABASE_JWKS_URL")  # a legacy project: the secret only
    assert_problem(api.get("/api/account", token=sign({"alg": "ES256", "kid": "ec-1"}, claims(), ec_key)),
                   401, "invalid_token")
    accepted(api.get("/api/account", token=sign({"alg": "HS256"}, claims())))


def test_an_unknown_kid_refetches_the_key_set_once_then_is_refused(api, jwks, ec_key, monkeypatch):
    accepted(api.get("/api/account", token=sign({"alg": "ES256", "kid": "ec-1"}, claims(), ec_key)))
    assert jwks.hits == 1
    stranger = ec.generate_private_key(ec.SECP256R1())
    # within JWKS_REFETCH_SECONDS of a fetch, made-up kids cost no fetch
    for kid in ("nope-1", "nope-2"):
        assert_problem(api.get("/api/account", token=sign({"alg": "ES256", "kid": kid}, claims(), stranger)),
                       401, "invalid_token")
    assert jwks.hits == 1
    monkeypatch.setattr(auth, "JWKS_REFETCH_SECONDS", 0)  # the window has passed
    assert_problem(api.get("/api/account", token=sign({"alg": "ES256", "kid": "nope-3"}, claims(), stranger)),
                   401, "invalid_token")
    assert jwks.hits == 2  # exactly one refetch for it
    assert_problem(api.get("/api/account", token=sign({"alg": "ES256"}, claims(), stranger)), 401, "invalid_token")
    assert jwks.hits == 2  # no kid: nothing to look for


def test_a_rotated_key_is_found_by_refetching_and_a_removed_one_stops_working(api, jwks, ec_key, monkeypatch):
    old = sign({"alg": "ES256", "kid": "ec-1"}, claims(), ec_key)
    accepted(api.get("/api/account", token=old))
    new_key = ec.generate_private_key(ec.SECP256R1())
    jwks.keys = []
    jwks.publish_ec("ec-2", new_key)  # rotation: ec-1 revoked, ec-2 signs from now on
    monkeypatch.setattr(auth, "JWKS_REFETCH_SECONDS", 0)
    accepted(api.get("/api/account", token=sign({"alg": "ES256", "kid": "ec-2"}, claims(), new_key)))
    assert jwks.hits == 2
    assert_problem(api.get("/api/account", token=old), 401, "invalid_token")  # remembered, but its key is gone


def test_a_rotated_secret_refuses_tokens_verified_with_the_old_one(api, monkeypatch):
    token = sign({"alg": "HS256"}, claims())
    accepted(api.get("/api/account", token=token))
    monkeypatch.setenv("SUPABASE_JWT_SECRET", "the-rotated-secret-0123456789-0123456789")
    assert_problem(api.get("/api/account", token=token), 401, "invalid_token")


def test_unreachable_jwks_is_a_401_and_is_tried_again(api, jwks, ec_key):
    jwks.stop()
    token = sign({"alg": "ES256", "kid": "ec-1"}, claims(), ec_key)
    for _ in range(2):
        assert_problem(api.get("/api/account", token=token), 401, "invalid_token")


def test_time_claims(api, jwks, ec_key):
    now = int(time.time())
    assert_problem(api.get("/api/account", token=sign({"alg": "HS256"}, claims(exp=now - 120))), 401, "token_expired")
    assert_problem(api.get("/api/account", token=sign({"alg": "ES256", "kid": "ec-1"}, claims(exp=now - 120), ec_key)),
                   401, "token_expired")
    accepted(api.get("/api/account", token=sign({"alg": "HS256"}, claims(exp=now - 10))))  # within the leeway
    for claim in ("iat", "nbf"):  # issued or valid only in the future (beyond the leeway)
        assert_problem(api.get("/api/account", token=sign({"alg": "HS256"}, claims(**{claim: now + 600}))),
                       401, "invalid_token")
        accepted(api.get("/api/account", token=sign({"alg": "HS256"}, claims(**{claim: now + 10}))))
    for value in ("9999999999", True, None, [1], 1e400, float("nan"), 10**400):
        assert_problem(api.get("/api/account", token=sign({"alg": "HS256"}, {**claims(), "exp": value})),
                       401, "invalid_token")


def test_a_remembered_token_is_honoured_only_until_it_expires(api, jwks, ec_key, monkeypatch):
    token = sign({"alg": "ES256", "kid": "ec-1"}, claims(exp=int(time.time()) + 60), ec_key)
    accepted(api.get("/api/account", token=token))

    class Later:
        monotonic = staticmethod(time.monotonic)

        @staticmethod
        def time() -> float:
            return time.time() + 60 + auth.LEEWAY_SECONDS + 1

    monkeypatch.setattr(auth, "time", Later)
    assert_problem(api.get("/api/account", token=token), 401, "token_expired")


@pytest.mark.parametrize("claim, value", [("aud", "anon"), ("aud", ["anon"]), ("aud", [1]), ("aud", None),
                                          ("sub", None), ("sub", ""), ("sub", 42), ("exp", None), ("jti", 7)])
def test_claims_that_do_not_name_an_authenticated_user_are_refused(api, claim, value):
    payload = {**claims(), claim: value}
    if value is None:
        del payload[claim]
    assert_problem(api.get("/api/account", token=sign({"alg": "HS256"}, payload)), 401, "invalid_token")


@pytest.mark.parametrize("token", [
    "not.a.jwt", "a.b", "a.b.c.d", "..", "eyJ!.e30.x", "e30.e30.", ".e30.x", "ääää.e30.x", "e30.e30.x y",
    b64(b"[1]") + ".e30.x", b64(b"not json") + ".e30.x", b64(b'{"alg":"HS256"') + ".e30.x", "A" * 20_000,
    b64(b'{"alg":"HS256"}') + "." + b64(b"x" * 3) + "A.sig", b64(json.dumps({"alg": "HS256", "kid": 7}).encode())
    + ".e30.x", b64(json.dumps({"alg": "HS256", "crit": ["exp"]}).encode()) + ".e30.x",
    b64(json.dumps({"alg": "HS256", "b64": False, "crit": ["b64"]}).encode()) + ".e30.x"])
def test_malformed_tokens_are_invalid_not_errors(api, jwks, token):
    assert_problem(api.get("/api/account", token=token), 401, "invalid_token")


def test_a_validly_signed_payload_that_is_not_a_claims_object_is_refused(api, jwks, ec_key):
    for payload in (b"[1, 2]", b"not json", b'"text"', b"\xff\xfe"):
        for token in (sign({"alg": "HS256"}, payload), sign({"alg": "ES256", "kid": "ec-1"}, payload, ec_key)):
            assert_problem(api.get("/api/account", token=token), 401, "invalid_token")
    short = sign({"alg": "ES256", "kid": "ec-1"}, claims(), ec_key).rsplit(".", 1)[0] + "." + b64(b"\x01" * 63)
    assert_problem(api.get("/api/account", token=short), 401, "invalid_token")


@pytest.mark.parametrize("value", ["", "Bearer", "Bearer ", "Basic abc", "bearer", "Token x"])
def test_no_bearer_token_is_missing_token(api, value):
    assert_problem(api.get("/api/account", headers={"authorization": value} if value else {}), 401, "missing_token")


def test_hs256_verification_imports_neither_pyjwt_nor_cryptography():
    script = ("import sys, time, hmac, hashlib, json, base64; sys.path[:0] = ['layers/shared']; "
              "import os; os.environ['SUPABASE_JWT_SECRET'] = 's3cret-0123456789-0123456789'; "
              "from odys import auth; b = lambda d: base64.urlsafe_b64encode(d).rstrip(b'=').decode(); "
              "i = b(b'{\"alg\":\"HS256\"}') + '.' + b(json.dumps({'sub': 'u', 'aud': 'authenticated', "
              "'exp': time.time() + 60}).encode()); "
              "t = i + '.' + b(hmac.new(b's3cret-0123456789-0123456789', i.encode(), hashlib.sha256).digest()); "
              "assert auth.verify_token(t)['sub'] == 'u'; "
              "print(sorted({m.split('.')[0] for m in sys.modules} & {'jwt', 'cryptography'}))")
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
