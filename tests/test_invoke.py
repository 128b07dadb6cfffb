"""`make invoke FN=<function> [EVENT=path.json]` (devtools/invoke.py) against a real `make dev` process started here:
the state file it reads (mode 600, removed on stop), the scheduler event it builds for now or reads from a file,
its one-line refusals; and the times ``ODYS_DEV_CRONS=1`` runs the daily crons at."""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
import subprocess
import sys
import threading

import pytest
from test_dev_server_process import dev_environment

from conftest import ROOT
from devtools.invoke import DevCrons

UTC = dt.timezone.utc


@pytest.fixture(scope="module")
def dev(make_dev):
    return make_dev


def make_invoke(dev, *args: str) -> subprocess.CompletedProcess:
    env = {**dev_environment(), "ODYS_DEV_STATE": str(dev.state)}
    return subprocess.run(["make", "-s", "invoke", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


def test_the_dev_server_writes_a_private_state_file_and_says_how_to_invoke(dev):
    assert "make invoke FN=<function>" in dev.banner and "crons      off" in dev.banner
    mode = stat.S_IMODE(os.stat(dev.state).st_mode)
    assert mode == 0o600
    state = json.loads(dev.state.read_text())
    assert state["pid"] == dev.process.pid and state["url"] == f"http://127.0.0.1:{dev.port}"
    environment = state["environment"]
    for key in ("DATABASE_URL", "WHATSAPP_QUEUE_URL", "AWS_ENDPOINT_URL_SQS", "WHATSAPP_GRAPH_URL", "WHATSAPP_TOKEN",
                "SUPABASE_JWT_SECRET", "BOOKING_TOKEN_SECRET"):
        assert environment.get(key), key


def test_make_invoke_runs_the_housekeeping_for_now_and_prints_its_summary(dev):
    first = make_invoke(dev, "FN=cron_housekeeping")
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout)
    assert set(summary) == {"scheduledTime", "recurring", "purged"}
    scheduled = dt.datetime.fromisoformat(summary["scheduledTime"])
    assert abs((dt.datetime.now(UTC) - scheduled).total_seconds()) < 120   # the default event: "now"
    assert summary["recurring"]["failed"] == 0
    assert 'invoking cron_housekeeping with {"scheduledTime": "' in first.stderr   # the event (and logs): stderr
    again = json.loads(make_invoke(dev, "FN=cron_housekeeping").stdout)
    assert again["recurring"]["created"] == 0 and set(again["purged"].values()) == {0}


def test_make_invoke_reads_the_event_from_a_file(dev, tmp_path):
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"scheduledTime": "2026-12-02T10:30:00Z"}))
    done = make_invoke(dev, "FN=cron_housekeeping", f"EVENT={event}")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["scheduledTime"] == "2026-12-02T10:30:00+00:00"


def test_make_invoke_refuses_in_one_line(dev, tmp_path):
    for args, expected in ((["FN=clients"], "clients is an HTTP function"),
                           (["FN=cron_nothing"], "no function cron_nothing in template.yaml"),
                           ([], "say which function"),
                           (["FN=migrate", f"EVENT={tmp_path / 'missing.json'}"], "cannot read the event")):
        refused = make_invoke(dev, *args)
        assert refused.returncode != 0 and expected in refused.stderr, (args, refused.stderr)
    gone = subprocess.run([sys.executable, "-m", "devtools.invoke", "migrate"], cwd=ROOT, capture_output=True,
                          text=True, env={**dev_environment(), "ODYS_DEV_STATE": str(tmp_path / "none.json")})
    assert gone.returncode == 2 and "no running `make dev`" in gone.stderr


def test_dev_crons_run_the_daily_functions_at_their_sao_paulo_times():
    crons = DevCrons(lambda name, timeout, event: None)
    names = [name for name, *_ in crons.times]
    assert "cron_housekeeping" in names
    assert ("cron_housekeeping", 7, 30, "America/Sao_Paulo") in crons.times
    at, name = crons.next_run(dt.datetime(2026, 12, 2, 10, 0, tzinfo=UTC))   # 07:00 in São Paulo
    assert (at, name) == (dt.datetime(2026, 12, 2, 10, 30, tzinfo=UTC), "cron_housekeeping")
    at, name = crons.next_run(dt.datetime(2026, 12, 2, 23, 0, tzinfo=UTC))   # 20:00: tomorrow's first
    assert (at, name) == (dt.datetime(2026, 12, 3, 10, 30, tzinfo=UTC), "cron_housekeeping")


def test_dev_crons_invoke_a_due_cron_with_its_scheduler_event():
    instants = iter([dt.datetime(2026, 12, 2, 10, 29, 59, 900000, tzinfo=UTC)])
    calls: list[tuple[str, dict]] = []
    done = threading.Event()

    def run(name, timeout, event):
        calls.append((name, event))
        done.set()

    crons = DevCrons(run, clock=lambda: next(instants, dt.datetime(2026, 12, 2, 10, 30, 1, tzinfo=UTC))).start()
    try:
        assert done.wait(10)
    finally:
        crons.stop()
    assert calls == [("cron_housekeeping", {"scheduledTime": "2026-12-02T10:30:00Z"})]


def test_make_invoke_feeds_the_sender_from_the_dev_queue(dev):
    done = make_invoke(dev, "FN=whatsapp_sender")
    assert done.returncode == 0, done.stderr
    assert set(json.loads(done.stdout)) == {"received", "deleted", "result"}


def test_the_state_file_goes_when_the_dev_server_stops(dev):
    assert dev.interrupt() == 0
    assert not dev.state.exists()
