"""SnapStart hooks (odys.snapstart), played locally through the stand-in as Lambda plays them: nothing
per-environment in the snapshot (no database connection, no secret), and a resumed environment opens its own
connection, re-reads the secret bundle and draws its own random numbers."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from devtools import lambdas
from odys import aws_clients, config, db, snapstart
from test_core import secrets_extension  # noqa: F401 - the extension stand-in over moto's Secrets Manager


@pytest.fixture
def registries(monkeypatch):
    """Hooks and preloads a test registers are forgotten after it (the module's own stay)."""
    monkeypatch.setattr(snapstart, "_before", list(snapstart._before))
    monkeypatch.setattr(snapstart, "_after", list(snapstart._after))
    monkeypatch.setattr(snapstart, "_PRELOADS", list(snapstart._PRELOADS))


def _alive(pid: int) -> bool:
    return bool(db.scalar("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid", pid=pid))


def test_the_snapshot_holds_no_database_connection():
    at_init = db.scalar("SELECT pg_backend_pid()")  # something at init opened the connection
    snapstart.simulate_snapshot()
    resumed = db.scalar("SELECT pg_backend_pid()")
    assert resumed != at_init
    deadline = time.monotonic() + 5
    while _alive(at_init) and time.monotonic() < deadline:  # the server ends the backend once the socket closes
        time.sleep(0.05)
    assert not _alive(at_init)


def test_a_resumed_environment_runs_its_next_query_on_a_new_connection(api, professional):
    before = db.scalar("SELECT pg_backend_pid()")
    snapstart.simulate_restore()
    assert db.scalar("SELECT pg_backend_pid()") != before
    token, _ = professional
    assert api.get("/api/account", token=token).status == 200  # and requests just work


def test_a_resumed_environment_rereads_the_secret_bundle(secrets_extension):  # noqa: F811
    client, arn, server = secrets_extension
    assert config.secret("STRIPE_SECRET_KEY") == "sk_test_x"
    client.put_secret_value(SecretId=arn, SecretString='{"STRIPE_SECRET_KEY": "sk_test_rotated"}')
    assert config.secret("STRIPE_SECRET_KEY") == "sk_test_x" and server.hits == 1  # cached for the TTL
    snapstart.simulate_restore()
    assert config.secret("STRIPE_SECRET_KEY") == "sk_test_rotated" and server.hits == 2


def test_the_snapshot_holds_no_secret(secrets_extension):  # noqa: F811
    _, _, server = secrets_extension
    assert config.secret("STRIPE_SECRET_KEY") == "sk_test_x" and server.hits == 1
    snapstart.simulate_snapshot()
    assert config.secret("STRIPE_SECRET_KEY") == "sk_test_x" and server.hits == 2  # fetched again: none was kept


def test_under_snapstart_the_secret_bundle_is_read_through_the_sdk(secrets_extension, monkeypatch):  # noqa: F811
    """SnapStart gives no AWS_SESSION_TOKEN (container credentials instead): the extension would refuse the call."""
    _, _, server = secrets_extension
    monkeypatch.delenv("AWS_SESSION_TOKEN")
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:9/credentials")
    aws_clients.reset("secretsmanager")
    try:
        assert config.secret("STRIPE_SECRET_KEY") == "sk_test_x" and server.hits == 0
    finally:
        aws_clients.reset("secretsmanager")


def test_random_is_reseeded_after_restore():
    random.seed(1234)  # the state every environment resumed from one snapshot would share
    in_the_snapshot = [random.random() for _ in range(4)]
    random.seed(1234)
    snapstart.simulate_restore()
    assert [random.random() for _ in range(4)] != in_the_snapshot


def test_aws_clients_are_rebuilt_after_restore(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", "http://127.0.0.1:9")
    first = aws_clients.client("sqs")
    assert aws_clients.client("sqs") is first
    snapstart.simulate_restore()
    assert aws_clients.client("sqs") is not first
    aws_clients.reset("sqs")


def test_hooks_run_in_the_runtimes_order_and_preloads_are_imported_before_the_snapshot(registries, monkeypatch):
    calls: list[str] = []
    snapstart.before_snapshot(calls.append, "first registered")
    snapstart.before_snapshot(calls.append, "second registered")
    snapstart.after_restore(calls.append, "restore: first registered")
    snapstart.after_restore(calls.append, "restore: second registered")
    monkeypatch.delitem(sys.modules, "colorsys", raising=False)
    snapstart.preload("colorsys")
    snapstart.simulate_snapshot()
    assert calls == ["second registered", "first registered"] and "colorsys" in sys.modules
    snapstart.simulate_restore()
    assert calls[2:] == ["restore: first registered", "restore: second registered"]


def test_every_http_function_registers_the_hooks_at_init():
    """Each HTTP handler is odys.http's (which imports odys.snapstart at module level), so importing the handler
    module at init registers the hooks; Lambda ignores hooks of a module the handler does not import."""
    functions = sorted({route.function for route in lambdas.load_routes()})
    assert len(functions) > 20
    for name in functions:
        handler = lambdas.load_function(name).lambda_handler
        assert handler.__module__ == "odys.http" and "lambda_handler_for" in handler.__qualname__, name
    assert snapstart._leave_nothing_per_environment in [hook[0] for hook in snapstart._before]
    assert snapstart._forget_per_environment_state in [hook[0] for hook in snapstart._after]


def test_a_cold_start_builds_only_the_models_it_uses_and_the_snapshot_builds_them_all():
    """ApiModel's ``defer_build``: a plain cold start of ``booking`` builds no validator its first request does not
    need (the manage link's body, the slot query); before a snapshot every model's validator is built, so no
    environment resumed from it builds one. In a fresh interpreter: this session has used most models already."""
    code = textwrap.dedent("""
        import json
        from devtools import lambdas
        from odys import booking, fields, slots, snapstart

        def models(base):
            for model in base.__subclasses__():
                yield model
                yield from models(model)

        lambdas.load_function("booking")
        cold = {m.__name__: m.__pydantic_complete__ for m in (booking.BookingIn, booking.BookingChange)}
        booking.BookingIn.model_validate({"slug": "ana-psi", "startsAt": "2026-12-01T12:00:00Z",
                                          "client": {"name": "Ana", "phone": "11987654321"}})
        used = booking.BookingIn.__pydantic_complete__, booking.BookingChange.__pydantic_complete__
        snapstart.simulate_snapshot()
        print(json.dumps({"cold": cold, "used": used, "slots": slots.SlotsQuery.__pydantic_complete__,
                          "pending": [m.__name__ for m in models(fields.ApiModel) if not m.__pydantic_complete__],
                          "models": len(list(models(fields.ApiModel)))}))
    """)
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root / "layers" / "shared"), str(root)])}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=root, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["cold"] == {"BookingIn": False, "BookingChange": False}
    assert seen["used"] == [True, False]  # the body validated builds its own model only
    assert seen["slots"] is True and seen["pending"] == [] and seen["models"] >= 5


def test_the_field_types_doctests():
    import doctest

    from odys import fields

    assert doctest.testmod(fields).failed == 0
