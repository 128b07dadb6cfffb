"""Data access: small functions, one SQL statement each, always scoped to a professional where data is theirs."""

from __future__ import annotations

from typing import Any


def set_clause(changes: dict[str, Any], allowed: frozenset[str]) -> tuple[str, dict[str, Any]]:
    """The ``SET`` list of an UPDATE for the ``allowed`` columns in ``changes`` (plus ``updated_at``), and its params.

    >>> set_clause({"name": "Ana", "id": "x"}, frozenset({"name", "email"}))
    ('name = :name, updated_at = now()', {'name': 'Ana'})

    Column names come from ``allowed`` (code, never the request), values travel as parameters.
    """
    names = sorted(set(changes) & allowed)
    return ", ".join([*(f"{n} = :{n}" for n in names), "updated_at = now()"]), {n: changes[n] for n in names}
