"""The dev server (`make dev`) over real HTTP: requests become API Gateway v2 events, run in worker processes (one
event at a time each, as Lambda), and results become HTTP."""

from __future__ import annotations

import http.client
import json
import os
import signal
import threading
import time

import pytest

from conftest import onboarding_body
from devtools.server import DevHTTPServer


@pytest.fixture
def gateway(postgres, redis_upstash):
    server = DevHTTPServer(("127.0.0.1", 0))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def dev_server(gateway):
    return gateway.server_address[1]


def call(port: int, method: str, path: str, body: bytes | str | None = None, headers: dict | None = None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request(method, path, body=body, headers=headers or {})
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, data


def test_json_round_trip_with_auth_path_parameters_and_query(dev_server, token_for):
    token = token_for()
    status, headers, data = call(dev_server, "POST", "/api/account", json.dumps(onboarding_body("via-http")),
                                 {"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    assert status == 201, data
    assert headers["content-type"] == "application/json" and headers["location"] == "/api/account"
    assert json.loads(data)["slug"] == "via-http"
    status, headers, data = call(dev_server, "GET", "/api/professionals/via-http")
    assert status == 200 and json.loads(data)["name"] == "Ana Souza"
    assert headers["ratelimit-limit"] == "60"  # the public limit, keyed by the caller's address
    status, _, data = call(dev_server, "GET", "/api/professionals/via-http/slots?from=2030-01-01&to=2030-05-01")
    assert status == 422 and json.loads(data)["code"] == "range_too_long"  # the query string reached the handler


def test_errors_stay_problems_over_http(dev_server, token_for):
    token = token_for()
    status, headers, data = call(dev_server, "PATCH", "/api/account", '{"name": ',
                                 {"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    assert status == 400 and headers["content-type"] == "application/problem+json"
    assert json.loads(data)["code"] == "malformed_json"
    status, _, data = call(dev_server, "PATCH", "/api/account", b"\xff\xfe\x00\x01",  # binary: base64 in the event
                           {"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    assert status == 400 and json.loads(data)["code"] == "malformed_json"
    status, headers, data = call(dev_server, "GET", "/api/account")
    assert status == 401 and headers["www-authenticate"].startswith("Bearer")
    status, headers, data = call(dev_server, "GET", "/api/nothing-here")
    assert status == 404 and json.loads(data)["code"] == "route_not_found"


def test_cors_preflight_is_answered_like_api_gateway(dev_server):
    status, headers, _ = call(dev_server, "OPTIONS", "/api/account",
                              headers={"Origin": "http://localhost:5173", "Access-Control-Request-Method": "PATCH"})
    assert status == 204
    assert headers["access-control-allow-origin"] == "http://localhost:5173"
    assert "PATCH" in headers["access-control-allow-methods"]
    assert "Authorization" in headers["access-control-allow-headers"]


def test_concurrent_patches_over_http_each_answer_and_store_their_own_bio(dev_server, token_for):
    tokens = {}
    for n in range(4):
        tokens[f"pro-{n}"] = token = token_for()
        status, _, data = call(dev_server, "POST", "/api/account", json.dumps(onboarding_body(f"pro-{n}")),
                               {"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        assert status == 201, data
    sent = [(slug, f"bio {slug} #{i}") for i in range(10) for slug in tokens]
    answers: list = [None] * len(sent)
    barrier = threading.Barrier(8)

    def client(first: int) -> None:  # 8 clients, each on its own keep-alive connection
        connection = http.client.HTTPConnection("127.0.0.1", dev_server, timeout=60)
        barrier.wait()
        for index in range(first, len(sent), 8):
            slug, bio = sent[index]
            connection.request("PATCH", "/api/account", body=json.dumps({"bio": bio}),
                               headers={"Authorization": f"Bearer {tokens[slug]}", "Content-Type": "application/json"})
            response = connection.getresponse()
            answers[index] = (response.status, json.loads(response.read()))
        connection.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert [status for status, _ in answers] == [200] * len(sent), answers
    assert [(body["slug"], body["bio"]) for _, body in answers] == sent  # every answer is about its own request
    for slug, token in tokens.items():
        status, _, data = call(dev_server, "GET", "/api/account", headers={"Authorization": f"Bearer {token}"})
        assert status == 200 and json.loads(data)["bio"].startswith(f"bio {slug} #")


@pytest.mark.parametrize("method", ["HEAD", "TRACE", "BREW"])
def test_unknown_methods_answer_405_problem_with_allow(dev_server, method):
    status, headers, data = call(dev_server, method, "/api/account")
    assert status == 405 and headers["content-type"] == "application/problem+json"
    assert headers["allow"] == "DELETE, GET, OPTIONS, PATCH, POST"
    if method != "HEAD":  # a HEAD answer has no body
        assert json.loads(data)["code"] == "method_not_allowed" and json.loads(data)["status"] == 405


def test_oversized_header_is_431_problem(dev_server):
    status, headers, data = call(dev_server, "GET", "/api/account", headers={"X-Big": "x" * 70_000})
    assert status == 431 and headers["content-type"] == "application/problem+json"
    assert json.loads(data)["code"] == "request_header_fields_too_large"


def test_access_log_shows_neither_tokens_nor_query_values(dev_server, capsys):
    secret_token = "v1.c2VjcmV0LWFwcG9pbnRtZW50.sig-abcdef0123456789"
    call(dev_server, "GET", f"/api/booking/{secret_token}")
    call(dev_server, "GET", "/api/clients?q=Maria%20da%20Silva&limit=5")
    call(dev_server, "GET", "/api/clients?q=11987654321")
    call(dev_server, "GET", f"/api/not-a-route/{secret_token}?q=Maria")
    log = capsys.readouterr().err
    assert "GET /api/booking/{token} -> 404" in log and "GET /api/clients?q=…&limit=… -> 401" in log
    for personal in (secret_token, "sig-abcdef", "Maria", "Silva", "11987654321"):
        assert personal not in log, log


def test_keep_alive_requests_do_not_wait_for_delayed_acks(dev_server):
    connection = http.client.HTTPConnection("127.0.0.1", dev_server, timeout=30)
    timings = []
    for _ in range(15):
        started = time.perf_counter()
        connection.request("GET", "/api/nothing-here")
        response = connection.getresponse()
        response.read()
        timings.append(time.perf_counter() - started)
        assert response.status == 404
    connection.close()
    assert sorted(timings)[len(timings) // 2] < 0.02, timings  # Nagle + delayed ACK cost ~40 ms per request


def test_a_crashed_worker_answers_500_problem_and_is_replaced(gateway, dev_server, token_for):
    auth = {"Authorization": f"Bearer {token_for()}"}
    assert call(dev_server, "GET", "/api/account", headers=auth)[0] == 404  # onboarding_required: a warm worker
    (pid,) = gateway.workers.pool(gateway.route("GET", "/api/account")[0]).pids()
    os.kill(pid, signal.SIGSTOP)  # the next request goes to this worker, which then dies mid-request
    answer: list = []
    request = threading.Thread(target=lambda: answer.append(call(dev_server, "GET", "/api/account", headers=auth)))
    request.start()
    time.sleep(1)
    os.kill(pid, signal.SIGKILL)
    request.join(30)
    status, headers, data = answer[0]
    assert status == 500 and headers["content-type"] == "application/problem+json"
    assert json.loads(data)["code"] == "function_error"
    status, _, data = call(dev_server, "GET", "/api/account", headers=auth)
    assert status == 404 and json.loads(data)["code"] == "onboarding_required"  # a new worker took over
    assert pid not in gateway.workers.pool(gateway.route("GET", "/api/account")[0]).pids()
