"""Invariants the database itself guarantees, and the migration runner."""

from __future__ import annotations

import threading

import pytest

from odys import db, migrate

T0 = "2030-03-04 13:00:00+00"


def _professional(slug: str) -> str:
    return db.scalar("INSERT INTO professionals (user_id, name, slug, phone, email, profession) "
                     "VALUES (:u, 'P', :s, '+5511999990000', 'p@example.com', 'Psi') RETURNING id",
                     u=f"user-{slug}", s=slug)


def _client(pid: str, phone: str = "+5511911112222") -> str:
    return db.scalar("INSERT INTO clients (professional_id, name, phone) VALUES (:p, 'C', :ph) RETURNING id",
                     p=pid, ph=phone)


def _appointment(pid: str, cid: str, start: str, minutes: int = 50, status: str = "confirmed") -> str:
    return db.scalar("INSERT INTO appointments (professional_id, client_id, starts_at, ends_at, status) "
                     "VALUES (:p, :c, CAST(:s AS timestamptz), CAST(:s AS timestamptz) + make_interval(mins => :m), "
                     ":st) RETURNING id", p=pid, c=cid, s=start, m=minutes, st=status)


def _violation(fn) -> tuple[str | None, str | None]:
    with pytest.raises(db.DatabaseError) as info:
        fn()
    return db.sqlstate(info.value)


def test_overlapping_active_appointments_are_rejected_by_the_database():
    pid = _professional("overlap")
    cid = _client(pid)
    _appointment(pid, cid, T0)
    assert _violation(lambda: _appointment(pid, cid, "2030-03-04 13:30:00+00")) == ("23P01", "appointments_no_overlap")
    assert _violation(lambda: _appointment(pid, cid, "2030-03-04 12:30:00+00", status="pending")) == (
        "23P01", "appointments_no_overlap")
    # back-to-back is fine ([) ranges), so are cancelled/completed ones, and other professionals
    _appointment(pid, cid, "2030-03-04 13:50:00+00")
    _appointment(pid, cid, "2030-03-04 13:10:00+00", status="cancelled")
    other = _professional("other-pro")
    _appointment(other, _client(other), T0)
    assert db.scalar("SELECT count(*) FROM appointments") == 4


def test_a_cancelled_appointment_cannot_be_reactivated_into_an_overlap():
    pid = _professional("reactivate")
    cid = _client(pid)
    cancelled = _appointment(pid, cid, T0, status="cancelled")
    _appointment(pid, cid, T0)
    assert _violation(lambda: db.run("UPDATE appointments SET status = 'confirmed' WHERE id = :id", id=cancelled))[0] \
        == "23P01"


def test_concurrent_inserts_for_one_slot_only_one_wins():
    pid = _professional("race")
    cid = _client(pid)
    outcomes: list[str] = []
    barrier = threading.Barrier(8)

    def attempt() -> None:
        barrier.wait()
        try:
            with db.transaction():
                _appointment(pid, cid, T0)
            outcomes.append("ok")
        except db.DatabaseError as error:
            outcomes.append(db.sqlstate(error)[0] or "?")
        finally:
            db.close()

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Each loser is refused by the constraint (23P01) or, as PostgreSQL documents for concurrent conflicting
    # inserts under an exclusion constraint, aborted as a deadlock victim (40P01): either way nothing overlaps.
    # (The services lock the professional's row first, so their bookings queue instead and only see 23P01.)
    assert outcomes.count("ok") == 1
    assert set(outcomes) - {"ok"} <= {"23P01", "40P01"} and len(outcomes) == 8
    assert db.scalar("SELECT count(*) FROM appointments WHERE professional_id = :p", p=pid) == 1


def test_client_of_another_professional_cannot_be_referenced():
    mine, theirs = _professional("mine"), _professional("theirs")
    their_client = _client(theirs)
    assert _violation(lambda: _appointment(mine, their_client, T0))[0] == "23503"
    assert _violation(lambda: db.run("INSERT INTO client_notes (professional_id, client_id, body) "
                                     "VALUES (:p, :c, 'x')", p=mine, c=their_client))[0] == "23503"


def test_uniques_and_checks():
    pid = _professional("checks")
    _client(pid, "+5511911112222")
    assert _violation(lambda: _client(pid, "+5511911112222")) == ("23505", "clients_phone_per_professional")
    assert _violation(lambda: _professional("Bad Slug!"))[0] == "23514"
    assert _violation(lambda: db.run("UPDATE professionals SET plan = 'gold' WHERE id = :id", id=pid))[0] == "23514"
    assert _violation(lambda: db.run("UPDATE professionals SET pix_key = 'x' WHERE id = :id", id=pid)) == (
        "23514", "pix_key_pair")
    cid = _client(pid, "+5511933334444")
    assert _violation(lambda: db.run(
        "INSERT INTO appointments (professional_id, client_id, starts_at, ends_at) "
        "VALUES (:p, :c, CAST(:s AS timestamptz), CAST(:s AS timestamptz))", p=pid, c=cid, s=T0)) == (
        "23514", "appointments_time_order")


def test_every_foreign_key_is_indexed():
    unindexed = db.all("""
        SELECT c.conrelid::regclass::text AS tbl, c.conname
        FROM pg_constraint c
        WHERE c.contype = 'f' AND NOT EXISTS (
            SELECT 1 FROM pg_index i
            WHERE i.indrelid = c.conrelid
              AND (i.indkey::int2[])[0:array_length(c.conkey, 1) - 1] @> c.conkey
              AND (i.indkey::int2[])[0] = c.conkey[1])""")
    assert unindexed == []


def test_no_index_repeats_the_leading_columns_of_another():
    """Each index is written with every row (a booking inserts six): a plain btree whose columns open another
    btree of the same table (same operator classes, neither partial) serves no query the longer one cannot."""
    repeated = db.all("""
        SELECT s.indexrelid::regclass::text AS repeated, l.indexrelid::regclass::text AS within
        FROM pg_index s
        JOIN pg_class sc ON sc.oid = s.indexrelid
        JOIN pg_index l ON l.indrelid = s.indrelid AND l.indexrelid <> s.indexrelid
        JOIN pg_class lc ON lc.oid = l.indexrelid
        WHERE sc.relam = (SELECT oid FROM pg_am WHERE amname = 'btree') AND lc.relam = sc.relam
          AND NOT s.indisunique AND s.indpred IS NULL AND l.indpred IS NULL
          AND s.indexprs IS NULL AND l.indexprs IS NULL AND s.indnkeyatts <= l.indnkeyatts
          AND (l.indkey::int2[])[0:s.indnkeyatts - 1] = (s.indkey::int2[])[0:s.indnkeyatts - 1]
          AND (l.indclass::oid[])[0:s.indnkeyatts - 1] = (s.indclass::oid[])[0:s.indnkeyatts - 1]
        ORDER BY 1""")
    assert repeated == []


def test_migrations_are_recorded_and_concurrent_runners_are_safe(postgres):
    import os

    postgres.create_database("odys_migrate_race")
    url = postgres.url("odys_migrate_race")
    results: list[list[str]] = []
    errors: list[BaseException] = []
    saved = os.environ["DATABASE_URL"]

    def runner() -> None:
        try:
            results.append(migrate.apply_pending())
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            db.close()

    db.close()
    os.environ["DATABASE_URL"] = url
    try:
        threads = [threading.Thread(target=runner) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        names = [p.name for p in migrate.migration_files()]
        assert errors == []
        assert sorted(results, key=len) == [[], [], [], names]
        assert [r[0] for r in db.run("SELECT name FROM schema_migrations ORDER BY name")] == names
    finally:
        db.close()
        os.environ["DATABASE_URL"] = saved


def test_dropped_connection_is_replaced_transparently():
    pid = db.scalar("SELECT pg_backend_pid()")
    killer_url_ok = db.scalar("SELECT count(*) FROM professionals") == 0
    assert killer_url_ok
    # kill our own backend from a second connection
    import pg8000.native

    from odys.db import _connect_kwargs

    other = pg8000.native.Connection(**_connect_kwargs())
    other.run("SELECT pg_terminate_backend(:pid)", pid=pid)
    other.close()
    assert db.scalar("SELECT count(*) FROM professionals") == 0  # a read is retried on a fresh connection
    assert db.scalar("SELECT pg_backend_pid()") != pid
    pid = db.scalar("SELECT pg_backend_pid()")
    other = pg8000.native.Connection(**_connect_kwargs())
    other.run("SELECT pg_terminate_backend(:pid)", pid=pid)
    other.close()
    with db.transaction():  # a transaction starts on a fresh connection too
        db.run("INSERT INTO professionals (user_id, name, slug, phone, email, profession) "
               "VALUES ('u-reconnect', 'P', 'reconnect', '+5511999990000', 'p@example.com', 'Psi')")
    assert db.scalar("SELECT count(*) FROM professionals") == 1


def test_a_write_on_a_dead_connection_is_not_replayed():
    from odys.db import DatabaseUnavailable, _connect_kwargs
    import pg8000.native

    pid = db.scalar("SELECT pg_backend_pid()")
    other = pg8000.native.Connection(**_connect_kwargs())
    other.run("SELECT pg_terminate_backend(:pid)", pid=pid)
    other.close()
    with pytest.raises(DatabaseUnavailable):
        db.run("INSERT INTO professionals (user_id, name, slug, phone, email, profession) "
               "VALUES ('u-w', 'P', 'write-once', '+5511999990000', 'p@example.com', 'Psi')")
    assert db.scalar("SELECT count(*) FROM professionals") == 0


def test_after_commit_runs_only_on_commit_and_after_transaction_always():
    seen: list[str] = []
    with db.transaction():
        db.after_commit(lambda: seen.append("commit: committed"))
        db.after_transaction(lambda: seen.append("end: committed"))
        assert seen == []  # nothing runs inside the transaction
    with pytest.raises(RuntimeError):
        with db.transaction():
            db.after_commit(lambda: seen.append("commit: rolled back"))
            db.after_transaction(lambda: seen.append("end: rolled back"))
            raise RuntimeError("refused")
    db.after_commit(lambda: seen.append("outside"))
    assert seen == ["commit: committed", "end: committed", "end: rolled back", "outside"]


def test_a_client_side_encoding_failure_never_leaves_the_connection_out_of_step():
    import datetime as dt

    before = db.scalar("SELECT pg_backend_pid()")
    near_year_one = dt.datetime(1, 1, 1, 0, 30, tzinfo=dt.timezone(dt.timedelta(hours=5)))
    with pytest.raises(Exception) as info:  # pg8000 fails while encoding, part of the exchange already sent
        db.run("SELECT CAST(:a AS text), CAST(:t AS timestamptz)", a="first", t=near_year_one)
    assert not isinstance(info.value, db.DatabaseError)
    assert db.scalar("SELECT 'second'") == "second"  # not the first query's unread reply
    assert db.scalar("SELECT pg_backend_pid()") != before  # the connection was replaced
