"""Data access: small functions, one SQL statement each, always scoped to a professional where data is theirs.

A write that a database constraint refuses raises the domain error it means (:func:`domain_errors`), so services
never read SQLSTATEs or constraint names.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from odys import db
from odys.errors import ClientExists, NotFound, OverlappingWindows, SlotTaken

# constraint name -> the domain error its refusal means
_REFUSALS: dict[str, Callable[[], Exception]] = {
    "appointments_no_overlap": SlotTaken,
    "availability_no_overlap": OverlappingWindows,
    "clients_phone_per_professional": ClientExists,
    "appointments_client_same_professional": lambda: NotFound("client"),  # the client was deleted meanwhile
    "client_notes_client_same_professional": lambda: NotFound("client"),
}


@contextlib.contextmanager
def domain_errors() -> Iterator[None]:
    """Turn a constraint's refusal (unique, exclusion, foreign key) into its domain error; others pass through.

    >>> with domain_errors():
    ...     db.run("INSERT INTO appointments ...")   # overlapping an active one -> odys.errors.SlotTaken
    """
    try:
        yield
    except db.DatabaseError as error:
        state, constraint = db.sqlstate(error)
        refusal = _REFUSALS.get(constraint or "")
        if refusal is not None and state in ("23505", "23P01", "23503"):
            raise refusal() from None
        raise


def set_clause(changes: dict[str, Any], allowed: frozenset[str]) -> tuple[str, dict[str, Any]]:
    """The ``SET`` list of an UPDATE for the ``allowed`` columns in ``changes`` (plus ``updated_at``), and its params.

    >>> set_clause({"name": "Ana", "id": "x"}, frozenset({"name", "email"}))
    ('name = :name, updated_at = now()', {'name': 'Ana'})

    Column names come from ``allowed`` (code, never the request), values travel as parameters.
    """
    names = sorted(set(changes) & allowed)
    return ", ".join([*(f"{n} = :{n}" for n in names), "updated_at = now()"]), {n: changes[n] for n in names}
