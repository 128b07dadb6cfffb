"""Test harness: a throwaway PostgreSQL and redis-server (behind the Upstash REST double) for the whole session,
every table emptied between tests, and an ``api`` fixture that drives the real handlers with API Gateway v2 events.
"""

from __future__ import annotations

import io
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "layers" / "shared"), str(ROOT)]

JWT_SECRET = "test-jwt-secret-0123456789-0123456789"
os.environ.update({
    "ODYS_STAGE": "test",
    "SUPABASE_JWT_SECRET": JWT_SECRET,
    "POWERTOOLS_SERVICE_NAME": "odys",
    "POWERTOOLS_METRICS_NAMESPACE": "Odys",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "INFO",  # the production level (template.yaml)
    "BOOKING_TOKEN_SECRET": "test-booking-secret-0123456789-0123456789",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
})
for leaked in ("ODYS_SECRETS_ID", "UPSTASH_REDIS_REST_URL", "UPSTASH_REDIS_REST_TOKEN", "SUPABASE_JWKS_URL"):
    os.environ.pop(leaked, None)

from devtools import lambdas  # noqa: E402
from devtools.pg import PostgresServer  # noqa: E402
from devtools.tokens import mint_token  # noqa: E402
from devtools.upstash_double import UpstashDouble, start_redis_server  # noqa: E402

TABLES_KEPT = {"schema_migrations"}


@pytest.fixture(scope="session")
def postgres():
    server = PostgresServer(Path(tempfile.mkdtemp(prefix="odys-test-pg-"))).start()
    server.create_database("odys_test")
    os.environ["DATABASE_URL"] = server.url("odys_test")
    from odys import db, migrate

    migrate.apply_pending()
    yield server
    db.close()
    server.stop()


@pytest.fixture(scope="session")
def redis_upstash():
    redis_server = start_redis_server()
    double = UpstashDouble()
    double.start(redis_server.url, token="test-upstash-token")
    os.environ["UPSTASH_REDIS_REST_URL"] = double.url
    os.environ["UPSTASH_REDIS_REST_TOKEN"] = "test-upstash-token"
    yield double, redis_server
    double.stop()
    redis_server.stop()


@pytest.fixture(autouse=True)
def clean_state(postgres, redis_upstash):
    from odys import db, ratelimit

    tables = [r[0] for r in db.run("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
              if r[0] not in TABLES_KEPT]
    db.run("TRUNCATE " + ", ".join(tables) + " CASCADE")
    import redis

    redis.Redis.from_url(redis_upstash[1].url).flushall()
    ratelimit.reset_for_tests()
    yield


@dataclass
class Result:
    status: int
    headers: dict[str, str]
    body: str
    raw: dict[str, Any]

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type") or self.headers.get("content-type") or ""


class Api:
    """Calls the function that template.yaml routes a request to, with a real API Gateway HTTP API v2 event."""

    def __init__(self) -> None:
        self.routes = lambdas.load_routes()

    def request(self, method: str, path: str, *, token: str | None = None, json_body: Any = None,
                body: str | bytes | None = None, headers: dict[str, str] | None = None,
                query: dict[str, Any] | str | None = None, source_ip: str = "203.0.113.10") -> Result:
        headers = dict(headers or {})
        if json_body is not None:
            body = json.dumps(json_body)
            if not any(k.lower() == "content-type" for k in headers):
                headers["content-type"] = "application/json"
        if token:
            headers["authorization"] = f"Bearer {token}"
        for route in self.routes:
            params = route.match(method.upper(), path)
            if params is not None:
                break
        else:
            raise AssertionError(f"template.yaml routes no {method} {path}")
        event = lambdas.http_event(method, path, route_path=route.path, path_parameters=params or None,
                                   query=query, headers=headers,
                                   body=body, source_ip=source_ip)
        raw = lambdas.invoke(route.function, event)
        return Result(raw["statusCode"], raw.get("headers") or {}, raw.get("body") or "", raw)

    def get(self, path: str, **kw: Any) -> Result:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Result:
        return self.request("POST", path, **kw)

    def put(self, path: str, **kw: Any) -> Result:
        return self.request("PUT", path, **kw)

    def patch(self, path: str, **kw: Any) -> Result:
        return self.request("PATCH", path, **kw)

    def delete(self, path: str, **kw: Any) -> Result:
        return self.request("DELETE", path, **kw)


@pytest.fixture
def api() -> Api:
    return Api()


@pytest.fixture
def token_for():
    def make(sub: str | None = None, **kw: Any) -> str:
        return mint_token(sub, secret=JWT_SECRET, **kw)

    return make


def onboarding_body(slug: str = "ana-psi", **overrides: Any) -> dict[str, Any]:
    body = {"name": "Ana Souza", "slug": slug, "phone": "+5511987654321", "email": f"{slug}@example.com",
            "profession": "Psicóloga", "sessionPrice": 15000, "sessionDurationMinutes": 50}
    body.update(overrides)
    return body


@pytest.fixture
def professional(api, token_for):
    """An onboarded professional: (token, body of POST /api/account)."""
    token = token_for()
    result = api.post("/api/account", token=token, json_body=onboarding_body())
    assert result.status == 201, result.body
    return token, result.json


@pytest.fixture
def open_mornings(api, professional):
    """Ana (São Paulo, 50 + 10 min, 2 h notice, R$ 150) open every morning 09:00-12:00: (token, her offered slots
    3 and 4 days out)."""
    import datetime as dt

    from booking_helpers import configure, local_today, slots_on

    token, _ = professional
    configure(api, token)
    day = local_today() + dt.timedelta(days=3)
    return token, slots_on(api, day, day + dt.timedelta(days=1), ip="198.51.100.7")


@pytest.fixture
def log_lines() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """What the shared logger writes while the test runs (its handler's stream), as parsed JSON lines."""
    from odys.log import logger

    stream = io.StringIO()
    handler = logger._logger.handlers[0]
    previous = handler.setStream(stream)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    handler.setStream(previous)


@pytest.fixture(scope="session")
def moto_sqs():
    """moto's SQS server for the session (devtools.local_sqs, as under make dev)."""
    from devtools.local_sqs import LocalQueue, unique_name

    local = LocalQueue(unique_name(), visibility_timeout=1).start()  # never the dev server's queue name
    yield local
    local.stop()


@pytest.fixture
def sqs(moto_sqs, monkeypatch):
    """A fresh queue + DLQ on moto's server, configured for odys.queue as in Lambda (environment variables only)."""
    from devtools.local_sqs import unique_name
    from odys import queue

    moto_sqs.create(unique_name())
    for key, value in moto_sqs.environment().items():
        monkeypatch.setenv(key, value)
    queue.reset_client()
    yield moto_sqs
    queue.reset_client()


@pytest.fixture
def s3(moto_sqs, monkeypatch):
    """A fresh export bucket on the session's moto server (devtools.local_s3, as under make dev), configured for
    odys.export_bucket as in Lambda (environment variables only)."""
    from devtools.local_s3 import LocalBucket, unique_name
    from odys import export_bucket

    bucket = LocalBucket(unique_name(), endpoint=moto_sqs.endpoint).start()
    for key, value in bucket.environment().items():
        monkeypatch.setenv(key, value)
    export_bucket.reset_client()
    yield bucket
    export_bucket.reset_client()


@pytest.fixture
def kms(moto_sqs, monkeypatch):
    """A KMS key on the session's moto server, as PIX_KMS_KEY_ID (what seals the PSP credentials)."""
    import boto3

    from odys import sealed

    monkeypatch.setenv("AWS_ENDPOINT_URL_KMS", moto_sqs.endpoint)
    key_id = boto3.client("kms", endpoint_url=moto_sqs.endpoint).create_key()["KeyMetadata"]["KeyId"]
    monkeypatch.setenv("PIX_KMS_KEY_ID", key_id)
    sealed.reset_client()
    yield key_id
    sealed.reset_client()


@pytest.fixture(scope="session")
def pix_double():
    """The API Pix stand-in (devtools.pix_double, mutual TLS with a throwaway CA) for the session."""
    from devtools.pix_double import PixDouble

    double = PixDouble().start()
    yield double
    double.stop()


@pytest.fixture
def psp(pix_double):
    """The API Pix stand-in with no clients, charges, webhooks or recorded requests."""
    pix_double.reset()
    return pix_double


@pytest.fixture(scope="session")
def groq_double():
    """The Groq chat-completions stand-in in its fixed-questions mode (the model `make dev` runs without a key)."""
    from devtools.groq_double import GroqDouble

    double = GroqDouble(api_key="gsk_test_fixed_questions_0123456789", fixed_questions=True).start()
    yield double
    double.stop()


WA_TOKEN, WA_PHONE_NUMBER_ID = "wa-test-token-0123456789", "106540352242922"


@pytest.fixture(scope="session")
def whatsapp_double():
    """The Cloud API double (devtools.whatsapp_double) for the session."""
    from devtools.whatsapp_double import WhatsAppDouble

    double = WhatsAppDouble(token=WA_TOKEN, phone_number_id=WA_PHONE_NUMBER_ID).start()
    yield double
    double.stop()


@pytest.fixture
def wa(whatsapp_double, monkeypatch):
    """The double, reset, with the environment the functions send to it with."""
    whatsapp_double.reset()
    for key, value in {"WHATSAPP_GRAPH_URL": whatsapp_double.url, "WHATSAPP_TOKEN": WA_TOKEN,
                       "WHATSAPP_PHONE_NUMBER_ID": WA_PHONE_NUMBER_ID, "WHATSAPP_TIMEOUT_SECONDS": "1"}.items():
        monkeypatch.setenv(key, value)
    return whatsapp_double


@pytest.fixture(scope="module")
def make_dev(tmp_path_factory):
    """A real `make dev` process for the module, its cluster and state file (``.state``) in temporary directories
    (never the checkout's .odys/)."""
    from test_dev_server_process import DevProcess, dev_environment

    state = tmp_path_factory.mktemp("state") / "dev.json"
    env = dev_environment(ODYS_DEV_PG_DIR=str(tmp_path_factory.mktemp("pg") / "pg"), ODYS_DEV_STATE=str(state))
    process = DevProcess(env, tmp_path_factory.mktemp("make-dev"))
    try:
        process.banner = process.wait_ready()
        process.state = state
        yield process
    finally:
        if process.process.poll() is None:
            process.interrupt()
