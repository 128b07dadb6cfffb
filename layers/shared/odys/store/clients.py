"""SQL for clients (always scoped to their professional)."""

from __future__ import annotations

from typing import Any

from odys import db

COLUMNS = "id, professional_id, user_id, name, phone, email, created_at, updated_at"


def by_phone(professional_id: str, phone: str) -> dict[str, Any] | None:
    return db.one(f"SELECT {COLUMNS} FROM clients WHERE professional_id = :pid AND phone = :phone",
                  pid=professional_id, phone=phone)


def get(professional_id: str, client_id: str) -> dict[str, Any] | None:
    return db.one(f"SELECT {COLUMNS} FROM clients WHERE professional_id = :pid AND id = :id",
                  pid=professional_id, id=client_id)


def insert(professional_id: str, name: str, phone: str, email: str | None) -> dict[str, Any] | None:
    """Insert; None when the phone already exists for this professional (race-safe, no exception)."""
    return db.one(f"INSERT INTO clients (professional_id, name, phone, email) VALUES (:pid, :name, :phone, :email) "
                  f"ON CONFLICT (professional_id, phone) DO NOTHING RETURNING {COLUMNS}",
                  pid=professional_id, name=name, phone=phone, email=email)


def count(professional_id: str) -> int:
    return db.scalar("SELECT count(*) FROM clients WHERE professional_id = :pid", pid=professional_id)
