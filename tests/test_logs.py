"""odys.log through its real output: the JSON lines the shared logger writes, while handlers run and on its own.

Logs keep ids and timestamps intact, never hold personal data (exceptions included), and a log call never fails.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import random
import uuid
from typing import Any

import pytest

from odys import db
from odys.log import REDACTED, logger

PHONES = ["+5511987654321", "+55 (11) 98765-4321", "(11) 98765-4321", "11987654321", "11 98765 4321",
          "+1 415 555 0100"]


def test_tests_run_at_the_production_log_level():
    assert logger.log_level == logging.INFO


def test_reserved_logrecord_attributes_in_extra_are_renamed_not_raised(log_lines):
    reserved = sorted(set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName", "level",
                                                                 "timestamp", "location", "service"})
    logger.info("series created", extra={key: f"value-of-{key}" for key in reserved})
    logger.info("series extended", created=3, module="recurring", args=[1, 2])  # keyword arguments too
    first, second = log_lines()
    assert first["message"] == "series created" and first["level"] == "INFO"
    assert first["location"].startswith("test_reserved_logrecord_attributes_in_extra_are_renamed_not_raised:")
    for key in reserved:
        assert first[f"extra_{key}"] in (f"value-of-{key}", REDACTED), key  # names stay redacted (extra_name)
    assert first["extra_created"] == "value-of-created" and first["extra_msg"] == "value-of-msg"
    assert first["extra_name"] == REDACTED
    assert (second["extra_created"], second["extra_module"], second["extra_args"]) == (3, "recurring", [1, 2])


def test_a_log_call_that_cannot_be_formatted_never_raises(log_lines):
    class Unprintable:
        def __str__(self) -> str:
            raise RuntimeError("no")

    circular: dict[str, Any] = {}
    circular["self"] = circular
    deep: list[Any] = []
    cursor = deep
    for _ in range(5000):
        cursor.append([])
        cursor = cursor[0]
    logger.info("wrong %s %s arguments", 1)
    logger.warning("odd values", extra={"value": Unprintable(), "circular": circular, "deep": deep})
    lines = {line["message"]: line for line in log_lines()}  # (pytest's own log capture may add "log call failed")
    assert lines["log record could not be formatted"]["level"] == "INFO"
    assert lines["odd values"]["value"] == "(unprintable)" and lines["odd values"]["level"] == "WARNING"


def _random_instants(count: int) -> list[str]:
    rng = random.Random(7)
    out = []
    for _ in range(count):
        offset = dt.timezone(dt.timedelta(minutes=rng.choice([-180, -120, 0, 60, 330, 345, 600, -570])))
        moment = dt.datetime.fromtimestamp(rng.uniform(946_684_800, 4_102_444_800), offset)
        if rng.random() < 0.5:
            moment = moment.replace(microsecond=0)
        out.append(rng.choice([moment.isoformat(), str(moment), moment.astimezone(dt.timezone.utc).isoformat()
                               .replace("+00:00", "Z"), moment.date().isoformat()]))
    return out


def test_ids_and_timestamps_are_logged_intact(log_lines):
    ids = [str(uuid.uuid4()) for _ in range(3000)]
    instants = _random_instants(3000)
    for start in range(0, 3000, 500):
        chunk = list(zip(ids[start:start + 500], instants[start:start + 500]))
        logger.info(" ".join(f"appointment {i} at {t};" for i, t in chunk),
                    extra={"appointment_ids": [i for i, _ in chunk], "starts": [t for _, t in chunk],
                           "upper": [i.upper() for i, _ in chunk], "pair": [f"({i}, {t})" for i, t in chunk]})
    lines = log_lines()
    assert len(lines) == 6
    for n, line in enumerate(lines):
        chunk = list(zip(ids[n * 500:(n + 1) * 500], instants[n * 500:(n + 1) * 500]))
        assert line["message"] == " ".join(f"appointment {i} at {t};" for i, t in chunk)
        assert line["appointment_ids"] == [i for i, _ in chunk] and line["starts"] == [t for _, t in chunk]
        assert line["upper"] == [i.upper() for i, _ in chunk]
        assert line["pair"] == [f"({i}, {t})" for i, t in chunk]


def test_phones_emails_documents_and_tokens_in_text_are_masked(log_lines):
    secrets = [*PHONES, "ana.souza+1@example.com.br", "529.982.247-25", "12.345.678/0001-90", "203.0.113.7",
               "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"]
    moment = "2026-11-02T09:00:00+00:00"
    for value in secrets:
        logger.warning(f"message from {value} at {moment}", extra={"detail": f"({value})", "headers": {
            "Authorization": "Bearer abc.def.ghi"}, "clientName": "Ana", "client_phone": value})
    logger.info("plain", extra={"stripe_customer": "cus_12345678901234", "digest": "fec52565aa0c123456789012",
                                "note_id": "3f1c2b7a-1234-4567-8901-123456789012", "notes": "call Ana"})
    lines = log_lines()
    for value, line in zip(secrets, lines):
        text = json.dumps(line)
        assert value not in text and "abc.def.ghi" not in text and '"Ana"' not in text, text
        assert line["message"] == f"message from {REDACTED} at {moment}"
        assert line["clientName"] == REDACTED and line["client_phone"] == REDACTED
    assert lines[-1]["stripe_customer"] == "cus_12345678901234" and lines[-1]["digest"] == "fec52565aa0c123456789012"
    assert lines[-1]["note_id"] == "3f1c2b7a-1234-4567-8901-123456789012" and lines[-1]["notes"] == REDACTED


def test_exception_text_is_scrubbed(log_lines):
    names, email, phone = ["Ana Souza", "Bia Lima"], "bia@example.com", "+5511987654321"  # data, not code
    try:
        try:
            raise KeyError(names[0])
        except KeyError as error:
            raise ValueError(f"no client {names[1]!r} <{email}> at {phone} for key 'starts_at'") from error
    except ValueError:
        logger.exception("failed")
    (line,) = log_lines()
    text = json.dumps(line)
    for value in ("Ana Souza", "Bia Lima", "bia@example.com", "987654321"):
        assert value not in text, value
    assert line["exception_name"] == "ValueError" and line["stack_trace"]["type"] == "ValueError"
    assert "'starts_at'" in line["stack_trace"]["value"]  # identifiers stay readable
    assert "KeyError" in line["exception"] and "direct cause" in line["exception"]
    assert line["stack_trace"]["frames"][0]["function"] == "test_exception_text_is_scrubbed"


@pytest.fixture
def traps_in_the_clients_table():
    """Two constraints that make POST /api/clients fail deep in the database, with row values in pg8000's error."""
    db.run("ALTER TABLE clients ADD CONSTRAINT test_trap_name CHECK (name <> 'Bia Lima') NOT VALID")
    db.run("CREATE UNIQUE INDEX test_trap_email ON clients (professional_id, email)")
    yield
    db.run("ALTER TABLE clients DROP CONSTRAINT test_trap_name")
    db.run("DROP INDEX test_trap_email")


def test_database_errors_are_logged_by_sqlstate_and_constraint_only(api, professional, traps_in_the_clients_table,
                                                                     log_lines):
    token, _ = professional
    failing_row = api.post("/api/clients", token=token, json_body={
        "name": "Bia Lima", "phone": "+5511977776666", "email": "bia@example.com"})
    assert api.post("/api/clients", token=token, json_body={
        "name": "Caio Reis", "phone": "+5511955554444", "email": "caio@example.com"}).status == 201
    duplicate_key = api.post("/api/clients", token=token, json_body={
        "name": "Dani Melo", "phone": "+5511933332222", "email": "caio@example.com"})
    for result in (failing_row, duplicate_key):  # what the traps provoke is a bug: a 500 that reveals nothing
        assert result.status == 500 and result.content_type == "application/problem+json"
    errors = [line for line in log_lines() if line["message"] == "unhandled error"]
    assert len(errors) == 2
    text = json.dumps(errors)
    for value in ("Bia Lima", "Dani Melo", "bia@example.com", "caio@example.com", "977776666", "933332222",
                  "Failing row", "Key ("):
        assert value not in text, value
    assert "SQLSTATE 23514, constraint test_trap_name, table clients" in errors[0]["stack_trace"]["value"]
    assert "SQLSTATE 23505, constraint test_trap_email, table clients" in errors[1]["stack_trace"]["value"]
    assert errors[0]["exception"].endswith("DatabaseError: SQLSTATE 23514, constraint test_trap_name, table clients")
    assert errors[0]["correlation_id"] and errors[0]["level"] == "ERROR"
