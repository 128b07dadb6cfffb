"""GET /api/account/export (issue 11, item 5): the professional's whole practice as one JSON document on every plan,
spreadsheets with Pro, gzip when accepted, S3 past the response limit. The five-year size is benchmarks/export."""

from __future__ import annotations

import base64
import csv
import datetime as dt
import gzip
import io
import json
import urllib.request
from zoneinfo import ZoneInfo

import pytest
from booking_helpers import book
from conftest import onboarding_body

from benchmarks.export.seed import seed_practice
from odys import clock, db
from odys.store import account_export as store

EXPORT = "/api/account/export"
SMALL = {"clients": 20, "appointments": 60, "notes": 15, "messages": 40}
NOW = dt.datetime(2026, 12, 2, 15, 0, tzinfo=dt.timezone.utc)


@pytest.fixture
def frozen(monkeypatch):
    monkeypatch.setattr(clock, "now", lambda: NOW)


def _pid(slug: str = "ana-psi") -> str:
    return str(db.scalar("SELECT id FROM professionals WHERE slug = :s", s=slug))


def _body(result) -> bytes:
    assert result.raw.get("isBase64Encoded") is True, result.raw
    data = base64.b64decode(result.body)
    return gzip.decompress(data) if result.headers.get("Content-Encoding") == "gzip" else data


def _document(result) -> dict:
    assert result.status == 200, result.body
    assert result.content_type == "application/json"
    return json.loads(_body(result))


def _other_practice(api, token_for) -> tuple[str, str]:
    token = token_for()
    assert api.post("/api/account", token=token, json_body=onboarding_body(
        "bruno-nutri", name="Bruno Lima", email="bruno@example.com", phone="+5511911110000")).status == 201
    seed_practice(_pid("bruno-nutri"), clients=12, appointments=24, notes=5, messages=10)
    return token, _pid("bruno-nutri")


def _end_trial(slug: str = "ana-psi", plan: str = "free") -> None:
    db.run("UPDATE professionals SET plan = :plan, trial_ends_at = now() - interval '1 day' WHERE slug = :s",
           plan=plan, s=slug)


# --- the document ----------------------------------------------------------------------------------------------

def test_the_document_holds_every_row_the_professional_owns(api, professional, monkeypatch):
    token, _ = professional
    monkeypatch.setattr(store, "BATCH", 7)  # many FETCHes per table: the batches join into whole arrays
    already = {s.key: db.scalar(f"SELECT count(*) FROM {s.table} WHERE professional_id = :p", p=_pid())
               for s in store.SECTIONS}  # onboarding wrote a welcome message
    seeded = seed_practice(_pid(), **SMALL)
    expected = {key: already[key] + seeded[key] for key in seeded}

    document = _document(api.get(EXPORT, token=token))
    assert document["schemaVersion"] == 1 and document["kind"] == "odys.account-export"
    assert document["counts"] == expected
    for key, count in expected.items():
        assert len(document[key]) == count, key
    for section in store.SECTIONS:  # no row twice (the first column is the table's key)
        first = store.camel(section.columns[0])
        assert len({row[first] for row in document[section.key]}) == len(document[section.key]), section.key
    assert document["followers"] == {"count": 3}
    # each array has exactly the columns the store names, camelCase
    for section in store.SECTIONS:
        keys = {k for row in document[section.key] for k in row}
        assert keys == {store.camel(c) for c in section.columns}, section.key
    profile = document["professional"]
    assert (profile["slug"], profile["name"], profile["timezone"]) == ("ana-psi", "Ana Souza", "America/Sao_Paulo")
    assert document["subscription"]["plan"] == "free" and document["subscription"]["effectivePlan"] == "pro"
    # values survive the trip: a note with quotes, a newline and accents; jsonb as objects; times as ISO
    assert document["clientNotes"][0]["body"].startswith('Sessão "inicial": paciente relata ansiedade no trabalho;\n')
    assert any(isinstance(m["params"], dict) for m in document["messages"])
    assert document["availability"][0]["startTime"] == "09:00"
    dt.datetime.fromisoformat(document["appointments"][0]["startsAt"])
    # nothing internal or secret
    text = json.dumps(document)
    for internal in ("professionalId", "stripeCheckoutSessionId", "providerMessageId", "dedupeKey", "wamid.",
                     "requestHash", "follower-", "materializedUntil", "waUserId"):
        assert internal not in text, internal


def test_another_professionals_data_never_appears(api, professional, token_for):
    token, _ = professional
    seed_practice(_pid(), **SMALL)
    other_token, other_pid = _other_practice(api, token_for)
    theirs = {str(r[0]) for r in db.run(
        "SELECT id FROM clients WHERE professional_id = :p UNION ALL SELECT id FROM appointments WHERE "
        "professional_id = :p UNION ALL SELECT id FROM messages WHERE professional_id = :p", p=other_pid)}

    raw = _body(api.get(EXPORT, token=token)).decode()
    assert "bruno" not in raw.lower() and other_pid not in raw
    assert not [i for i in theirs if i in raw]
    for what in ("appointments", "clients", "payments"):  # the spreadsheets' joins and subqueries too (in trial)
        rows = _csv(api.get(EXPORT, token=token, query={"format": "csv", "what": what}))
        assert len(rows) > 1 and not {r[-1] for r in rows[1:]} & theirs, what
    assert sum(int(r[4]) for r in _csv(api.get(EXPORT, token=token, query={"format": "csv", "what": "clients"}))[1:]) \
        == db.scalar("SELECT count(*) FROM appointments WHERE status = 'completed' AND professional_id = :p", p=_pid())
    # and theirs holds only theirs
    other = _document(api.get(EXPORT, token=other_token))
    assert other["professional"]["id"] == other_pid and other["counts"]["clients"] == 12
    assert {r["id"] for r in other["clients"]} <= theirs


def test_gzip_when_accepted_decompresses_to_the_same_document(api, professional, frozen):
    token, _ = professional
    seed_practice(_pid(), **SMALL)
    plain = api.get(EXPORT, token=token, headers={"accept-encoding": "br"})
    zipped = api.get(EXPORT, token=token, headers={"accept-encoding": "gzip, deflate, br"})
    refused = api.get(EXPORT, token=token, headers={"accept-encoding": "br, gzip;q=0"})
    assert plain.status == zipped.status == refused.status == 200
    assert "Content-Encoding" not in plain.headers and "Content-Encoding" not in refused.headers
    assert zipped.headers["Content-Encoding"] == "gzip" and zipped.headers["Vary"] == "Accept-Encoding"
    assert zipped.headers["Content-Disposition"] == 'attachment; filename="odys-ana-psi-2026-12-02.json"'
    compressed = base64.b64decode(zipped.body)
    assert compressed[:2] == b"\x1f\x8b" and len(compressed) < len(base64.b64decode(plain.body)) / 3
    assert gzip.decompress(compressed) == base64.b64decode(plain.body) == base64.b64decode(refused.body)


def test_the_json_export_is_every_plans_right(api, professional):
    token, _ = professional
    _end_trial()
    trial_ended = db.scalar("SELECT trial_ends_at FROM professionals WHERE slug = 'ana-psi'").isoformat()
    assert _document(api.get(EXPORT, token=token))["subscription"] == {
        "plan": "free", "effectivePlan": "free", "trialEndsAt": trial_ended, "stripeCustomerId": None,
        "stripeSubscriptionId": None}


# --- spreadsheets ----------------------------------------------------------------------------------------------

def _csv(result) -> list[list[str]]:
    assert result.status == 200, result.body
    assert result.content_type == "text/csv; charset=utf-8"
    data = _body(result)
    assert data.startswith(b"\xef\xbb\xbf") and b"\r\n" in data  # BOM for Excel, CRLF lines
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""), delimiter=";"))


@pytest.mark.parametrize("plan", ["free", "basic"])
def test_spreadsheets_are_refused_without_the_pro_feature(api, professional, plan):
    token, _ = professional
    _end_trial(plan=plan)
    refused = api.get(EXPORT, token=token, query={"format": "csv", "what": "appointments"})
    assert refused.status == 402 and refused.content_type == "application/problem+json"
    assert (refused.json["code"], refused.json["limit"], refused.json["currentPlan"], refused.json["requiredPlan"]) == (
        "plan_limit_reached", "export", plan, "pro")
    assert api.get(EXPORT, token=token).status == 200  # the JSON document still is


def test_appointments_spreadsheet_local_times_money_and_injection_guard(api, professional):
    token, _ = professional
    _end_trial(plan="pro")
    seed_practice(_pid(), **SMALL)
    rows = _csv(api.get(EXPORT, token=token, query={"format": "csv", "what": "appointments"}))
    assert rows[0] == ["Data", "Início", "Fim", "Cliente", "Telefone", "Status", "Valor (R$)", "Valor (centavos)",
                       "Pagamento", "Recorrente", "Notas", "Notas do cliente", "ID"]
    assert len(rows) == 1 + SMALL["appointments"]
    by_id = {r[12]: r for r in rows[1:]}
    first = db.one("SELECT a.id::text AS id, a.starts_at, a.ends_at, a.status, c.name FROM appointments a "
                   "JOIN clients c ON c.id = a.client_id WHERE c.name LIKE '=%' ORDER BY a.starts_at LIMIT 1")
    row = by_id[first["id"]]
    local = first["starts_at"].astimezone(ZoneInfo("America/Sao_Paulo"))
    assert row[:3] == [local.strftime("%Y-%m-%d"), local.strftime("%H:%M"),
                       first["ends_at"].astimezone(ZoneInfo("America/Sao_Paulo")).strftime("%H:%M")]
    assert row[3] == "'=HYPERLINK(\"http://x\")"  # never a formula
    assert row[4].startswith("'+55219") and row[6:8] == ["150,00", "15000"]
    assert {r[5] for r in rows[1:]} == {"Realizado", "Faltou", "Cancelado", "Confirmado"}
    assert any(r[10] == 'Trazer exames; "urgente"' for r in rows[1:])  # quoted, read back whole


def test_clients_and_payments_spreadsheets(api, professional, frozen):
    token, _ = professional  # in the 14-day trial: Pro's features
    db.run("UPDATE professionals SET trial_ends_at = :t WHERE slug = 'ana-psi'", t=NOW + dt.timedelta(days=3))
    seed_practice(_pid(), **SMALL)
    served = api.get(EXPORT, token=token, query={"format": "csv", "what": "clients"},
                     headers={"accept-encoding": "gzip"})
    assert served.headers["Content-Encoding"] == "gzip"
    assert served.headers["Content-Disposition"] == 'attachment; filename="odys-ana-psi-clients-2026-12-02.csv"'
    clients = _csv(served)
    assert clients[0] == ["Nome", "Telefone", "E-mail", "Cliente desde", "Sessões realizadas", "Última sessão",
                          "Não recebe WhatsApp", "ID"]
    assert len(clients) == 1 + SMALL["clients"]
    completed = {r[7]: int(r[4]) for r in clients[1:]}
    assert sum(completed.values()) == db.scalar("SELECT count(*) FROM appointments WHERE status = 'completed'")

    payments = _csv(api.get(EXPORT, token=token, query={"format": "csv", "what": "payments"}))
    expected = db.scalar("SELECT count(*) FROM appointments WHERE payment_status <> 'unpaid' "
                         "OR (price > 0 AND status <> 'cancelled')")
    assert len(payments) == 1 + expected and expected < SMALL["appointments"]
    assert {r[6] for r in payments[1:]} <= {"Pago", "Não pago", "Isento", "Reembolsado", "Aguardando"}


# --- past the response limit: S3 --------------------------------------------------------------------------------

def test_an_export_too_large_for_the_response_goes_to_s3_behind_a_short_lived_url(api, professional, s3, monkeypatch,
                                                                                 frozen):
    token, _ = professional
    seed_practice(_pid(), **SMALL)
    inline = _body(api.get(EXPORT, token=token))
    monkeypatch.setenv("EXPORT_INLINE_MAX_BYTES", "2000")

    linked = api.get(EXPORT, token=token, headers={"accept-encoding": "gzip"})
    assert linked.status == 200 and linked.content_type == "application/json", linked.body
    answer = linked.json
    assert set(answer) == {"url", "expiresAt", "filename", "contentType", "contentEncoding", "sizeBytes"}
    assert dt.datetime.fromisoformat(answer["expiresAt"]) == NOW + dt.timedelta(seconds=900)
    assert "X-Amz-Expires=900" in answer["url"] and "X-Amz-Signature=" in answer["url"]
    assert answer["contentEncoding"] == "gzip" and answer["filename"] == "odys-ana-psi-2026-12-02.json"
    with urllib.request.urlopen(answer["url"]) as download:  # noqa: S310 - moto's server on localhost
        stored = download.read()
        assert download.headers["Content-Encoding"] == "gzip"
        assert download.headers["Content-Disposition"] == 'attachment; filename="odys-ana-psi-2026-12-02.json"'
    assert len(stored) == answer["sizeBytes"] and gzip.decompress(stored) == inline

    # a client that does not take gzip gets the plain file
    plain = api.get(EXPORT, token=token).json
    with urllib.request.urlopen(plain["url"]) as download:  # noqa: S310
        assert download.read() == inline and plain["contentEncoding"] is None
    assert len(s3.objects()) == 2
    assert all(key.startswith(f"exports/{_pid()}/") for key in s3.objects())


def test_without_a_bucket_a_large_export_is_a_503_that_says_why(api, professional, monkeypatch):
    token, _ = professional
    monkeypatch.setenv("EXPORT_INLINE_MAX_BYTES", "100")
    monkeypatch.delenv("EXPORT_BUCKET", raising=False)
    refused = api.get(EXPORT, token=token)
    assert refused.status == 503 and refused.json["code"] == "export_storage_unavailable"


# --- who may ask, and how ----------------------------------------------------------------------------------------

def test_no_token_is_401_and_a_user_without_a_practice_is_told_to_onboard(api, token_for):
    missing = api.get(EXPORT)
    assert missing.status == 401 and missing.json["code"] == "missing_token"
    client_user = api.get(EXPORT, token=token_for(phone="5511988887777"))
    # the codebase's onboarding_required (odys.errors.OnboardingRequired) is a 404
    assert client_user.status == 404 and client_user.json["code"] == "onboarding_required"


@pytest.mark.parametrize("query", [
    {"format": "xml"}, {"format": "csv"}, {"format": "csv", "what": "notes"}, {"what": "clients"},
    {"format": "json", "limit": "10"},
])
def test_a_bad_query_is_422(api, professional, query):
    token, _ = professional
    refused = api.get(EXPORT, token=token, query=query)
    assert refused.status == 422 and refused.content_type == "application/problem+json", refused.body
    assert refused.json["code"] == "validation_error"


# --- nothing owned slips out of the export ---------------------------------------------------------------------

def _unlisted() -> list[str]:
    """What the store's lists miss or get wrong: tables holding the professional's rows (a ``professional_id``
    column, or a chain of foreign keys to ``professionals`` or to such a table) neither exported nor excluded, and
    columns of the exported tables neither exported nor excluded."""
    owned = {r[0] for r in db.run("""
        WITH RECURSIVE owned(tab) AS (
            SELECT 'professionals'::regclass
            UNION
            SELECT CAST(quote_ident(table_name) AS regclass) FROM information_schema.columns
            WHERE table_schema = 'public' AND column_name = 'professional_id'
            UNION
            SELECT c.conrelid FROM pg_constraint c JOIN owned o ON c.confrelid = o.tab
            WHERE c.contype = 'f' AND c.conrelid <> c.confrelid)
        SELECT tab::text FROM owned WHERE tab <> 'professionals'::regclass""")}
    exported, excluded_tables = {s.table for s in store.SECTIONS}, set(store.EXCLUDED_TABLES)
    problems = [f"table {t}: export it or exclude it, saying why" for t in sorted(owned - exported - excluded_tables)]
    problems += [f"table {t}: listed but owns nothing" for t in sorted((exported | excluded_tables) - owned)]
    problems += [f"table {t}: both exported and excluded" for t in sorted(exported & excluded_tables)]
    problems += [f"table {t}: excluded without a reason" for t, why in store.EXCLUDED_TABLES.items() if not why]

    columns = {**{s.table: set(s.columns) for s in store.SECTIONS},
               "professionals": set(store.PROFILE_COLUMNS + store.SUBSCRIPTION_COLUMNS)}
    for table, exported_columns in columns.items():
        actual = {r[0] for r in db.run("SELECT column_name FROM information_schema.columns WHERE table_schema = "
                                       "'public' AND table_name = :t", t=table)}
        excluded = store.EXCLUDED_COLUMNS.get(table, {})
        problems += [f"column {table}.{c}: export it or exclude it, saying why"
                     for c in sorted(actual - exported_columns - set(excluded))]
        problems += [f"column {table}.{c}: listed but absent" for c in sorted((exported_columns | set(excluded)) - actual)]
        problems += [f"column {table}.{c}: both exported and excluded" for c in sorted(exported_columns & set(excluded))]
        problems += [f"column {table}.{c}: excluded without a reason" for c, why in excluded.items() if not why]
    return problems


def test_every_table_and_column_a_professional_owns_is_exported_or_excluded_with_a_reason():
    assert _unlisted() == []


class _RolledBack(Exception):
    pass


def test_the_completeness_check_names_a_new_table_or_column_it_was_not_told_about():
    try:
        with db.transaction():  # DDL is transactional in PostgreSQL: none of this outlives the test
            db.run("ALTER TABLE clients ADD COLUMN throwaway_column text")
            db.run("ALTER TABLE professionals ADD COLUMN throwaway_setting text")
            db.run("CREATE TABLE throwaway_direct (professional_id uuid REFERENCES professionals ON DELETE CASCADE)")
            db.run("CREATE TABLE throwaway_through_clients (client_id uuid REFERENCES clients ON DELETE CASCADE)")
            db.run("CREATE TABLE throwaway_two_hops (message_id uuid REFERENCES messages ON DELETE SET NULL)")
            db.run("CREATE TABLE throwaway_no_key (professional_id uuid)")
            problems = _unlisted()
            raise _RolledBack
    except _RolledBack:
        pass
    assert problems == [
        "table throwaway_direct: export it or exclude it, saying why",
        "table throwaway_no_key: export it or exclude it, saying why",
        "table throwaway_through_clients: export it or exclude it, saying why",
        "table throwaway_two_hops: export it or exclude it, saying why",
        "column clients.throwaway_column: export it or exclude it, saying why",
        "column professionals.throwaway_setting: export it or exclude it, saying why",
    ]
    assert _unlisted() == []

# --- review fixes -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("query", "message"), [
    ({"format": "csv"}, "format=csv needs what=appointments, clients or payments"),
    ({"what": "clients"}, "what= is for format=csv"),
    ({"format": "json", "what": "clients"}, "what= is for format=csv"),
])
def test_what_missing_or_misplaced_is_blamed_on_the_what_parameter(api, professional, query, message):
    token, _ = professional
    refused = api.get(EXPORT, token=token, query=query)
    assert refused.status == 422, refused.body
    assert [e["field"] for e in refused.json["errors"]] == ["what"]
    assert message in refused.json["errors"][0]["message"]


def test_booking_links_in_messages_leave_without_their_token(api, open_mornings):
    token, slots = open_mornings
    booked = book(api, slots[0]["startsAt"])
    assert booked.status == 201, booked.body
    manage_token = booked.json["manageToken"]
    assert db.scalar("SELECT count(*) FROM messages WHERE body LIKE :t OR params::text LIKE :t",
                     t=f"%{manage_token}%") >= 1  # the confirmation carries the live link

    document = _document(api.get(EXPORT, token=token))
    text = json.dumps(document, ensure_ascii=False)
    assert manage_token not in text and manage_token.split(".")[0] not in text
    confirmation = next(m for m in document["messages"] if m["template"] == "msgBookingConfirmed")
    assert confirmation["params"]["manage_link"].endswith("/b/" + store.REDACTED_TOKEN)
    assert "/b/" + store.REDACTED_TOKEN in confirmation["body"]
    assert confirmation["params"]["client_name"] == "Bia Lima"  # the rest of the message is whole


class _Spools:
    """Every temporary file the export opens, to see that each is closed whatever happens."""

    def __init__(self, monkeypatch) -> None:
        import tempfile

        from odys import account_export

        self.files: list = []
        real = tempfile.SpooledTemporaryFile

        def spool(*args, **kwargs):
            file = real(*args, **kwargs)
            self.files.append(file)
            return file

        monkeypatch.setattr(account_export.tempfile, "SpooledTemporaryFile", spool)
        monkeypatch.setattr(account_export, "SPOOL_BYTES", 1000)  # rolled over to a file on disk

    def all_closed(self) -> bool:
        return bool(self.files) and all(f.closed for f in self.files)


@pytest.mark.parametrize("gzip_accepted", [True, False])
def test_an_s3_failure_is_a_503_and_leaves_no_temporary_file_nor_open_transaction(api, professional, s3,
                                                                                  monkeypatch, gzip_accepted):
    token, _ = professional
    seed_practice(_pid(), **SMALL)
    spools = _Spools(monkeypatch)
    monkeypatch.setenv("EXPORT_INLINE_MAX_BYTES", "2000")
    monkeypatch.setenv("EXPORT_BUCKET", "odys-exports-that-does-not-exist")  # S3 answers NoSuchBucket

    headers = {"accept-encoding": "gzip"} if gzip_accepted else {}
    refused = api.get(EXPORT, token=token, headers=headers)
    assert refused.status == 503 and refused.content_type == "application/problem+json", refused.body
    assert refused.json["code"] == "export_storage_unavailable"
    assert spools.all_closed() and spools.files[0]._rolled
    assert db.scalar("SELECT count(*) FROM pg_stat_activity WHERE state LIKE 'idle in transaction%'") == 0

    monkeypatch.setenv("EXPORT_BUCKET", s3.name)  # storage back: the same request works
    assert api.get(EXPORT, token=token, headers=headers).json["url"]


def test_an_export_that_would_outlast_the_request_stops_with_a_503_that_says_why(api, professional, monkeypatch):
    token, _ = professional
    seed_practice(_pid(), **SMALL)
    spools = _Spools(monkeypatch)
    monkeypatch.setenv("EXPORT_BUILD_SECONDS", "0")
    refused = api.get(EXPORT, token=token)
    assert refused.status == 503 and refused.json["code"] == "export_too_large", refused.body
    assert "support" in refused.json["detail"]
    assert spools.all_closed()
    monkeypatch.delenv("EXPORT_BUILD_SECONDS")
    assert _document(api.get(EXPORT, token=token))["counts"]["clients"] == SMALL["clients"]


def test_the_export_has_its_own_hourly_rate_limit(api, professional):
    token, _ = professional
    for _ in range(10):
        served = api.get(EXPORT, token=token)
        assert served.status == 200 and served.headers["RateLimit-Limit"] == "10"
    refused = api.get(EXPORT, token=token, query={"format": "csv", "what": "clients"})
    assert refused.status == 429 and refused.json["code"] == "rate_limited"
    assert 0 < int(refused.headers["Retry-After"]) <= 3600
    assert api.get("/api/account", token=token).status == 200  # the other routes keep the api limit


def test_a_link_answer_varies_with_accept_encoding(api, professional, s3, monkeypatch):
    token, _ = professional
    monkeypatch.setenv("EXPORT_INLINE_MAX_BYTES", "100")
    linked = api.get(EXPORT, token=token, headers={"accept-encoding": "gzip"})
    assert linked.status == 200 and linked.json["contentEncoding"] == "gzip"
    assert linked.headers["Vary"] == "Accept-Encoding"


def test_the_export_service_works_without_the_http_edge():
    import subprocess
    import sys
    from pathlib import Path

    shared = Path(__file__).resolve().parents[1] / "layers" / "shared"
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, odys.account_export; "
                               "print(sorted(m for m in sys.modules if m == 'odys.http' or 'event_handler' in m))"],
        cwd=shared, capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]", loaded.stdout  # services never see HTTP: odys.jsonfmt writes the JSON
