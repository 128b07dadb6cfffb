"""Core pieces through their public surface: Supabase JWKS tokens, secrets via the Lambda extension (backed by
moto's Secrets Manager), TLS verification of the database connection, log redaction, plans."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import ssl
import subprocess
import tempfile
import threading
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from devtools.tokens import mint_token
from odys import config, plans
from test_account import assert_problem


class _JsonServer:
    """A tiny local HTTP server answering GETs with a handler(path, headers) -> (status, dict)."""

    def __init__(self, handler) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                outer.hits += 1
                status, body = handler(self.path, self.headers)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.hits = 0
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def jwks(monkeypatch):
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    keys = []
    for kid, key, algorithm, alg in (("rsa-1", rsa_key, RSAAlgorithm, "RS256"), ("ec-1", ec_key, ECAlgorithm, "ES256")):
        jwk = json.loads(algorithm.to_jwk(key.public_key()))
        jwk.update(kid=kid, alg=alg, use="sig")
        keys.append(jwk)
    server = _JsonServer(lambda path, headers: (200, {"keys": keys}))
    monkeypatch.setenv("SUPABASE_JWKS_URL", server.url + "/auth/v1/.well-known/jwks.json")
    yield {"rsa": rsa_key, "ec": ec_key, "server": server}
    server.stop()


def test_asymmetric_supabase_tokens_are_verified_with_cached_jwks(api, jwks):
    sub = str(uuid.uuid4())
    for key, kid, alg in ((jwks["rsa"], "rsa-1", "RS256"), (jwks["ec"], "ec-1", "ES256")):
        token = mint_token(sub, secret="", key=key, algorithm=alg, kid=kid)
        result = api.get("/api/account", token=token)
        assert_problem(result, 404, "onboarding_required")  # authenticated: the user just has no profile yet
    assert jwks["server"].hits == 1  # the key set was fetched once and cached
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert_problem(api.get("/api/account", token=mint_token(sub, secret="", key=stranger, algorithm="RS256",
                                                             kid="rsa-1")), 401, "invalid_token")
    assert_problem(api.get("/api/account", token=mint_token(sub, secret="", key=jwks["rsa"], algorithm="RS256",
                                                             kid="unknown-kid")), 401, "invalid_token")


def test_alg_none_is_refused(api):
    import jwt

    token = jwt.encode({"sub": "x", "aud": "authenticated", "exp": 9999999999}, None, algorithm="none")
    assert_problem(api.get("/api/account", token=token), 401, "invalid_token")


@pytest.fixture
def secrets_extension(monkeypatch):
    """A local stand-in for the AWS Parameters and Secrets Lambda Extension, reading moto's Secrets Manager."""
    import boto3
    from moto import mock_aws

    with mock_aws():
        client = boto3.client("secretsmanager", region_name="us-east-1")
        arn = client.create_secret(Name="odys/test", SecretString=json.dumps({"STRIPE_SECRET_KEY": "sk_test_x",
                                                                             "SUPABASE_JWT_SECRET": "from-bundle-0123456789-0123456789"}))["ARN"]

        def handler(path, headers):
            if headers.get("X-Aws-Parameters-Secrets-Token") != "session-token":
                return 401, {"message": "missing session token"}
            secret_id = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)["secretId"][0]
            value = client.get_secret_value(SecretId=secret_id)
            return 200, {"ARN": value["ARN"], "Name": value["Name"], "SecretString": value["SecretString"]}

        server = _JsonServer(handler)
        monkeypatch.setenv("ODYS_SECRETS_ID", arn)
        monkeypatch.setenv("ODYS_SECRETS_ENDPOINT", server.url)
        monkeypatch.setenv("AWS_SESSION_TOKEN", "session-token")
        config.clear_cache()
        yield client, arn, server
        server.stop()
        config.clear_cache()


def test_secrets_come_from_the_bundle_and_are_cached(secrets_extension, monkeypatch):
    client, arn, server = secrets_extension
    assert config.secret("STRIPE_SECRET_KEY") == "sk_test_x"
    assert config.secret("SUPABASE_JWT_SECRET") != "from-bundle-0123456789-0123456789"  # the environment wins (dev, tests)
    monkeypatch.delenv("SUPABASE_JWT_SECRET")
    assert config.secret("SUPABASE_JWT_SECRET") == "from-bundle-0123456789-0123456789"
    client.put_secret_value(SecretId=arn, SecretString=json.dumps({"STRIPE_SECRET_KEY": "sk_test_rotated"}))
    assert config.secret("STRIPE_SECRET_KEY") == "sk_test_x" and server.hits == 1  # cached for the TTL
    config.clear_cache()
    assert config.secret("STRIPE_SECRET_KEY") == "sk_test_rotated"
    with pytest.raises(config.ConfigurationError) as info:
        config.secret("GROQ_API_KEY")
    assert "GROQ_API_KEY" in str(info.value)


def test_tokens_signed_with_the_bundle_secret_are_accepted(api, secrets_extension, monkeypatch):
    monkeypatch.delenv("SUPABASE_JWT_SECRET")
    token = mint_token(secret="from-bundle-0123456789-0123456789")
    assert_problem(api.get("/api/account", token=token), 404, "onboarding_required")


def test_unreachable_extension_fails_with_a_message_naming_no_secret(monkeypatch):
    monkeypatch.setenv("ODYS_SECRETS_ID", "odys/prod")
    monkeypatch.setenv("ODYS_SECRETS_ENDPOINT", "http://127.0.0.1:9")
    config.clear_cache()
    with pytest.raises(config.ConfigurationError) as info:
        config.secret("STRIPE_SECRET_KEY")
    assert "odys/prod" in str(info.value)
    config.clear_cache()


@pytest.fixture(scope="module")
def tls_postgres():
    """A second throwaway PostgreSQL with TLS on, its certificate signed by a CA made here."""
    from devtools.pg import PostgresServer

    if not shutil.which("openssl"):
        pytest.skip("openssl not installed")
    base = Path(tempfile.mkdtemp(prefix="odys-tls-"))
    base.chmod(0o755)  # the unprivileged server user must reach its data directory
    server = PostgresServer(base / "pg")
    certs = base / "certs"
    certs.mkdir()

    def sh(*args: str) -> None:
        subprocess.run(args, check=True, capture_output=True, cwd=certs)

    for name in ("ca", "other-ca"):
        sh("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={name}",
           "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-keyout", f"{name}.key", "-out", f"{name}.crt")
    sh("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", "server.key",
       "-out", "server.csr")
    # Python 3.13's default context verifies strictly (VERIFY_X509_STRICT): the CA needs its key usage, the
    # leaf its issuer's key id.
    (certs / "ext.cnf").write_text("subjectAltName=DNS:localhost\nauthorityKeyIdentifier=keyid,issuer\n"
                                   "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
                                   "extendedKeyUsage=serverAuth\n")
    sh("openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
       "-days", "2", "-extfile", "ext.cnf", "-out", "server.crt")
    server.start()
    server.stop()
    for name in ("server.crt", "server.key"):
        shutil.copy(certs / name, server.data / name)
        server._chown(server.data / name)
        os.chmod(server.data / name, 0o600)
    with open(server.data / "postgresql.conf", "a") as conf:
        conf.write("\nssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n")
    hba = server.data / "pg_hba.conf"
    hba.write_text("local all all trust\nhostssl all all 127.0.0.1/32 trust\n")
    server.start()
    yield server, certs
    server.stop()


def _connect_with(url: str) -> object:
    from odys import db

    saved = os.environ["DATABASE_URL"]
    db.close()
    os.environ["DATABASE_URL"] = url
    try:
        return db.scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
    finally:
        db.close()
        os.environ["DATABASE_URL"] = saved


def test_database_tls_is_verified_against_the_configured_ca(tls_postgres, monkeypatch):
    from odys.db import DatabaseUnavailable

    server, certs = tls_postgres
    base = f"postgresql://postgres@localhost:{server.port}/postgres"
    assert _connect_with(f"{base}?sslmode=verify-full&sslrootcert={certs / 'ca.crt'}") is True
    with pytest.raises((ssl.SSLCertVerificationError, DatabaseUnavailable)):
        _connect_with(f"{base}?sslmode=verify-full&sslrootcert={certs / 'other-ca.crt'}")
    with pytest.raises((ssl.SSLCertVerificationError, DatabaseUnavailable)):  # system store does not know our CA
        _connect_with(f"{base}?sslmode=verify-full")
    monkeypatch.setenv("ODYS_STAGE", "prod")  # production defaults to verify-full
    with pytest.raises((ssl.SSLCertVerificationError, DatabaseUnavailable)):
        _connect_with(base)


def test_logs_redact_personal_data_and_tokens():
    import io

    from odys.log import logger

    stream = io.StringIO()
    handler = logger._logger.handlers[0]
    previous = handler.setStream(stream)
    logger.warning("booking for +55 11 98765-4321 by ana@example.com", extra={
        "phone": "+5511987654321", "client": {"name": "Ana", "email": "ana@example.com"},
        "headers": {"authorization": "Bearer abc.def.ghi"}, "appointment_id": "a-1"})
    handler.setStream(previous)
    line = json.loads(stream.getvalue().strip().splitlines()[-1])
    text = json.dumps(line)
    assert "98765" not in text and "ana@example.com" not in text and "abc.def.ghi" not in text and "Ana" not in text
    assert line["appointment_id"] == "a-1" and line["phone"] == "[redacted]"


def test_plans_trial_limits_and_features():
    now = dt.datetime(2026, 11, 21, 12, tzinfo=dt.timezone.utc)
    assert plans.effective_plan("free", now + dt.timedelta(days=3), now) == "pro"
    assert plans.effective_plan("premium", now + dt.timedelta(days=3), now) == "premium"
    assert plans.effective_plan("basic", now - dt.timedelta(seconds=1), now) == "basic"
    assert plans.effective_plan("gold", None, now) == "free"
    assert plans.trial_days_left(plans.trial_end(now), now) == 14
    assert plans.trial_days_left(now - dt.timedelta(days=1), now) == 0
    assert plans.plan_allowing("clients", 11) == "basic" and plans.plan_allowing("clients", 51) == "pro"
    assert plans.plan_allowing("appointments_per_month", 20) == "free"
    assert plans.has_feature("pro", "recurring_schedules") and not plans.has_feature("basic", "recurring_schedules")
    assert plans.plan_with_feature("ai_assistant") == "premium"
    assert [p.price_cents for p in plans.PLANS.values()] == [0, 2990, 5990, 9990]
    assert set(plans.PLAN_FEATURES) == set().union(*(p.features for p in plans.PLANS.values()))


def test_price_ids_come_from_configuration(monkeypatch):
    monkeypatch.delenv("STRIPE_PRICE_PRO", raising=False)
    assert plans.PLANS["pro"].price_id is None
    monkeypatch.setenv("STRIPE_PRICE_PRO", "price_pro_123")
    assert plans.PLANS["pro"].price_id == "price_pro_123" and plans.PLANS["free"].price_id is None
