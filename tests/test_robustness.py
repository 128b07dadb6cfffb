"""Every route of template.yaml answers hostile input with a problem, never a 5xx (a 500 is a bug)."""

from __future__ import annotations

import base64
import json
import re

import pytest

from devtools import lambdas

BODIES: list[object] = [None, "", "null", "[]", '"text"', "{", '{"a": 1}', "{}", b"\xff\xfe\x00binary",
                        '{"startsAt": "yesterday", "clientId": "x", "plan": 5, "windows": "all", "action": "fly"}',
                        '{"name": "' + "x" * 5000 + '"}', '{"name": ' + "[" * 1000 + "]" * 1000 + "}"]
PATH_VALUES = ["not-a-uuid", "00000000-0000-0000-0000-000000000000", "%00", "x" * 300]
QUERIES = ["from=nope&to=2026-13-45&limit=-1&cursor=%%%&status=bogus", "limit=99999999999999999999&q=" + "%" * 10]


def _routes():
    return lambdas.load_routes()


@pytest.mark.parametrize("route", _routes(), ids=lambda r: f"{r.method} {r.path}")
def test_hostile_requests_get_problems_not_5xx(api, professional, route, monkeypatch):
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", "whsec_robustness")  # configured, as in production
    token, _ = professional
    names = re.findall(r"\{(\w+)\}", route.path)
    for value in PATH_VALUES:
        path = route.path
        for name in names:
            path = path.replace("{" + name + "}", value)
        has_body = route.method in ("POST", "PUT", "PATCH", "DELETE")
        cases = [(b, None) for b in BODIES] if has_body else [(None, q) for q in [None, *QUERIES]]
        for body, query in cases:
            result = api.request(route.method, path, token=token, body=body, query=query,
                                 headers={"content-type": "application/json", "stripe-signature": "t=1,v1=00"})
            assert result.status < 500, (route.path, value, body, query, result.body)
            if result.status >= 400:
                assert result.content_type == "application/problem+json", (route.path, result.headers)
                assert '"code":' in result.body
        if not names:
            break


EXTREME_INSTANTS = ["9999-12-31T23:30:00Z", "0001-01-01T00:00:00+01:00"]


def _cursor(values: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def test_dates_at_the_ends_of_the_calendar_are_422_not_5xx(api, professional):
    """Shifting them (to UTC, to a time zone, by a session's length) would overflow ``datetime``."""
    token, _ = professional
    assert api.patch("/api/account", token=token, json_body={"timezone": "Asia/Tokyo"}).status == 200
    client_id = api.post("/api/clients", token=token, json_body={"name": "Bia", "phone": "+5511988887777"}).json["id"]
    created = api.post("/api/appointments", token=token,
                       json_body={"clientId": client_id, "startsAt": "2030-01-07T13:00:00Z"})
    assert created.status == 201, created.body
    for instant in EXTREME_INSTANTS:
        results = [
            api.post("/api/appointments", token=token, json_body={"clientId": client_id, "startsAt": instant}),
            api.post("/api/appointments", token=token,
                     json_body={"clientId": client_id, "startsAt": "0002-01-01T09:00:00Z", "endsAt": instant}),
            api.patch(f"/api/appointments/{created.json['id']}", token=token, json_body={"startsAt": instant}),
            api.get("/api/appointments", token=token, query={"from": instant}),
            api.get("/api/appointments", token=token, query={"to": instant}),
            api.post("/api/booking", json_body={"slug": "ana-psi", "startsAt": instant,
                                                "client": {"name": "Bia", "phone": "+5511988887777"}}),
            api.patch("/api/booking/whatever", json_body={"action": "reschedule", "startsAt": instant}),
        ]
        for result in results:
            assert result.status == 422, (instant, result.body)
    for day in ("0001-01-01", "9999-12-31"):
        assert api.get("/api/appointments", token=token, query={"from": day, "to": day}).status == 422
    result = api.post("/api/recurring-schedules", token=token, json_body={
        "clientId": client_id, "dayOfWeek": 1, "startTime": "10:00", "startsOn": "9999-12-30"})
    assert result.status == 422, result.body
    assert api.get("/api/clients", token=token).status == 200  # the connection is still in step


@pytest.mark.parametrize("path, values", [
    ("/api/appointments", {"k": "appointments", "s": "2026-01-01T00:00:00+00:00", "i": 5}),
    ("/api/appointments", {"k": "appointments", "s": "2026-01-01T00:00:00",  # no offset
                           "i": "00000000-0000-0000-0000-000000000000"}),
    ("/api/appointments", {"k": "appointments", "s": "9999-12-31T23:00:00-05:00",
                           "i": "00000000-0000-0000-0000-000000000000"}),
    ("/api/appointments", {"k": "appointments", "i": "00000000-0000-0000-0000-000000000000"}),
    ("/api/clients", {"k": "clients", "o": 10**20}),
    ("/api/notifications", {"k": "notifications", "c": "2026-01-01T00:00:00",  # no offset
                            "i": "00000000-0000-0000-0000-000000000000"}),
    ("/api/notifications", {"k": "notifications", "c": "9999-12-31T23:00:00-05:00", "i": "x"}),
    ("/api/notifications", {"k": "messages", "c": "2026-01-01T00:00:00+00:00",  # another list's cursor
                            "i": "00000000-0000-0000-0000-000000000000"}),
])
def test_tampered_cursors_are_400(api, professional, path, values):
    token, _ = professional
    result = api.get(path, token=token, query={"cursor": _cursor(values)})
    assert result.status == 400, result.body
    assert result.json["code"] == "invalid_cursor"
    assert api.get("/api/clients", token=token).json["clients"] == []  # the connection is still in step


def test_nul_characters_are_a_422_naming_the_field(api, professional):
    token, _ = professional
    result = api.patch("/api/account", token=token, json_body={"bio": "hello\u0000world"})
    assert result.status == 422 and result.content_type == "application/problem+json"
    assert [e["field"] for e in result.json["errors"]] == ["bio"]
    result = api.post("/api/clients", token=token, json_body={"name": "A\u0000", "phone": "+5511988887777"})
    assert result.status == 422 and result.json["errors"][0]["field"] == "name"


def test_values_the_database_refuses_are_a_422_not_a_500(api):
    result = api.get("/api/professionals/ana\u0000psi")  # a path value no model validated
    assert result.status in (404, 422) and result.content_type == "application/problem+json"
