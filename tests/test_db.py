"""odys.db against real PostgreSQL servers: a transaction that lost its connection stays broken, connect-time
refusals and unreachable servers answer 503 ``database_unavailable`` with ``Retry-After``, and the per-session
timeouts (statement, lock, idle in transaction) are set and answer clear problems."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pg8000.native
import pytest

from devtools.pg import PostgresServer, free_port
from odys import db
from odys.db import DatabaseBusy, DatabaseUnavailable
from test_account import assert_problem

INSERT_PROFESSIONAL = ("INSERT INTO professionals (user_id, name, slug, phone, email, profession) "
                       "VALUES (:slug, 'P', :slug, '+5511999990000', 'p@example.com', 'Psi')")


def _side_connection() -> pg8000.native.Connection:
    """A second session on the test database, outside odys.db."""
    return pg8000.native.Connection(**db._connect_kwargs())


def _terminate_our_backend() -> None:
    pid = db.scalar("SELECT pg_backend_pid()")
    other = _side_connection()
    other.run("SELECT pg_terminate_backend(:pid)", pid=pid)
    other.close()


def _stored(slug: str) -> int:
    return db.scalar("SELECT count(*) FROM professionals WHERE slug = :slug", slug=slug)


@pytest.fixture
def fresh_session(monkeypatch) -> Iterator[Callable[..., None]]:
    """Set environment variables read at connect time; odys.db reconnects with them, and again after the test."""

    def configure(**variables: str) -> None:
        for name, value in variables.items():
            monkeypatch.setenv(name, value)
        db.close()

    yield configure
    db.close()  # before monkeypatch restores the environment; the next statement reconnects with it


# --- item 10: a transaction never outlives its connection --------------------------------------------------------


def test_a_transaction_that_lost_its_connection_refuses_every_further_statement_and_stores_nothing():
    seen: list[str] = []
    refused: list[str] = []

    def attempt(name: str, action: Callable[[], object]) -> None:
        try:
            action()
        except DatabaseUnavailable:
            refused.append(name)  # the caller swallows it and carries on

    def nested_with_swallowed_error() -> None:
        with db.transaction():
            attempt("nested statement", lambda: db.run(INSERT_PROFESSIONAL, slug="nested"))

    raised = None
    try:
        with db.transaction():
            db.after_commit(lambda: seen.append("after_commit"))
            db.after_transaction(lambda: seen.append("after_transaction"))
            db.run(INSERT_PROFESSIONAL, slug="first")
            _terminate_our_backend()
            attempt("write on the dead connection", lambda: db.run(INSERT_PROFESSIONAL, slug="second"))
            attempt("later write", lambda: db.run(INSERT_PROFESSIONAL, slug="third"))
            attempt("later read", lambda: db.scalar("SELECT count(*) FROM professionals"))
            attempt("nested block", nested_with_swallowed_error)
            attempt("last write", lambda: db.run(INSERT_PROFESSIONAL, slug="fourth"))
    except DatabaseUnavailable as error:
        raised = error
    assert refused == ["write on the dead connection", "later write", "later read", "nested statement",
                       "nested block", "last write"]
    assert raised is not None, "leaving the broken transaction must raise even though every error was swallowed"
    assert db.scalar("SELECT count(*) FROM professionals") == 0  # nothing partial, nothing in autocommit
    assert seen == ["after_transaction"]  # rolled back: after_commit never runs
    with db.transaction():  # the next transaction starts on a fresh connection
        db.run(INSERT_PROFESSIONAL, slug="after")
    assert _stored("after") == 1


def test_an_idle_in_transaction_timeout_breaks_the_transaction(fresh_session):
    fresh_session(DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS="300")
    assert db.scalar("SHOW idle_in_transaction_session_timeout") == "300ms"
    with pytest.raises(DatabaseUnavailable):
        with db.transaction():
            db.run(INSERT_PROFESSIONAL, slug="idle")
            time.sleep(1.0)  # e.g. a slow call to another service inside the transaction
            with contextlib.suppress(DatabaseUnavailable):
                db.run(INSERT_PROFESSIONAL, slug="idle-2")
    assert db.scalar("SELECT count(*) FROM professionals") == 0


def test_a_server_reported_error_keeps_the_transaction_and_its_savepoints():
    with db.transaction():
        pid = db.scalar("SELECT pg_backend_pid()")
        db.run(INSERT_PROFESSIONAL, slug="kept")
        db.run("SAVEPOINT attempt")
        with pytest.raises(db.DatabaseError) as info:
            db.run(INSERT_PROFESSIONAL, slug="Bad Slug!")  # check constraint: the server answers, we stay in step
        assert db.sqlstate(info.value)[0] == "23514"
        db.run("ROLLBACK TO SAVEPOINT attempt")
        db.run(INSERT_PROFESSIONAL, slug="kept-too")
        assert db.scalar("SELECT pg_backend_pid()") == pid
    assert _stored("kept") == 1 and _stored("kept-too") == 1


# --- item 11: connect-time refusals and unreachable servers are 503 database_unavailable + Retry-After ---------


def _assert_unavailable(result) -> None:
    assert_problem(result, 503, "database_unavailable")
    assert 1 <= int(result.headers["Retry-After"]) <= 30


def _admin_kwargs(server: PostgresServer) -> dict:
    return {"user": "postgres", "unix_sock": str(server.sock / f".s.PGSQL.{server.port}"), "database": "postgres"}


def _silent_server() -> socket.socket:
    """Accepts TCP connections (kernel backlog) and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    return listener


@pytest.mark.parametrize("case", ["missing database", "role connection limit", "login refused", "closed port",
                                  "server never answers"])
def test_connect_time_failures_answer_503_with_retry_after(case, api, postgres, fresh_session, log_lines):
    tcp = f"postgresql://{{user}}@127.0.0.1:{postgres.port}/{{database}}?sslmode=disable"
    listener = None
    level, sqlstate = "WARNING", None
    if case == "missing database":
        url, level, sqlstate = tcp.format(user="postgres", database="odys_no_such_db"), "ERROR", "3D000"
    elif case == "role connection limit":
        db.run("CREATE ROLE odys_limited LOGIN CONNECTION LIMIT 0")
        url, sqlstate = tcp.format(user="odys_limited", database="odys_test"), "53300"
    elif case == "login refused":  # a configuration error: logged as an error, the password never
        db.run("CREATE ROLE odys_nologin NOLOGIN")
        url, level, sqlstate = tcp.replace("{user}@", "odys_nologin:s3cret-pw@").format(database="odys_test"), \
            "ERROR", "28000"
    elif case == "closed port":
        url = f"postgresql://postgres@127.0.0.1:{free_port()}/odys_test?sslmode=disable"
    else:
        listener = _silent_server()
        url = f"postgresql://postgres@127.0.0.1:{listener.getsockname()[1]}/odys_test?sslmode=disable"
    try:
        fresh_session(DATABASE_URL=url, DATABASE_TIMEOUT_SECONDS="1")
        _assert_unavailable(api.get("/api/professionals/ana"))
    finally:
        if listener:
            listener.close()
        db.close()
        admin = pg8000.native.Connection(**_admin_kwargs(postgres))
        admin.run("DROP ROLE IF EXISTS odys_limited")
        admin.run("DROP ROLE IF EXISTS odys_nologin")
        admin.close()
    lines = log_lines()
    refusal = [line for line in lines if line.get("message", "").startswith("database")]
    assert refusal and refusal[0]["level"] == level, lines
    assert refusal[0].get("sqlstate") == sqlstate
    assert "s3cret-pw" not in json.dumps(lines)


def test_a_server_shutting_down_or_failing_over_answers_503(api, fresh_session):
    """57P03 (cannot connect now): a server in smart shutdown refuses new sessions while an old one lingers."""
    server = PostgresServer(Path(tempfile.mkdtemp(prefix="odys-test-57p03-"))).start()
    lingering = pg8000.native.Connection(**_admin_kwargs(server))
    try:
        subprocess.run(server._cmd(str(server.bin / "pg_ctl"), "-D", str(server.data), "-m", "smart", "-W", "stop"),
                       check=True, capture_output=True)
        fresh_session(DATABASE_URL=server.url("postgres"))
        for _ in range(50):  # the postmaster takes the stop request asynchronously
            try:
                db.scalar("SELECT 1")
            except (DatabaseUnavailable, db.DatabaseError):
                break
            db.close()
            time.sleep(0.1)
        _assert_unavailable(api.get("/api/professionals/ana"))
    finally:
        db.close()
        lingering.close()
        server.stop()


# --- session timeouts ----------------------------------------------------------------------------------------------


def test_sessions_carry_statement_lock_and_idle_timeouts_by_default():
    assert db.scalar("SHOW statement_timeout") == "8s"
    assert db.scalar("SHOW lock_timeout") == "3s"
    assert db.scalar("SHOW idle_in_transaction_session_timeout") == "15s"


def test_a_statement_past_its_timeout_is_a_busy_problem(fresh_session):
    fresh_session(DATABASE_STATEMENT_TIMEOUT_MS="200")
    started = time.monotonic()
    with pytest.raises(DatabaseBusy) as info:
        db.scalar("SELECT pg_sleep(3)")
    assert time.monotonic() - started < 2
    assert info.value.status == 503 and info.value.code == "database_busy" and info.value.headers["Retry-After"]
    assert db.scalar("SELECT 1") == 1  # the session is still good


def test_a_row_locked_elsewhere_answers_503_database_busy_not_500(api, professional, fresh_session):
    token, _ = professional
    fresh_session(DATABASE_LOCK_TIMEOUT_MS="200")
    holder = _side_connection()
    try:
        holder.run("START TRANSACTION")
        holder.run("SELECT id FROM professionals FOR UPDATE")  # e.g. a stuck transaction elsewhere
        started = time.monotonic()
        result = api.patch("/api/account", token=token, json_body={"name": "Outro Nome"})
        assert time.monotonic() - started < 2
        assert_problem(result, 503, "database_busy")
        assert 1 <= int(result.headers["Retry-After"]) <= 30
    finally:
        holder.run("ROLLBACK")
        holder.close()
    assert db.scalar("SELECT name FROM professionals") == "Ana Souza"
    assert api.patch("/api/account", token=token, json_body={"name": "Outro Nome"}).status == 200


def test_a_commit_whose_outcome_is_unknown_runs_after_transaction_follow_ups_only():
    seen: list[str] = []
    with pytest.raises(DatabaseUnavailable):
        with db.transaction():
            db.after_commit(lambda: seen.append("after_commit"))
            db.after_transaction(lambda: seen.append("after_transaction"))
            db.run(INSERT_PROFESSIONAL, slug="unknown")
            _terminate_our_backend()  # noticed only by the COMMIT: committed or not, nobody can tell
    assert seen == ["after_transaction"]  # e.g. the outbox forgets this transaction's ids; no enqueue happens


# --- issue 14: one round trip per statement ------------------------------------------------------------------------


class _Exchanges:
    """Counts request/response exchanges on a connection's socket: a read right after written bytes were flushed."""

    def __init__(self, inner) -> None:
        self.inner, self.count, self._flushed, self._pending = inner, 0, False, False

    def write(self, data):
        self._pending = True
        return self.inner.write(data)

    def flush(self):
        self._flushed, self._pending = self._flushed or self._pending, False
        return self.inner.flush()

    def read(self, size=-1):
        if self._flushed:
            self._flushed, self.count = False, self.count + 1
        return self.inner.read(size)

    def __getattr__(self, name):
        return getattr(self.inner, name)


@pytest.fixture
def exchanges() -> Iterator[_Exchanges]:
    con = db.connection()
    counter = con._sock = _Exchanges(con._sock)
    yield counter
    con._sock = counter.inner


def test_a_parameterised_statement_is_one_round_trip_and_decodes_like_pg8000(exchanges):
    import datetime as dt
    import uuid

    pid = uuid.uuid4()
    rows = db.all("SELECT CAST(:id AS uuid) AS id, :n + 1 AS n, CAST(:at AS timestamptz) AS at, :t AS t, "
                  "CAST(:none AS text) AS none, CAST(:j AS jsonb) AS j",
                  id=str(pid), n=41, at=dt.datetime(2026, 12, 2, 12, tzinfo=dt.timezone.utc), t="olá", none=None,
                  j=json.dumps({"a": [1]}))
    assert rows == [{"id": pid, "n": 42, "at": dt.datetime(2026, 12, 2, 12, tzinfo=dt.timezone.utc), "t": "olá",
                     "none": None, "j": {"a": [1]}}]
    assert exchanges.count == 1
    db.run("INSERT INTO professionals (user_id, name, slug, phone, email, profession) "
           "VALUES (:slug, 'P', :slug, '+5511999990000', 'p@example.com', 'Psi')", slug="one-trip")  # no rows back
    assert exchanges.count == 2
    assert db.run("DELETE FROM professionals WHERE slug = :slug RETURNING slug", slug="one-trip") == [["one-trip"]]
    assert exchanges.count == 3


@pytest.mark.parametrize("sql", [
    "SELEC :x",                                  # refused at Parse
    "SELECT CAST(:x AS uuid)",                   # refused at Bind (the value)
    "SELECT 1 / (CAST(:x AS text) = 'x')::int",  # refused at Execute
])
def test_a_statement_refused_at_any_step_keeps_the_connection_in_step(sql, exchanges):
    before = db.scalar("SELECT pg_backend_pid()")
    with pytest.raises(db.DatabaseError):
        db.run(sql, x="not-a-uuid" if "uuid" in sql else "y")
    assert db.scalar("SELECT :v || ' reply'", v="the next") == "the next reply"  # not the refused one's
    assert db.scalar("SELECT pg_backend_pid()") == before  # the same session: nothing was left unread
    assert exchanges.count == 4


def test_a_transaction_sends_its_start_with_the_first_statement_and_deferred_writes_with_its_commit(exchanges):
    with db.transaction():
        db.run(INSERT_PROFESSIONAL, slug="lazy-begin")                        # START TRANSACTION + INSERT
        db.defer("UPDATE professionals SET name = 'Q' WHERE slug = :slug", slug="lazy-begin")
        db.defer("UPDATE professionals SET bio = 'b' WHERE slug = :slug", slug="lazy-begin")
        assert exchanges.count == 1
    assert exchanges.count == 2                                               # both UPDATEs + COMMIT
    assert db.one("SELECT name, bio FROM professionals WHERE slug = :s", s="lazy-begin") == {"name": "Q", "bio": "b"}
    with db.transaction():
        pass
    assert exchanges.count == 3                                               # an empty block sent nothing


def test_a_deferred_write_refused_at_commit_raises_on_leaving_the_block_and_stores_nothing():
    with pytest.raises(db.DatabaseError) as info:
        with db.transaction():
            db.run(INSERT_PROFESSIONAL, slug="deferred-fails")
            db.defer(INSERT_PROFESSIONAL, slug="deferred-fails")              # the same slug: unique violation
    assert db.sqlstate(info.value)[0] == "23505"
    assert _stored("deferred-fails") == 0
    assert db.scalar("SELECT 'in step'") == "in step"


class _AnswerLost:
    """The connection breaks after the request went out: the server runs it, its answer never arrives."""

    def __init__(self, inner) -> None:
        self.inner, self.sent = inner, False

    def flush(self):
        self.sent = True
        return self.inner.flush()

    def read(self, size=-1):
        if self.sent:
            raise OSError("connection reset by peer")
        return self.inner.read(size)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_a_commit_whose_answer_is_lost_is_never_sent_again_even_when_it_carried_the_whole_transaction():
    db.scalar("SELECT 1")  # the session exists before the block
    con = db.connection()
    with pytest.raises(DatabaseUnavailable):
        with db.transaction():  # only deferred writes: START, the INSERT and the COMMIT go in one request
            db.defer(INSERT_PROFESSIONAL, slug="answer-lost")
            con._sock = _AnswerLost(con._sock)
    deadline = time.monotonic() + 5
    while _stored("answer-lost") == 0 and time.monotonic() < deadline:  # the old session commits on its own time
        time.sleep(0.02)
    assert _stored("answer-lost") == 1  # committed once by the server, not replayed on a new connection


def test_a_deferred_write_refused_mid_batch_skips_the_commit_and_leaves_the_session_usable(exchanges):
    with pytest.raises(db.DatabaseError) as info:
        with db.transaction():
            db.run(INSERT_PROFESSIONAL, slug="mid-batch")
            db.defer("UPDATE professionals SET name = 'changed' WHERE slug = :slug", slug="mid-batch")
            db.defer("INSERT INTO professionals (user_id) VALUES (:v)", v="x")  # NOT NULL columns missing
            db.defer("UPDATE professionals SET bio = 'never' WHERE slug = :slug", slug="mid-batch")
    assert db.sqlstate(info.value)[0] == "23502"
    assert exchanges.count == 3  # the statement, the batch with its COMMIT, the ROLLBACK of the failed block
    assert _stored("mid-batch") == 0
    assert db.scalar("SELECT :v", v="in step") == "in step"


def test_a_pipeline_reads_after_a_lock_with_a_fresh_snapshot():
    db.run(INSERT_PROFESSIONAL, slug="pipelined")
    with db.transaction():
        locked, counted = db.pipeline(
            ("SELECT slug FROM professionals WHERE slug = :slug FOR UPDATE", {"slug": "pipelined"}),
            ("SELECT count(*) AS n FROM professionals WHERE slug = :slug", {"slug": "pipelined"}))
    assert locked == [{"slug": "pipelined"}] and counted == [{"n": 1}]
    with pytest.raises(db.DatabaseError):
        db.pipeline(("SELECT 1 AS one", {}), ("SELECT CAST(:x AS uuid)", {"x": "nope"}), ("SELECT 3", {}))
    assert db.scalar("SELECT :v", v="next") == "next"


def test_timestamps_and_wide_rows_decode_as_pg8000_decodes_them():
    import datetime as dt

    UTC = dt.timezone.utc
    rows = db.all("SELECT CAST(:a AS timestamptz) AS a, CAST('0001-01-01 00:00:00+00' AS timestamptz) AS first, "
                  "CAST('infinity' AS timestamptz) AS forever, CAST(:b AS timestamptz) AS b, "
                  "CAST('2026-12-02 05:03:21.5+00' AS timestamptz) AS half",
                  a=dt.datetime(2026, 12, 2, 5, 3, 21, 123456, tzinfo=UTC), b=dt.datetime(2026, 12, 2, tzinfo=UTC))
    expected = {"a": dt.datetime(2026, 12, 2, 5, 3, 21, 123456, tzinfo=UTC), "first": dt.datetime(1, 1, 1, tzinfo=UTC),
                "forever": "infinity", "b": dt.datetime(2026, 12, 2, tzinfo=UTC),
                "half": dt.datetime(2026, 12, 2, 5, 3, 21, 500000, tzinfo=UTC)}
    assert rows == [expected]
    assert db.all("SELECT 1 AS x, 'y' AS y") == [{"x": 1, "y": "y"}]  # another description, the same again:
    assert db.all("SELECT 1 AS x, 'y' AS y") == [{"x": 1, "y": "y"}]
    assert db.all("SELECT 'z' AS x") == [{"x": "z"}]  # same name, other type: its own description
