"""The HTTP edge through real API Gateway v2 events: media types, hostile JSON, RateLimit-* headers on every
answer of a rate-limited route, the per-professional booking ceiling, instants and time zones."""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import json
import uuid
import zoneinfo

import pytest
from booking_helpers import booking_body, configure, local_today, professional_id, slots_on
from devtools.concurrency import concurrently
from pydantic import TypeAdapter, ValidationError

from devtools.stripe_double import signed_delivery
from odys import db, fields, ratelimit
from test_account import assert_problem

RATE_LIMIT_HEADERS = ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset")


def _unoffered(days: int = 3) -> str:
    """A well-formed instant that is no slot (the professional has no availability): 422 slot_unavailable."""
    return (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=days)).replace(microsecond=0).isoformat()


# --- 13: Content-Type --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("content_type", [None, "text/plain", "text/plain;charset=UTF-8",
                                          "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                                          "application/jsonp", "application/problem+json"])
def test_json_routes_answer_415_to_bodies_not_declared_json(api, professional, content_type):
    token, _ = professional
    headers = {"content-type": content_type} if content_type else {}
    client = json.dumps({"name": "Bia", "phone": "+5511988887777"})
    booking = json.dumps(booking_body(_unoffered()))
    for result in (api.post("/api/booking", body=booking, headers=headers, source_ip="192.0.2.200"),
                   api.post("/api/clients", token=token, body=client, headers=headers),
                   api.patch("/api/account", token=token, body='{"bio": "x"}', headers=headers)):
        assert_problem(result, 415, "unsupported_media_type")
    assert db.scalar("SELECT count(*) FROM clients") == 0
    assert db.scalar("SELECT bio FROM professionals") is None


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8",
                                          "Application/JSON;Charset=UTF-8", " application/json "])
def test_json_with_parameters_or_any_case_is_accepted(api, professional, content_type):
    token, _ = professional
    result = api.post("/api/clients", token=token, headers={"Content-Type": content_type},
                      body=json.dumps({"name": "Bia", "phone": "+5511988887777"}))
    assert result.status == 201, result.body


def test_a_request_without_a_body_still_says_body_required(api, professional):
    token, _ = professional
    assert_problem(api.post("/api/clients", token=token), 400, "body_required")


def test_the_stripe_webhook_verifies_its_raw_body_whatever_the_content_type(api, monkeypatch):
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", "whsec_edge_0123456789")
    event = {"id": "evt_edge_1", "object": "event", "type": "customer.created", "created": 1_800_000_000,
             "data": {"object": {"id": "cus_edge", "object": "customer"}}}
    body, headers = signed_delivery(event, "whsec_edge_0123456789")
    for content_type in ("application/json; charset=utf-8", None):
        sent = dict(headers)
        if content_type is None:
            sent.pop("content-type")
        result = api.post("/api/stripe/webhook", body=body, headers=sent)
        assert result.status == 200, result.body


# --- 12: hostile JSON ---------------------------------------------------------------------------------------------

def _json_routes() -> list[tuple[str, str]]:
    from devtools import lambdas

    return [(r.method, r.path) for r in lambdas.load_routes()
            if r.method in ("POST", "PUT", "PATCH", "DELETE") and r.path != "/api/stripe/webhook"]


@pytest.mark.parametrize("depth", [33, 1_000, 100_000])
def test_deeply_nested_json_is_400_malformed_json_on_every_json_route(api, professional, depth):
    token, _ = professional
    nested = '{"name": ' + "[" * depth + "]" * depth + "}"
    answered = set()
    for method, path in _json_routes():
        path = path.replace("{token}", "not-a-token")
        for name in ("id", "slug"):
            path = path.replace("{" + name + "}", str(uuid.uuid4()))
        result = api.request(method, path, token=token, body=nested, headers={"content-type": "application/json"},
                             source_ip=f"198.51.100.{len(answered) + 1}")
        assert result.status < 500, (method, path, result.body)
        if result.status == 400:
            assert result.json["code"] == "malformed_json", (method, path, result.body)
            answered.add(path)
    assert {"/api/booking", "/api/clients", "/api/account", "/api/availability",
            "/api/appointments", "/api/recurring-schedules"} <= answered


def test_json_nested_within_the_limit_reaches_validation(api, professional):
    token, _ = professional
    result = api.post("/api/clients", token=token, json_body={"name": [[[[["x"]]]]], "phone": "+5511988887777"})
    assert_problem(result, 422, "validation_error")


@pytest.mark.parametrize("text", ["\\ud800", "a\\udfffb", "\\ud83d"])
def test_lone_surrogates_in_a_body_are_a_clear_4xx_on_every_json_route(api, professional, text):
    """JSON may escape half of a surrogate pair; such a string is no text. Whatever route gets it answers a
    problem (the answer's JSON may have to carry it back: odys.jsonfmt writes what orjson refuses), never a 500."""
    token, _ = professional
    body = '{"name": "%s", "slug": "%s", "phone": "%s", "notes": "%s", "action": "%s", "startsAt": "%s"}' % (
        (text,) * 6)
    refused = set()
    for i, (method, path) in enumerate(_json_routes()):
        path = path.replace("{token}", "not-a-token")
        for name in ("id", "slug"):
            path = path.replace("{" + name + "}", str(uuid.uuid4()))
        result = api.request(method, path, token=token, body=body, headers={"content-type": "application/json"},
                             source_ip=f"198.51.100.{i + 1}")
        assert result.status < 500, (method, path, result.status, result.body)
        if result.status >= 400:
            refused.add(path)
            assert result.json["code"], (method, path, result.body)
    assert {"/api/booking", "/api/clients", "/api/account", "/api/appointments"} <= refused


def test_the_json_writer_writes_what_orjson_refuses_as_the_standard_library_does():
    import doctest

    from odys import jsonfmt

    assert doctest.testmod(jsonfmt).failed == 0


# --- 19: RateLimit-* on every answer of a rate-limited route ----------------------------------------------------

def test_rate_limited_routes_send_ratelimit_headers_on_errors_too(api, professional):
    token, _ = professional
    results = {
        "201": api.post("/api/clients", token=token, json_body={"name": "Bia", "phone": "+5511988887777"}),
        "400": api.post("/api/clients", token=token, body="{", headers={"content-type": "application/json"}),
        "415": api.post("/api/clients", token=token, body="{}", headers={"content-type": "text/plain"}),
        "422": api.post("/api/clients", token=token, json_body={"name": ""}),
        "409": api.post("/api/clients", token=token, json_body={"name": "Bia", "phone": "+5511988887777"}),
        "404": api.get(f"/api/clients/{uuid.uuid4()}", token=token),
        "public 404": api.get("/api/professionals/nobody-here"),
        "booking 404": api.post("/api/booking", json_body={**booking_body(_unoffered()), "slug": "nobody-here"},
                                source_ip="192.0.2.201"),
        "booking 422": api.post("/api/booking", json_body=booking_body(_unoffered()), source_ip="192.0.2.202"),
    }
    for label, result in results.items():
        assert result.status < 500, (label, result.body)
        for header in RATE_LIMIT_HEADERS:
            assert result.headers.get(header, "").isdigit(), (label, result.status, result.headers)
    assert results["201"].headers["RateLimit-Limit"] == "120"
    assert int(results["404"].headers["RateLimit-Remaining"]) < int(results["201"].headers["RateLimit-Remaining"])
    assert results["booking 422"].headers["RateLimit-Limit"] == "5"
    assert "Retry-After" not in results["409"].headers


# --- 18: a ceiling per professional on public bookings: bookings made, not attempts ---------------------------------

ALL_DAY = {"windows": [{"dayOfWeek": d, "startTime": "07:00", "endTime": "21:00"} for d in range(7)]}
_addresses = itertools.count(1)


def _address() -> str:
    """A fresh client address for every request: the per-IP `booking` limit (5 / 10 min) never gets in the way."""
    n = next(_addresses)
    return f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"


def _book(api, starts_at: str, key: str | None = None, slug: str = "ana-psi"):
    headers = {"Idempotency-Key": key} if key else None
    return api.post("/api/booking", json_body={**booking_body(starts_at, phone=f"+55119{next(_addresses):08d}"),
                                               "slug": slug}, headers=headers, source_ip=_address())


def _off_grid(starts_at: str) -> str:
    """17 minutes into an offered slot: never a slot start, so 422 slot_unavailable."""
    return (dt.datetime.fromisoformat(starts_at) + dt.timedelta(minutes=17)).isoformat()


@pytest.fixture(params=["upstash", "memory"])
def ceiling_store(request, redis_upstash):
    """What answers the ceilings: the Upstash double, or the in-memory fallback (the double answering 500)."""
    double = redis_upstash[0]
    double.fail_mode = "error" if request.param == "memory" else None
    yield request.param
    double.fail_mode = None


@pytest.fixture
def ceiling_clock(monkeypatch):
    """The rate limits' clock (ours and upstash-ratelimit's), frozen a minute into a fixed hour and day window so
    that no test straddles a window; mutate ``clock["now"]`` to move it."""
    import upstash_ratelimit.limiter as upstash_limiter

    clock = {"now": 1_800_000_000 + 60.0}
    monkeypatch.setattr(ratelimit, "_clock", lambda: clock["now"])
    monkeypatch.setattr(upstash_limiter, "now_ms", lambda: int(clock["now"] * 1000))
    return clock


@pytest.fixture
def open_days(api, professional):
    """Ana (pro trial: no plan limit) open 07:00-21:00 every day, a slot an hour: 140 free slots, tomorrow on."""
    token, _ = professional
    configure(api, token, windows=ALL_DAY)
    first = local_today() + dt.timedelta(days=1)
    slots = [s["startsAt"] for s in slots_on(api, first, first + dt.timedelta(days=9))]
    assert len(slots) >= 120
    return slots


def _assert_ceiling_refusal(result, limit: str) -> None:
    assert_problem(result, 429, "rate_limited")
    assert int(result.headers["Retry-After"]) >= 1
    assert result.headers["RateLimit-Limit"] == limit and result.headers["RateLimit-Remaining"] == "0"
    assert result.headers["RateLimit-Reset"].isdigit()


def test_failed_attempts_do_not_use_up_the_ceiling(api, open_days, ceiling_store, ceiling_clock):
    slots = open_days
    assert _book(api, slots[0]).status == 201
    for _ in range(50):  # 50 addresses asking for a time that is not offered
        assert_problem(_book(api, _off_grid(slots[1])), 422, "slot_unavailable")
    for _ in range(10):  # and 10 for a slot that is already taken
        assert_problem(_book(api, slots[0]), 409, "slot_taken")
    booked = _book(api, slots[1])  # 62 attempts, 1 booking made: a real client still books
    assert booked.status == 201, booked.body
    assert db.scalar("SELECT count(*) FROM appointments") == 2
    assert ratelimit.peek("professional_bookings", professional_id()).remaining == 28
    assert ratelimit.peek("professional_bookings_daily", professional_id()).remaining == 98
    assert (ratelimit.fallback_count() > 0) == (ceiling_store == "memory")


def test_thirty_bookings_made_in_an_hour_close_the_page_until_the_window_moves(
        api, open_days, ceiling_store, ceiling_clock, token_for):
    slots = open_days
    for i in range(30):  # a failed attempt before each booking made: 60 attempts in all
        assert_problem(_book(api, _off_grid(slots[i])), 422, "slot_unavailable")
        result = _book(api, slots[i])
        assert result.status == 201, (i, result.body)
    refused = _book(api, slots[30])
    _assert_ceiling_refusal(refused, "30")
    assert refused.headers["Retry-After"] == "3540"  # the hour window ends 59 minutes later
    _assert_ceiling_refusal(_book(api, _off_grid(slots[30])), "30")  # closed to invalid requests too
    assert db.scalar("SELECT count(*) FROM appointments") == 30
    assert db.scalar("SELECT count(*) FROM clients") == 30  # the refused client was not written
    other = api.post("/api/account", token=token_for(), json_body={
        "name": "Caio", "slug": "caio-nutri", "phone": "+5511955554444", "email": "caio@example.com",
        "profession": "Nutricionista"})
    assert other.status == 201, other.body
    elsewhere = _book(api, _off_grid(slots[30]), slug="caio-nutri")
    assert_problem(elsewhere, 422, "slot_unavailable")  # another professional's page is unaffected
    ceiling_clock["now"] += 2 * 3600  # two hours later the hourly window has moved on
    assert _book(api, slots[30]).status == 201


def test_a_burst_of_concurrent_bookings_cannot_pass_the_ceiling(api, open_days, ceiling_clock, monkeypatch):
    slots = open_days
    # 36 processes on 2 CPUs: give Upstash time to answer, or a process would fall back to its own memory (a count
    # the others cannot see — by design during an outage, but not what this test is about)
    monkeypatch.setenv("UPSTASH_TIMEOUT_SECONDS", "20")
    calls = [functools.partial(api.post, "/api/booking", source_ip=f"198.18.7.{i + 1}",  # distinct IPs and phones,
                               json_body=booking_body(slots[i], phone=f"+551197000{i:04d}"))  # chosen here
             for i in range(36)]
    burst = concurrently(calls, timeout=120)
    statuses = sorted(getattr(r, "status", 0) for r in burst)
    assert statuses.count(201) == 30 and statuses.count(429) == 6, statuses  # checked and counted under the lock
    assert db.scalar("SELECT count(*) FROM appointments") == 30


def test_idempotent_replays_and_concurrent_twins_do_not_count(api, open_days, ceiling_clock):
    slots = open_days
    twins = concurrently([functools.partial(api.post, "/api/booking", headers={"Idempotency-Key": "twin-key"},
                                            json_body=booking_body(slots[0]), source_ip=f"192.0.2.{20 + i}")
                          for i in range(8)])  # one books; the others wait on the professional's lock, then replay
    assert [r.status for r in twins] == [201] * 8, [getattr(r, "body", r) for r in twins]
    first = twins[0].json["appointment"]["id"]
    assert all(r.json["appointment"]["id"] == first for r in twins)
    for i in range(10):  # sequential retries of the same request: answered again, counted never
        again = api.post("/api/booking", headers={"Idempotency-Key": "twin-key"}, json_body=booking_body(slots[0]),
                         source_ip=f"192.0.2.{40 + i}")
        assert again.status == 201 and again.headers["Idempotent-Replayed"] == "true"
    for i in range(1, 30):  # 1 booking made so far: 29 more fit in the hour
        result = _book(api, slots[i])
        assert result.status == 201, (i, result.body)
    _assert_ceiling_refusal(_book(api, slots[30]), "30")
    late = api.post("/api/booking", headers={"Idempotency-Key": "twin-key"}, json_body=booking_body(slots[0]),
                    source_ip="192.0.2.99")  # a retry of a booking already made is still answered
    assert late.status == 201 and late.json["appointment"]["id"] == first
    assert db.scalar("SELECT count(*) FROM appointments") == 30


def test_the_daily_ceiling_counts_bookings_made_across_hours(api, open_days, ceiling_store, ceiling_clock):
    slots, made = iter(open_days), 0
    for period in range(4):
        ceiling_clock["now"] = 1_800_000_000 + 60.0 + period * 3600 * 2  # two hours apart: the hourly window is fresh
        for _ in range(10):  # failed attempts in every period: they never count
            assert_problem(_book(api, _off_grid(open_days[-1])), 422, "slot_unavailable")
        for _ in range(25):
            result = _book(api, next(slots))
            assert result.status == 201, (made, result.body)
            made += 1
    assert made == 100
    for _ in range(3):  # well inside the hourly budget (25 of 30), but 100 made today
        refused = _book(api, next(slots))
        _assert_ceiling_refusal(refused, "100")
        assert int(refused.headers["Retry-After"]) > 3600
    assert db.scalar("SELECT count(*) FROM appointments") == 100


# --- 15: instants ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("starts_at", [1_893_456_000, 1_893_456_000.5, "1893456000", "1900-01-01T10:00:00Z",
                                       "9998-06-01T10:00:00Z", "1999-12-31T23:00:00Z", "2101-01-01T00:00:00Z",
                                       "2030-01-07T13:00:00", "2030-01-07", "2030-01-07 13:00:00Z", True])
def test_instants_are_iso_8601_strings_with_offset_in_a_sane_range(api, professional, starts_at):
    token, _ = professional
    client_id = api.post("/api/clients", token=token, json_body={"name": "Bia", "phone": "+5511988887777"}).json["id"]
    created = api.post("/api/appointments", token=token,
                       json_body={"clientId": client_id, "startsAt": "2030-01-07T13:00:00-03:00"})
    assert created.status == 201, created.body
    assert created.json["startsAt"] == "2030-01-07T16:00:00+00:00"
    for result in (
        api.post("/api/appointments", token=token, json_body={"clientId": client_id, "startsAt": starts_at}),
        api.post("/api/appointments", token=token, json_body={"clientId": client_id,
                                                             "startsAt": "2030-01-08T13:00:00Z", "endsAt": starts_at}),
        api.patch(f"/api/appointments/{created.json['id']}", token=token, json_body={"startsAt": starts_at}),
        api.post("/api/booking", json_body=booking_body(starts_at), source_ip="192.0.2.210"),
        api.patch("/api/booking/whatever", json_body={"action": "reschedule", "startsAt": starts_at},
                  source_ip="192.0.2.211"),
    ):
        body = assert_problem(result, 422, "validation_error")
        assert any(e["field"] in ("startsAt", "endsAt") for e in body["errors"]), body
    assert db.scalar("SELECT count(*) FROM appointments") == 1


def test_the_last_instant_of_the_range_is_accepted(api, professional):
    token, _ = professional
    client_id = api.post("/api/clients", token=token, json_body={"name": "Bia", "phone": "+5511988887777"}).json["id"]
    for starts_at in ("2000-01-01T00:00:00Z", "2100-12-31T20:00:00Z"):
        result = api.post("/api/appointments", token=token, json_body={"clientId": client_id, "startsAt": starts_at})
        assert result.status == 201, result.body


# --- 14: time zones -------------------------------------------------------------------------------------------------

def _accepted(zone: str) -> bool:
    try:
        TypeAdapter(fields.TimeZone).validate_python(zone)
    except ValidationError:
        return False
    return True


def test_every_accepted_time_zone_is_known_to_postgresql(postgres):
    accepted = {zone for zone in zoneinfo.available_timezones() if _accepted(zone)}
    known = {row[0] for row in db.run("SELECT name FROM pg_timezone_names")}
    assert "America/Sao_Paulo" in accepted and len(accepted) > 300
    assert accepted - known == set()


@pytest.mark.parametrize("zone", ["Factory", "posixrules", "right/UTC", "right/America/Sao_Paulo",
                                  "posix/America/Sao_Paulo", "localtime", "Etc/GMT+3", "US/Eastern", "EST5EDT",
                                  "GB", "Brazil/East", "America/../Etc/UTC", "america/sao_paulo", "Mars/Olympus",
                                  ""])
def test_time_zones_outside_the_iana_regions_are_422(api, professional, zone):
    token, _ = professional
    body = assert_problem(api.patch("/api/account", token=token, json_body={"timezone": zone}), 422,
                          "validation_error")
    assert [e["field"] for e in body["errors"]] == ["timezone"]
    assert db.scalar("SELECT timezone FROM professionals") == "America/Sao_Paulo"


@pytest.mark.parametrize("zone", ["America/Manaus", "America/Argentina/Buenos_Aires", "Asia/Kolkata", "Europe/Lisbon"])
def test_region_time_zones_are_accepted(api, professional, zone):
    token, _ = professional
    result = api.patch("/api/account", token=token, json_body={"timezone": zone})
    assert result.status == 200 and result.json["timezone"] == zone, result.body
