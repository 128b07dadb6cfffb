"""Schema migrations: ordered SQL files in ``odys/migrations/``, applied once each.

    from odys import migrate
    migrate.apply_pending()      # -> ["0001_schema.sql", ...] (the files applied by this call)

Each file runs in its own transaction together with its row in ``schema_migrations``, so a failing file leaves
nothing behind. A session-level advisory lock serialises concurrent runners (two deploys, the dev server and a
test run): the second waits, then finds nothing pending. Used by the ``migrate`` function and the dev server.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from odys import db

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_LOCK_KEY = 0x0D15_0001  # arbitrary, constant: the advisory lock all runners share


def migration_files() -> list[Path]:
    return sorted(MIGRATIONS_DIR.glob("[0-9][0-9][0-9][0-9]_*.sql"))


def apply_pending() -> list[str]:
    db.run("SELECT pg_advisory_lock(:key)", key=_LOCK_KEY)
    try:
        db.run("""CREATE TABLE IF NOT EXISTS schema_migrations (
                      name text PRIMARY KEY,
                      checksum text NOT NULL,
                      applied_at timestamptz NOT NULL DEFAULT now())""")
        done = {name: checksum for name, checksum in db.run("SELECT name, checksum FROM schema_migrations")}
        applied: list[str] = []
        for path in migration_files():
            sql = path.read_text(encoding="utf-8")
            checksum = hashlib.sha256(sql.encode()).hexdigest()
            if path.name in done:
                if done[path.name] != checksum:
                    raise RuntimeError(f"migration {path.name} was changed after it was applied; add a new file instead")
                continue
            with db.transaction():
                db.connection().execute_simple(sql)  # multi-statement file, no parameters
                db.run("INSERT INTO schema_migrations (name, checksum) VALUES (:name, :checksum)",
                       name=path.name, checksum=checksum)
            applied.append(path.name)
        return applied
    finally:
        db.run("SELECT pg_advisory_unlock(:key)", key=_LOCK_KEY)
