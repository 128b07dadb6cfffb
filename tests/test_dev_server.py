"""The dev server (`make dev`) over real HTTP: requests become API Gateway v2 events and results become HTTP."""

from __future__ import annotations

import http.client
import json
import threading

import pytest

from conftest import onboarding_body
from devtools import lambdas
from devtools.server import DevHTTPServer, Gateway


@pytest.fixture
def dev_server(postgres, redis_upstash):
    Gateway.routes = lambdas.load_routes()
    server = DevHTTPServer(("127.0.0.1", 0), Gateway)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


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
    status, _, data = call(dev_server, "PATCH", "/api/account", b"\xff\xfe\x00\x01",
                           {"Authorization": f"Bearer {token}"})  # binary: travels base64-encoded in the event
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
