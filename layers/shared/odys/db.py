"""PostgreSQL access over pg8000: one connection per execution environment, reused across invocations.

    from odys import db
    row = db.one("SELECT id, name FROM professionals WHERE slug = :slug", slug="ana")   # dict or None
    rows = db.all("SELECT ... WHERE professional_id = :pid", pid=pid)                  # list of dicts
    with db.transaction():
        db.run("UPDATE ...", ...)
        db.run("INSERT ...", ...)       # both commit, or neither

The connection is configured by ``DATABASE_URL`` (``postgresql://user[:password]@host[:port]/db?sslmode=...``;
``?host=/socket/dir`` for a unix socket). The password may instead come from the secret ``DATABASE_PASSWORD``.
``sslmode``: ``disable`` | ``require`` (TLS, no verification) | ``verify-full`` (the default outside dev/test:
certificate and host name checked against ``sslrootcert`` — the RDS CA bundle for a direct RDS connection — or,
without it, the system trust store, which holds the ACM roots RDS Proxy uses).

Every session is opened with ``statement_timeout``, ``lock_timeout`` and ``idle_in_transaction_session_timeout``
(``DATABASE_STATEMENT_TIMEOUT_MS`` 8000, ``DATABASE_LOCK_TIMEOUT_MS`` 3000,
``DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS`` 15000; 0 turns one off), so a stuck lock or a runaway query answers
well before the Lambda timeout: a statement past its statement or lock timeout raises :class:`DatabaseBusy`
(503 ``database_busy``)::

    db.scalar("SELECT pg_sleep(60)")     # -> DatabaseBusy after 8 s, Retry-After: 3

A server that cannot be reached or refuses the session (``3D000`` unknown database, ``53300`` too many
connections, ``57P03`` starting up / shutting down / failing over, ``28000``/``28P01`` login refused) raises
:class:`DatabaseUnavailable` (503 ``database_unavailable``, ``Retry-After``); refusals that only a configuration
change can fix are logged as errors.

A dropped connection (idle timeout, failover, ``pg_terminate_backend``) is replaced transparently when that is
safe: at the start of a transaction and for read-only statements outside one. A write that fails on a broken
socket is never replayed (it may have committed); it raises :class:`DatabaseUnavailable`. A transaction lives and
dies with its connection: once that is lost, every further statement of the transaction (nested blocks too) and
leaving the block raise :class:`DatabaseUnavailable`, even if the caller swallowed the first error, and nothing
of it is stored::

    with db.transaction():
        db.run("INSERT ...")             # the connection drops after this
        try:
            db.run("INSERT ...")         # DatabaseUnavailable
        except db.DatabaseUnavailable:
            pass
        db.run("INSERT ...")             # DatabaseUnavailable again: never on a new connection, never autocommit
    # leaving the block: DatabaseUnavailable (the first INSERT was rolled back with the session)

An error the server reports (a constraint violation) keeps the connection; PostgreSQL then refuses the rest of
the transaction itself unless the statement ran inside a ``SAVEPOINT`` that is rolled back.
"""

from __future__ import annotations

import builtins
import contextlib
import datetime as dt
import os
import ssl
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from typing import Any

from pg8000 import core as _wire
from pg8000.converters import timestamptz_in
from pg8000.native import Connection as _NativeConnection
from pg8000.native import DatabaseError, InterfaceError, to_statement

from odys import config
from odys.errors import ServiceUnavailable

__all__ = ["DatabaseBusy", "DatabaseError", "DatabaseUnavailable", "after_commit", "after_transaction", "all", "close",
           "connection", "defer", "in_transaction", "one", "pipeline", "run", "scalar", "sqlstate", "transaction"]

_local = threading.local()  # Lambda runs one request at a time; the local dev server runs threads

# PostgreSQL setting -> (environment variable, default in milliseconds), sent in the startup message: no extra
# round trip, no SET. Below the functions' 15 s timeout (template.yaml Globals) and the 10 s socket timeout.
SESSION_TIMEOUTS = {
    "statement_timeout": ("DATABASE_STATEMENT_TIMEOUT_MS", 8000),
    "lock_timeout": ("DATABASE_LOCK_TIMEOUT_MS", 3000),
    "idle_in_transaction_session_timeout": ("DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS", 15000),
}
_BUSY = ("55P03", "57014")  # lock_not_available (lock_timeout), query_canceled (statement_timeout)


class DatabaseUnavailable(ServiceUnavailable):
    """503: the database cannot be reached, refused the session, or lost it in the middle of a transaction."""

    code = "database_unavailable"

    def __init__(self) -> None:
        super().__init__("The database is unreachable right now. Please retry in a moment.",
                         headers={"Retry-After": "5"})


class DatabaseBusy(ServiceUnavailable):
    """503: a statement waited past ``lock_timeout`` for a lock or ran past ``statement_timeout``."""

    code = "database_busy"

    def __init__(self) -> None:
        super().__init__("The database is busy with this data right now. Please retry in a moment.",
                         headers={"Retry-After": "3"})


class Connection(_NativeConnection):
    """pg8000's native connection, sending each parameterised statement in **one round trip**.

    pg8000's own ``run()`` makes three exchanges of a parameterised statement (Parse+Sync, Describe+Sync,
    Bind+Execute+Sync). This one sends Parse, Bind, Describe (portal), Execute and Sync in a single flush and reads
    the answer once, as libpq's ``PQexecParams`` does: the unnamed statement, the parameters as text with their
    types inferred by the server, exactly as pg8000 sends them. No named prepared statement is left on the
    session, so an RDS Proxy can keep multiplexing it (named ones pin the session to one backend). An error at any
    step makes the server skip the rest until Sync, so the reply is read to its end and the protocol stays in
    step. The values are encoded before anything is sent: one that cannot be encoded leaves the socket untouched.

        con = Connection(user="odys", unix_sock=...)
        con.run("SELECT name FROM clients WHERE id = :id", id=client_id)    # one round trip
        con.pipeline([("START TRANSACTION", {}), ("SELECT ... FOR UPDATE", {"id": pid})])  # two statements, one too

    The server flushes its answer at each Sync only (no Flush message after each Execute, as pg8000 sends): one
    write of the server per statement, not two. :meth:`batch` sends writes whose results nobody reads (a
    transaction's deferred writes and its COMMIT) under a single Sync: one answer for them all.

    Built on pg8000 1.31's wire helpers (``send_PARSE``/``send_BIND``/``message_types``); tests/test_db.py counts
    the round trips on the socket.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._descriptions: dict[bytes, tuple[list[dict[str, Any]], list[Any]]] = {}
        self.register_in_adapter(_TIMESTAMPTZ_OID, _timestamptz)

    def handle_ROW_DESCRIPTION(self, data: bytes, context: Any) -> None:
        """pg8000's, once per distinct description: the code's statements are a fixed set, and decoding a wide
        row's description (a dict per column) cost more than its row."""
        known = self._descriptions.get(data)
        if known is None:
            super().handle_ROW_DESCRIPTION(data, context)
            if len(self._descriptions) >= 512:
                self._descriptions.clear()
            self._descriptions[bytes(data)] = (context.columns, context.input_funcs)
            return
        context.columns, context.input_funcs = known
        if context.rows is None:
            context.rows = []

    def run(self, sql: str, stream: Any = None, types: Any = None, **params: Any) -> Any:
        if stream is not None or types is not None:
            return super().run(sql, stream=stream, types=types, **params)
        return self.pipeline([(sql, params)])[0][0]

    def pipeline(self, statements: list[tuple[str, dict[str, Any]]]) -> list[tuple[list[list[Any]], list[str]]]:
        """Several statements in one flush, each with its own Sync (so its own snapshot, and in autocommit its own
        transaction); ``(rows, column names)`` of each, in order. Every reply is read before the first error is
        raised, so the protocol stays in step; inside a transaction block an error aborts it, and the server
        refuses the statements after it."""
        if len(statements) == 1 and not statements[0][1]:  # a script may hold several statements: simple query
            context = self._context = self.execute_simple(statements[0][0])
            return [(context.rows or [], [c["name"] for c in context.columns] if context.columns else [])]
        encoded = self._encode(statements)
        for statement, values in encoded:
            self._send_statement(statement, values)
            _wire._write(self._sock, _wire.SYNC_MSG)
        _wire._flush(self._sock)
        results, first_error = [], None
        for statement, _ in encoded:
            context = _wire.Context(statement)
            try:
                self.handle_messages(context)
            except (DatabaseError, InterfaceError) as error:
                if error is not context.error:  # the socket failed mid-reply, not the server's refusal
                    raise
                first_error = first_error or error  # keep reading: the next replies are already on their way
            self._context = context
            results.append((context.rows or [], [c["name"] for c in context.columns] if context.columns else []))
        if first_error is not None:
            raise first_error
        return results

    def batch(self, statements: list[tuple[str, dict[str, Any]]]) -> None:
        """Statements whose results nobody reads (writes, then e.g. COMMIT) in one flush under **one** Sync: the
        server runs them in order and answers once. At the first error it skips the rest, a COMMIT included, and
        that error is raised: inside a transaction block the transaction is then left failed
        (``transaction_failed``), for the caller's ROLLBACK."""
        encoded = self._encode(statements)
        for statement, values in encoded:
            self._send_statement(statement, values)
        _wire._write(self._sock, _wire.SYNC_MSG)
        _wire._flush(self._sock)
        context = self._context = _wire.Context(encoded[-1][0])
        self.handle_messages(context)

    @property
    def transaction_failed(self) -> bool:
        """The session is in a transaction block that an error aborted (only ROLLBACK is accepted)."""
        return self._transaction_status == _wire.IN_FAILED_TRANSACTION

    def _encode(self, statements: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, Any]]:
        """Every statement's text and wire values, before anything is sent: a value that cannot be encoded leaves
        the socket untouched."""
        encoded = []
        for sql, params in statements:
            if not params:  # sent as written, like pg8000's simple query (no ``:name`` rewriting)
                encoded.append((sql, ()))
                continue
            statement, make_values = _statement(sql)
            encoded.append((statement, _wire.make_params(self.py_types, make_values(params))))
        return encoded

    def _send_statement(self, statement: str, values: Any) -> None:
        """Parse, Bind, Describe (portal) and Execute of the unnamed statement, buffered (no Flush message)."""
        self.send_PARSE(_wire.NULL_BYTE, statement, ())
        self.send_BIND(_wire.NULL_BYTE, values)
        self._send_message(_wire.DESCRIBE, _wire.PORTAL + _wire.NULL_BYTE)
        _wire._write(self._sock, _wire.EXECUTE_MSG)

    def handle_messages(self, context: Any) -> None:
        """pg8000's loop over the server's messages up to ReadyForQuery, reading each header and body straight
        from the socket's buffer (pg8000 copies both through a bytearray)."""
        read, handlers, code = self._sock.read, self.message_types, None
        try:
            while code != _wire.READY_FOR_QUERY:
                header = read(5)
                if len(header) != 5:
                    raise InterfaceError("network error")
                code, size = _wire.ci_unpack(header)
                data = read(size - 4)
                if len(data) != size - 4:
                    raise InterfaceError("network error")
                handlers[code](data, context)
        except OSError as error:
            raise InterfaceError("network error") from error
        if context.error is not None:
            raise context.error


_TIMESTAMPTZ_OID = 1184


def _timestamptz(text: str) -> Any:
    """``timestamptz`` as PostgreSQL writes it (ISO, e.g. ``2026-12-02 05:03:21.123456+00``) by
    ``datetime.fromisoformat`` (~0.5 µs); pg8000's ``strptime`` (~15 µs) for what that does not read (BC dates,
    ``infinity``)."""
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        return timestamptz_in(text)


_statements: dict[str, tuple[str, Callable[[dict[str, Any]], list[Any]]]] = {}


def _statement(sql: str) -> tuple[str, Callable[[dict[str, Any]], list[Any]]]:
    """pg8000's ``:name`` -> ``$n`` rewrite, once per SQL text (the code's statements are a fixed set)."""
    found = _statements.get(sql)
    if found is None:
        if len(_statements) >= 1024:  # a bound, should a caller ever build SQL texts without end
            _statements.clear()
        found = _statements[sql] = to_statement(sql)
    return found


def _connect_kwargs() -> dict[str, Any]:
    url = config.env("DATABASE_URL")
    if not url:
        raise config.ConfigurationError("DATABASE_URL is not configured")
    parts = urllib.parse.urlsplit(url)
    query = dict(urllib.parse.parse_qsl(parts.query))
    kwargs: dict[str, Any] = {
        "user": urllib.parse.unquote(parts.username or "postgres"),
        "database": (parts.path or "/postgres").lstrip("/") or "postgres",
        "port": parts.port or 5432,
        "timeout": config.env_int("DATABASE_TIMEOUT_SECONDS", 10),
        "application_name": (config.env("AWS_LAMBDA_FUNCTION_NAME") or "odys")[:63],
        "startup_params": {name: str(config.env_int(variable, default))
                           for name, (variable, default) in SESSION_TIMEOUTS.items()},
    }
    password = urllib.parse.unquote(parts.password) if parts.password else config.secret("DATABASE_PASSWORD", required=False)
    if password:
        kwargs["password"] = password
    if "host" in query and query["host"].startswith("/"):
        kwargs["unix_sock"] = os.path.join(query["host"], f".s.PGSQL.{kwargs['port']}")
        kwargs["ssl_context"] = False
        return kwargs
    kwargs["host"] = parts.hostname or "localhost"
    kwargs["ssl_context"] = _ssl_context(query.get("sslmode") or ("disable" if config.is_local() else "verify-full"),
                                         query.get("sslrootcert") or config.env("DATABASE_SSL_ROOT_CERT"))
    return kwargs


def _ssl_context(sslmode: str, rootcert: str | None) -> ssl.SSLContext | bool:
    if sslmode == "disable":
        return False
    if sslmode == "require":
        return True  # pg8000: TLS required, certificate not verified
    if sslmode != "verify-full":
        raise config.ConfigurationError(f"unsupported sslmode {sslmode!r}: use disable, require or verify-full")
    if not rootcert:
        return config.system_tls_context()  # certificate and host name checked
    context = ssl.create_default_context(cafile=rootcert)
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def connection() -> Connection:
    """This execution environment's connection, opened on first use (never anew inside a transaction)."""
    con = getattr(_local, "con", None)
    if con is not None:
        return con
    if _in_transaction() and not getattr(_local, "begin_pending", False):  # its connection was lost: a new one would run the rest
        raise DatabaseUnavailable()                         # in autocommit
    kwargs = _connect_kwargs()
    try:
        con = Connection(**kwargs)
    except DatabaseError as error:  # the server refused the session
        state = sqlstate(error)[0] or ""
        # 53300 too many connections (53xxx: out of resources), 57P03 starting up, shutting down or failing over
        _log_refusal("database refused the connection", transient=state[:2] in ("08", "53") or state == "57P03",
                     sqlstate=state)
        raise DatabaseUnavailable() from None
    except (InterfaceError, OSError) as error:  # refused, timed out, unreachable; a TLS failure is configuration
        _log_refusal("database unreachable", transient=not isinstance(error, ssl.SSLError),
                     error_type=type(error).__name__)
        raise DatabaseUnavailable() from None
    _local.con = con
    return con


def _log_refusal(message: str, *, transient: bool, **fields: Any) -> None:
    from odys.log import logger

    if transient:
        logger.warning(message, extra=fields)
    else:  # unknown database, login refused, bad setting, certificate: retrying will not help
        logger.error(message + ": check DATABASE_URL, the credentials and the DATABASE_* settings", extra=fields)


def close() -> None:
    """Drop the connection; the next statement opens a new one, unless it belongs to a transaction begun on this one."""
    con = getattr(_local, "con", None)
    _local.con = None
    if con is not None:
        with contextlib.suppress(Exception):
            con.close()


def _in_transaction() -> bool:
    return getattr(_local, "depth", 0) > 0


def in_transaction() -> bool:
    """Whether this thread is inside :func:`transaction` now: for code that must never run inside one (a call to
    an external service that may be slow, e.g. a PSP), which then raises or defers itself with :func:`after_commit`."""
    return _in_transaction()


def _connection_lost(error: Exception) -> bool:
    """A broken socket, or the server ending our session (admin shutdown, failover, terminated backend)."""
    if isinstance(error, (InterfaceError, OSError)):
        return True
    state = sqlstate(error)[0] if isinstance(error, DatabaseError) else None
    return bool(state) and (state.startswith("08") or state in ("57P01", "57P02", "57P03"))


def _exchange(statements: list[tuple[str, dict[str, Any]]], *, retry_safe: bool,
              batch: bool = False) -> list[tuple[list[list[Any]], list[str]]]:
    """Send ``statements`` in one round trip, a transaction's START TRANSACTION first if it has not gone yet;
    ``batch``: under one Sync, no results (:meth:`Connection.batch`)."""
    begin = _in_transaction() and getattr(_local, "begin_pending", False)
    if begin:  # nothing of the transaction exists yet: on a lost connection it can start again on a new one,
        # unless its COMMIT went too (a batch), which the server may have run before the connection broke
        statements, retry_safe = [("START TRANSACTION", {}), *statements], retry_safe or not batch
    for attempt in (1, 2):
        con = connection()
        try:
            if batch:
                con.batch(statements)
                _local.begin_pending = False
                return []
            results = con.pipeline(statements)
            if begin:
                _local.begin_pending = False
            return results[1:] if begin else results
        except (InterfaceError, OSError, DatabaseError) as error:
            if not _connection_lost(error):  # an error the server sent: the protocol is in step, the connection stays
                if begin:
                    _local.begin_pending = False  # the transaction is open (and aborted): it ends with a ROLLBACK
                if sqlstate(error)[0] in _BUSY:
                    raise DatabaseBusy() from None
                raise
            close()  # inside a transaction this breaks it: connection() refuses to open another one
            if attempt == 2 or not retry_safe:
                raise DatabaseUnavailable() from None
        except Exception:
            # Failed on our side mid-exchange: unread replies would answer the *next* query. Never reuse it.
            close()
            raise
    raise AssertionError("unreachable")


def _rows(sql: str, params: dict[str, Any]) -> tuple[list[list[Any]], list[str]]:
    # only a read outside a transaction may be replayed on a fresh connection
    retry_safe = not _in_transaction() and sql.lstrip()[:6].lower() == "select"
    return _exchange([(sql, params)], retry_safe=retry_safe)[0]


def pipeline(*statements: tuple[str, dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Several statements in one round trip, in order; the rows of each as dicts. Each statement has its own
    snapshot, so a read placed after a ``FOR UPDATE`` sees what was committed while the lock was awaited::

        with db.transaction():
            locked, context = db.pipeline(("SELECT ... FROM professionals WHERE slug = :slug FOR UPDATE", {...}),
                                          ("SELECT (SELECT count(*) FROM appointments ...) AS month_count", {...}))

    Outside a transaction each statement commits on its own. The first error is raised once every reply is read.
    """
    retry_safe = not _in_transaction() and _all_reads(statements)
    return [[dict(zip(names, row)) for row in rows] for rows, names in _exchange(list(statements),
                                                                                  retry_safe=retry_safe)]


def _all_reads(statements: Any) -> bool:
    return builtins.all(sql.lstrip()[:6].lower() == "select" for sql, _ in statements)


def defer(sql: str, **params: Any) -> None:
    """A write whose result nobody reads, sent with the transaction's COMMIT in the same round trip (now, outside a
    transaction). Its error (a constraint) is raised when the block is left, and nothing of the transaction is
    stored::

        with db.transaction():
            db.defer("INSERT INTO notifications (...) VALUES (...)", ...)   # goes with the COMMIT
    """
    if _in_transaction():
        _local.deferred.append((sql, params))
    else:
        run(sql, **params)


def run(sql: str, **params: Any) -> list[list[Any]]:
    """Run a statement and return its raw rows (a list of lists)."""
    return _rows(sql, params)[0]


def all(sql: str, **params: Any) -> list[dict[str, Any]]:  # noqa: A001 - reads as db.all(...)
    """Rows as dicts keyed by column name."""
    rows, names = _rows(sql, params)
    return [dict(zip(names, row)) for row in rows]


def one(sql: str, **params: Any) -> dict[str, Any] | None:
    """The first row as a dict, or None."""
    rows, names = _rows(sql, params)
    return dict(zip(names, rows[0])) if rows else None


def scalar(sql: str, **params: Any) -> Any:
    rows = run(sql, **params)
    return rows[0][0] if rows else None


def after_transaction(action: Callable[[], Any]) -> None:
    """Run ``action`` once the current transaction has ended, committed or rolled back (now, outside one).

    For a record that must survive the failure it reports, e.g. the plan-limit notice written when a creation is
    refused: the refusal rolls the creation back, the notice is written after it. Errors of ``action`` are logged
    and swallowed: they never replace the outcome of the transaction.
    """
    _defer(action, on_rollback=True)


def after_commit(action: Callable[[], Any]) -> None:
    """Run ``action`` only if the current transaction commits (now, outside one), e.g. a metric of what it did."""
    _defer(action, on_rollback=False)


def _defer(action: Callable[[], Any], *, on_rollback: bool) -> None:
    if _in_transaction():
        _local.after.append((action, on_rollback))
    else:
        _run_after([(action, on_rollback)], committed=True)


def _run_after(actions: list[tuple[Callable[[], Any], bool]], *, committed: bool) -> None:
    for action, on_rollback in actions:
        if not (committed or on_rollback):
            continue
        try:
            action()
        except Exception:  # noqa: BLE001 - a follow-up must not change the request's outcome
            from odys.log import logger

            logger.exception("after-transaction action failed")


@contextlib.contextmanager
def transaction() -> Iterator[None]:
    """A transaction; nested calls join the outer one. Rolls back on any exception.

    ``START TRANSACTION`` goes with the block's first statement, and :func:`defer`'s writes with its ``COMMIT``
    (one round trip each); a block that ran nothing sends nothing. If its connection is lost, leaving the block
    (any nested one too) raises :class:`DatabaseUnavailable`.
    """
    if _in_transaction():
        _local.depth += 1
        try:
            yield
        finally:
            _local.depth -= 1
        _refuse_if_broken()
        return
    _local.depth, _local.after, _local.deferred, _local.begin_pending = 1, [], [], True
    try:
        yield
        _refuse_if_broken()
    except BaseException:
        con = getattr(_local, "con", None)
        if con is not None and not _local.begin_pending:
            try:
                con.pipeline([("ROLLBACK", {})])
            except (InterfaceError, OSError, DatabaseError):
                close()
        _end(committed=False)
        raise
    deferred, _local.deferred = _local.deferred, []
    if _local.begin_pending and not deferred:  # nothing was sent: nothing to commit
        _end(committed=True)
        return
    try:  # the deferred writes and the COMMIT under one Sync: one answer, and a failed write stops the COMMIT
        _exchange([*deferred, ("COMMIT", {})], retry_safe=False, batch=True)
    except DatabaseUnavailable:  # lost during COMMIT: committed or not, we cannot know; no after_commit follow-up
        _end(committed=None)
        raise
    except (DatabaseError, DatabaseBusy):  # refused by the server (a deferred write or constraint): rolled back
        _rollback_failed()
        _end(committed=False)
        raise
    _end(committed=True)


def _rollback_failed() -> None:
    """End a transaction block that a deferred write aborted (its COMMIT was skipped); a COMMIT refused by a
    deferred constraint has ended it already."""
    con = getattr(_local, "con", None)
    if con is not None and con.transaction_failed:
        try:
            con.pipeline([("ROLLBACK", {})])
        except (InterfaceError, OSError, DatabaseError):
            close()


def _refuse_if_broken() -> None:
    if getattr(_local, "con", None) is None and not getattr(_local, "begin_pending", False):  # lost inside the transaction, which the server has rolled back
        raise DatabaseUnavailable()


def _end(*, committed: bool | None) -> None:
    """Leave the transaction and run its follow-ups: an unknown outcome (the connection died during COMMIT) runs
    those of :func:`after_transaction` (the transaction has ended either way), never those of :func:`after_commit`."""
    _local.depth, _local.begin_pending, _local.deferred = 0, False, []
    actions = _local.__dict__.pop("after", [])
    _run_after(actions, committed=bool(committed))


def sqlstate(error: DatabaseError) -> tuple[str | None, str | None]:
    """(SQLSTATE code, constraint name) of a server error, e.g. ``("23P01", "appointments_no_overlap")``."""
    info = error.args[0] if error.args and isinstance(error.args[0], dict) else {}
    return info.get("C"), info.get("n")
