"""Proof of deletion (LGPD): one audit row per deletion, holding no personal data — whose data it was (the
professional's id), who asked, what was removed, and how many rows of each kind.

    with db.transaction():
        deletion_audit.account_deleted(professional_id)          # counts, then records; call before the DELETE
        store.delete(professional_id)

    deletion_audit.client_deleted(professional_id, client_id)    # the professional deleted a client
    deletion_audit.client_erasure(professional_id, counts)       # a client user's erasure request (what it removed)

Call each inside the transaction that deletes, so the row exists exactly when the deletion does. Rows are kept
for :data:`odys.retention.DELETION_AUDIT_TTL`.
"""

from __future__ import annotations

from odys.store import deletion_audit as store


def account_deleted(professional_id: str) -> dict[str, int]:
    counts = store.count_account(professional_id)
    store.insert(professional_id, actor="professional", action="account_deleted", counts=counts)
    return counts


def client_deleted(professional_id: str, client_id: str) -> dict[str, int]:
    counts = {"clients": 1, **store.count_client(professional_id, client_id)}
    store.insert(professional_id, actor="professional", action="client_deleted", counts=counts)
    return counts


def client_erasure(professional_id: str, counts: dict[str, int]) -> None:
    store.insert(professional_id, actor="client_user", action="client_erasure", counts=counts)
