"""SQL for a professional's PSP connection (one per professional; credentials stay sealed here).

    upsert(pid, provider="efi", pix_key=key, api_base_url=None, token_url=None, credentials=blob,
           webhook_token_hash=digest, certificate_expires_at=when, now=now)
    get(pid)                              # the row (with the sealed blob), or None
    by_webhook_token_hash(digest)         # the connection a callback URL names
    record_check(pid, now, error=None)    # a successful PSP call (error=None) or the last failure's code
    delete(pid)                           # True when there was one
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from odys import db

COLUMNS = """professional_id, provider, pix_key, api_base_url, token_url, credentials, webhook_token_hash, status,
    certificate_expires_at, last_checked_at, last_error, created_at, updated_at"""


def upsert(professional_id: str, *, provider: str, pix_key: str, api_base_url: str | None, token_url: str | None,
           credentials: bytes, webhook_token_hash: bytes, certificate_expires_at: dt.datetime | None,
           now: dt.datetime) -> dict[str, Any]:
    row = db.one(
        f"INSERT INTO pix_connections (professional_id, provider, pix_key, api_base_url, token_url, credentials, "
        f"webhook_token_hash, status, certificate_expires_at, last_checked_at, last_error) VALUES (:pid, :provider, "
        f":key, :base, :token_url, :credentials, :hash, 'active', :expires, :now, NULL) "
        f"ON CONFLICT (professional_id) DO UPDATE SET provider = EXCLUDED.provider, pix_key = EXCLUDED.pix_key, "
        f"api_base_url = EXCLUDED.api_base_url, token_url = EXCLUDED.token_url, credentials = EXCLUDED.credentials, "
        f"webhook_token_hash = EXCLUDED.webhook_token_hash, status = 'active', "
        f"certificate_expires_at = EXCLUDED.certificate_expires_at, last_checked_at = EXCLUDED.last_checked_at, "
        f"last_error = NULL, updated_at = now() RETURNING {COLUMNS}",
        pid=professional_id, provider=provider, key=pix_key, base=api_base_url, token_url=token_url,
        credentials=credentials, hash=webhook_token_hash, expires=certificate_expires_at, now=now)
    assert row is not None
    return row


def get(professional_id: str) -> dict[str, Any] | None:
    return db.one(f"SELECT {COLUMNS} FROM pix_connections WHERE professional_id = :pid", pid=professional_id)


def by_webhook_token_hash(digest: bytes) -> dict[str, Any] | None:
    return db.one(f"SELECT {COLUMNS} FROM pix_connections WHERE webhook_token_hash = :hash", hash=digest)


def record_check(professional_id: str, now: dt.datetime, error: str | None = None) -> None:
    if error is None:
        db.run("UPDATE pix_connections SET status = 'active', last_checked_at = :now, last_error = NULL "
               "WHERE professional_id = :pid", pid=professional_id, now=now)
    else:
        db.run("UPDATE pix_connections SET status = 'error', last_error = :error WHERE professional_id = :pid",
               pid=professional_id, error=error[:200])


def delete(professional_id: str) -> bool:
    return bool(db.run("DELETE FROM pix_connections WHERE professional_id = :pid RETURNING professional_id",
                       pid=professional_id))


def connected_professionals(limit: int) -> list[dict[str, Any]]:
    """Connections in order of their last check (the reconciliation's sweep takes a bounded number)."""
    return db.all(f"SELECT {COLUMNS} FROM pix_connections ORDER BY last_checked_at NULLS FIRST LIMIT :limit",
                  limit=limit)
