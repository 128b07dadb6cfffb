"""SQL for clients (always scoped to their professional)."""

from __future__ import annotations

from typing import Any

from odys import db
from odys.store import domain_errors, set_clause

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


def insert_at_commit(client_id: str, professional_id: str, name: str, phone: str, email: str | None) -> dict[str, Any]:
    """A new client sent with the transaction's COMMIT (:func:`odys.db.defer`), its id chosen here. A phone taken
    meanwhile raises :class:`odys.errors.ClientExists` when the transaction ends (under
    :func:`odys.store.domain_errors`)."""
    db.defer("INSERT INTO clients (id, professional_id, name, phone, email) VALUES (:id, :pid, :name, :phone, :email)",
             id=client_id, pid=professional_id, name=name, phone=phone, email=email)
    return {"id": client_id, "professional_id": professional_id, "user_id": None, "name": name, "phone": phone,
            "email": email}


def count(professional_id: str) -> int:
    return db.scalar("SELECT count(*) FROM clients WHERE professional_id = :pid", pid=professional_id)


# --- issue 3 (B): search, edit and delete from the professional's client list -------------------------------

UPDATABLE = frozenset({"name", "phone", "email"})
_C_COLUMNS = ", ".join(f"c.{name.strip()}" for name in COLUMNS.split(","))


def search_page(professional_id: str, *, now: Any, limit: int, offset: int, name_pattern: str | None = None,
                phone_digits: str | None = None) -> list[dict[str, Any]]:
    """A page of clients by name (then id), each with ``next_appointment_at`` (next active one from ``now``).

    ``name_pattern`` is an ILIKE pattern compared without accents; ``phone_digits`` matches anywhere in the phone.
    Given both, a client matching either is returned.
    """
    params: dict[str, Any] = {"pid": professional_id, "now": now, "limit": limit, "offset": offset}
    matches = []
    if name_pattern is not None:
        matches.append("unaccent(c.name) ILIKE unaccent(CAST(:name_pattern AS text))")
        params["name_pattern"] = name_pattern
    if phone_digits:
        matches.append("c.phone LIKE :phone_pattern")
        params["phone_pattern"] = f"%{phone_digits}%"
    where = "c.professional_id = :pid" + (f" AND ({' OR '.join(matches)})" if matches else "")
    return db.all(
        f"SELECT {_C_COLUMNS}, (SELECT min(a.starts_at) FROM appointments a WHERE a.client_id = c.id "
        f"AND a.professional_id = c.professional_id AND a.status IN ('pending', 'confirmed') "
        f"AND a.starts_at >= :now) AS next_appointment_at FROM clients c WHERE {where} "
        f"ORDER BY lower(c.name), c.id LIMIT :limit OFFSET :offset", **params)


def update_fields(professional_id: str, client_id: str, changes: dict[str, Any]) -> dict[str, Any] | None:
    """Apply ``changes`` (name, phone, email); None when absent; :class:`odys.errors.ClientExists` when another
    client of the professional has the phone."""
    assignments, values = set_clause(changes, UPDATABLE)
    with domain_errors():
        return db.one(f"UPDATE clients SET {assignments} WHERE professional_id = :pid AND id = :id "
                      f"RETURNING {COLUMNS}", pid=professional_id, id=client_id, **values)


def delete_one(professional_id: str, client_id: str) -> bool:
    """Delete a client; their appointments, notes, series and messages go with them (ON DELETE CASCADE)."""
    return bool(db.run("DELETE FROM clients WHERE professional_id = :pid AND id = :id RETURNING id",
                       pid=professional_id, id=client_id))
