"""Against a real `make dev` (its own cluster, rate limits relaxed by ODYS_RATE_LIMITS_RELAXED): Swagger UI at /docs
renders every operation in headless Chromium, and schemathesis fuzzes every operation of docs/openapi.json with the
demo professional's token (fixed seed, bounded examples): no 5xx, and no answer that contradicts the document.
``DELETE /api/account`` runs in a second pass with a user of its own, so the demo data stays for the first."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from conftest import onboarding_body
from devtools import openapi
from devtools.server import DEV_JWT_SECRET
from devtools.tokens import mint_token
from test_dev_server_process import DevProcess, dev_environment

CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,"
          "response_schema_conformance")
SEED = 20261201
MAX_EXAMPLES = 15  # per operation and phase: ~2,200 cases, about a minute on the 2-vCPU VM
CHROMIUM = shutil.which("chromium")


@pytest.fixture(scope="module")
def dev(tmp_path_factory):
    env = dev_environment(ODYS_DEV_PG_DIR=str(tmp_path_factory.mktemp("pg") / "pg"), ODYS_RATE_LIMITS_RELAXED="1")
    process = DevProcess(env, tmp_path_factory.mktemp("fuzz-dev"))
    try:
        process.banner = process.wait_ready()
        process.url = f"http://127.0.0.1:{process.port}"
        process.token = re.search(r"export TOKEN=(\S+)", process.banner).group(1)
        yield process
    finally:
        if process.process.poll() is None:
            process.interrupt()


def test_the_dev_server_serves_the_document_with_its_own_url_and_a_strict_csp_on_docs(dev):
    import urllib.request

    with urllib.request.urlopen(f"{dev.url}/openapi.json", timeout=60) as response:
        document = json.loads(response.read())
    assert document["servers"] == [{"url": dev.url}]
    assert set(document["paths"]) == set(json.loads(openapi.DOCUMENT_PATH.read_text())["paths"])
    with urllib.request.urlopen(f"{dev.url}/docs", timeout=30) as response:
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "default-src 'none'" in csp and "unsafe-eval" not in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "cdn" not in response.read().decode().lower()
    assert "API docs: " + dev.url + "/docs" in dev.banner


@pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"),  # make test's bootstrap installs it; CI must have it
                    reason="Debian's chromium is not installed (apt-get install chromium)")
def test_swagger_ui_lists_every_operation_in_headless_chromium(dev):
    assert CHROMIUM, "Debian's chromium is missing: make test's bootstrap (devtools/bootstrap.sh) installs it"
    profile = tempfile.mkdtemp(prefix="odys-chromium-")
    try:
        dom = subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", "--virtual-time-budget=20000", "--dump-dom", f"{dev.url}/docs"],
            capture_output=True, text=True, timeout=120).stdout
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    document = json.loads(openapi.DOCUMENT_PATH.read_text())
    missing = [f"{method.upper()} {path} ({op['operationId']})" for path, item in document["paths"].items()
               for method, op in item.items()
               if f'id="operations-{op["tags"][0]}-{op["operationId"]}"' not in dom or f'data-path="{path}"' not in dom]
    assert "Odys API" in dom
    assert not missing, "Swagger UI did not render: " + ", ".join(missing)


def _fuzz(dev, token: str, *operation_filter: str, tmp: Path) -> tuple[int, str, float]:
    started = time.monotonic()
    run = subprocess.run(
        [str(Path(sys.executable).parent / "schemathesis"), "run", str(openapi.DOCUMENT_PATH), "--url", dev.url,
         "-H", f"Authorization: Bearer {token}", "--checks", CHECKS, "--max-examples", str(MAX_EXAMPLES),
         "--seed", str(SEED), "--generation-allow-x00", "false", "--generation-database", "none",
         "--phases", "examples,coverage,fuzzing",
         "--workers", "2", "--no-color", "--report-dir", str(tmp), *operation_filter],
        cwd=tmp, capture_output=True, text=True, timeout=900)  # its cache lands there, not in the checkout
    return run.returncode, run.stdout + run.stderr, time.monotonic() - started


def _summary(output: str) -> str:
    cases = re.search(r"Test cases:\s*\n\s*(.+)", output)
    return cases.group(1).strip() if cases else "no summary"


def _report(capsys, line: str) -> None:
    """A line in `make test`'s own output (pytest -q captures prints of passing tests)."""
    with capsys.disabled():
        print(f"\n{line}")


def test_schemathesis_finds_no_server_error_and_no_answer_contradicting_the_document(dev, tmp_path, capsys):
    code, output, seconds = _fuzz(dev, dev.token, "--exclude-operation-id", "deleteAccount", tmp=tmp_path)
    _report(capsys, f"schemathesis (every operation but deleteAccount): {_summary(output)} in {seconds:.0f} s")
    assert code == 0, output[output.find("FAILURES"):][:20_000] if "FAILURES" in output else output[-20_000:]


def test_schemathesis_on_delete_account_with_a_user_of_its_own(dev, tmp_path, capsys):
    token = mint_token(secret=DEV_JWT_SECRET, expires_in=3600)
    status, body = dev.request("POST", "/api/account", json.dumps(onboarding_body("fuzz-delete-me")),
                               {"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    assert status == 201, body
    code, output, seconds = _fuzz(dev, token, "--include-operation-id", "deleteAccount", tmp=tmp_path)
    _report(capsys, f"schemathesis (deleteAccount, its own user): {_summary(output)} in {seconds:.0f} s")
    assert code == 0, output[-20_000:]
