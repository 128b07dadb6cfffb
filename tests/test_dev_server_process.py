"""`make dev` as a real process (``python -m devtools.server``): where it puts its cluster, how its defaults yield to
the environment, that its worker processes see what it configured, its one-line failures, and Ctrl-C."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from conftest import ROOT, onboarding_body
from devtools.pg import RELOCATION_ROOT, PostgresServer, free_port
from devtools.server import DEV_JWT_SECRET
from devtools.tokens import mint_token

as_root = pytest.mark.skipif(os.geteuid() != 0, reason="PostgreSQL runs as another user only when we are root")


def dev_environment(**extra: str) -> dict[str, str]:
    """A shell's environment, not the test run's (no DATABASE_URL, Upstash or test secrets)."""
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "USER")}
    return {**keep, "PORT": str(free_port()), "ODYS_DEV_PG_PORT": str(free_port()),
            "POWERTOOLS_LOG_LEVEL": "WARNING",  # the state file for `make invoke`: not the checkout's .odys/dev.json
            "ODYS_DEV_STATE": str(Path(tempfile.gettempdir()) / f"odys-test-dev-{os.getpid()}-{free_port()}.json"),
            **extra}


class DevProcess:
    """``python -m devtools.server`` in its own session (so Ctrl-C can be sent to its whole process group)."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env, self.port = env, int(env["PORT"])
        self.stderr_path = log_dir / "stderr.log"
        self.lines: list[str] = []
        self._banner = threading.Event()
        with open(self.stderr_path, "w") as stderr:
            self.process = subprocess.Popen([sys.executable, "-m", "devtools.server"], cwd=ROOT, env=env, text=True,
                                            stdout=subprocess.PIPE, stderr=stderr, start_new_session=True)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line)
            if "Ctrl-C stops everything." in line:
                self._banner.set()

    def wait_ready(self, timeout: float = 120) -> str:
        deadline = time.monotonic() + timeout
        while not self._banner.wait(0.2):
            assert self.process.poll() is None and time.monotonic() < deadline, self.output()
        return "".join(self.lines)

    def output(self) -> str:
        return "".join(self.lines) + self.stderr_path.read_text()

    def request(self, method: str, path: str, body: bytes | str | None = None, headers: dict | None = None):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        data = response.read()
        connection.close()
        return response.status, json.loads(data) if data else None

    def session(self) -> list[str]:
        """What still runs in the server's session: the server and its worker processes (pg_ctl detaches postgres)."""
        out = subprocess.run(["ps", "-o", "pid=,args=", "-s", str(self.process.pid)], capture_output=True, text=True)
        return [line.strip() for line in out.stdout.splitlines() if line.strip()]

    def interrupt(self, timeout: float = 60) -> int:
        os.killpg(self.process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        return self.process.wait(timeout)


@pytest.fixture(scope="module")
def make_dev(tmp_path_factory):
    """`make dev` from a checkout inside a mode-700 directory, with a configured Stripe webhook secret."""
    private = Path(tempfile.mkdtemp(prefix="odys-private-"))  # mode 700: postgres cannot enter it
    env = dev_environment(ODYS_DEV_PG_DIR=str(private / "checkout" / ".odys" / "pg"),
                          STRIPE_WEBHOOK_SECRET="whsec_configured_by_the_developer")
    dev = DevProcess(env, tmp_path_factory.mktemp("make-dev"))
    try:
        dev.banner = dev.wait_ready()
        yield dev
    finally:
        if dev.process.poll() is None:
            dev.interrupt()
        relocated = re.search(r"cluster in (\S+?)[,;)]", "".join(dev.lines))
        if relocated and relocated.group(1).startswith(str(RELOCATION_ROOT)):
            shutil.rmtree(relocated.group(1), ignore_errors=True)
        shutil.rmtree(private, ignore_errors=True)


def signed(payload: str, secret: str) -> str:
    timestamp = int(time.time())
    digest = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def test_make_dev_keeps_a_configured_stripe_webhook_secret(make_dev):
    event = json.dumps({"id": "evt_dev_1", "object": "event", "type": "customer.created", "created": int(time.time()),
                        "data": {"object": {"id": "cus_dev_1", "object": "customer"}}})
    for secret, expected in (("whsec_configured_by_the_developer", 200), ("whsec_odys_dev", 400)):
        status, body = make_dev.request("POST", "/api/stripe/webhook", event, {
            "Content-Type": "application/json", "Stripe-Signature": signed(event, secret)})
        assert status == expected, (secret, body)


def test_its_workers_see_the_database_and_secrets_it_configured(make_dev):
    token = mint_token(secret=DEV_JWT_SECRET)
    auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    status, body = make_dev.request("POST", "/api/account", json.dumps(onboarding_body("from-a-worker")), auth)
    assert status == 201, body
    status, body = make_dev.request("PATCH", "/api/account", json.dumps({"bio": "Terapia breve."}), auth)
    assert status == 200 and body["bio"] == "Terapia breve."
    status, body = make_dev.request("GET", "/api/professionals/demo")
    assert status == 200 and body["name"] == "Dra. Demo Oliveira"  # the seed, in the database it created


@as_root
def test_the_cluster_lives_where_postgres_can_reach_it(make_dev):
    assert re.search(rf"cluster in {RELOCATION_ROOT}/odys-pg-\w+, as postgres cannot reach ", make_dev.banner), \
        make_dev.banner


def test_the_access_log_of_make_dev_holds_no_tokens_or_queries(make_dev):
    make_dev.request("GET", "/api/booking/v1.c2VjcmV0.signature-0123456789")
    make_dev.request("GET", "/api/clients?q=Joana%20Prado")
    log = make_dev.stderr_path.read_text()
    assert "GET /api/booking/{token} -> 404" in log and "GET /api/clients?q=… -> 401" in log
    assert "signature-0123456789" not in log and "Joana" not in log


def test_ctrl_c_stops_everything_it_started(make_dev):
    assert any("devtools.server" not in line for line in make_dev.session())  # workers (and postgres) run
    assert make_dev.interrupt() == 0
    for _ in range(50):
        if not make_dev.session():
            break
        time.sleep(0.1)
    assert make_dev.session() == []
    assert "odys dev server stopped" in "".join(make_dev.lines)
    assert "Traceback" not in make_dev.stderr_path.read_text()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", int(make_dev.env["ODYS_DEV_PG_PORT"])), timeout=2)


def test_make_dev_uses_a_configured_database_instead_of_its_own(postgres, tmp_path):
    pg_dir = tmp_path / "unused-pg"
    env = dev_environment(DATABASE_URL=postgres.url("odys_test"), ODYS_DEV_PG_DIR=str(pg_dir))
    dev = DevProcess(env, tmp_path)
    try:
        banner = dev.wait_ready()
        assert "(from DATABASE_URL;" in banner and not pg_dir.exists()
        status, body = dev.request("GET", "/api/professionals/demo")
        assert status == 200 and body["slug"] == "demo"
    finally:
        assert dev.interrupt() == 0


def test_a_cluster_that_cannot_start_is_one_line_not_a_traceback():
    reachable = Path(tempfile.mkdtemp(prefix="odys-pg-"))
    reachable.chmod(0o755)  # this test is not about relocation
    try:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            env = dev_environment(ODYS_DEV_PG_DIR=str(reachable / "pg"), ODYS_DEV_PG_PORT=str(port))
            result = subprocess.run([sys.executable, "-m", "devtools.server"], cwd=ROOT, env=env,
                                    capture_output=True, text=True, timeout=120)
    finally:
        shutil.rmtree(reachable, ignore_errors=True)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"make dev: port {port} is in use: choose another (ODYS_DEV_PG_PORT=54330 make dev)"), result.stderr


@as_root
def test_postgres_server_under_a_closed_directory_relocates_its_cluster():
    private = Path(tempfile.mkdtemp(prefix="odys-private-"))  # mode 700, owned by root
    server = PostgresServer(private / "checkout" / ".odys" / "pg")
    try:
        server.start()
        assert server.relocated and server.base.parent == RELOCATION_ROOT
        assert server.psql("SELECT 1").strip() == "1"
        again = PostgresServer(private / "checkout" / ".odys" / "pg")
        assert again.base == server.base  # the same checkout finds its cluster again
    finally:
        server.stop()
        shutil.rmtree(server.base, ignore_errors=True)
        shutil.rmtree(private, ignore_errors=True)
