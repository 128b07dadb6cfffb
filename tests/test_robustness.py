"""Every route of template.yaml answers hostile input with a problem, never a 5xx (a 500 is a bug)."""

from __future__ import annotations

import re

import pytest

from devtools import lambdas

BODIES: list[object] = [None, "", "null", "[]", '"text"', "{", '{"a": 1}', "{}", b"\xff\xfe\x00binary",
                        '{"startsAt": "yesterday", "clientId": "x", "plan": 5, "windows": "all", "action": "fly"}',
                        '{"name": "' + "x" * 5000 + '"}']
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
