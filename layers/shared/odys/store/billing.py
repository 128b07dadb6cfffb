"""SQL for Stripe billing state on professionals and the processed-event ledger (``stripe_events``).

    with db.transaction():
        if billing.record_event("evt_123", "checkout.session.completed"):      # False: seen before
            row = billing.lock_professional(professional_id=pid)              # FOR UPDATE: one event at a time
            billing.apply_subscription(pid, plan="pro", customer_id="cus_1", subscription_id="sub_1", state_at=t)
            billing.forget_checkout_session(pid, "cs_1")                      # the session was paid
    with db.transaction():                                                    # the same, one statement fewer:
        recorded, row = billing.record_and_lock("evt_124", "customer.subscription.updated", customer_id="cus_1")
        billing.apply_subscription(pid, plan="premium", customer_id="cus_1", subscription_id="sub_1", state_at=t,
                                   notice={"kind": "billing_plan_changed", "title": "…", "body": "…",
                                           "dedupe_key": "stripe:evt_124:plan_changed"})   # + the in-app notice
    billing.replace_checkout_session(pid, "cs_2")                             # -> {"replaced": "cs_1"}
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from odys import db
from odys.store import notifications

STATE_COLUMNS = ("id, plan, stripe_customer_id, stripe_subscription_id, stripe_checkout_session_id, stripe_state_at, "
                 "trial_ends_at")


def record_event(event_id: str, event_type: str) -> bool:
    """Record a Stripe event id; False when it was already recorded (then it must not be processed again)."""
    return bool(db.run("INSERT INTO stripe_events (id, type) VALUES (:id, :type) ON CONFLICT (id) DO NOTHING "
                       "RETURNING id", id=event_id, type=event_type))


_MATCH = ("SELECT {columns} FROM professionals WHERE {guard}(id = CAST(:pid AS uuid) OR stripe_customer_id = :cid "
          "OR stripe_subscription_id = :sid) ORDER BY CASE WHEN id = CAST(:pid AS uuid) THEN 0 "
          "WHEN stripe_customer_id = :cid THEN 1 ELSE 2 END LIMIT 1 FOR UPDATE")


def _keys(professional_id: str | None, customer_id: str | None, subscription_id: str | None) -> dict[str, Any]:
    return {"pid": professional_id or None, "cid": customer_id or None, "sid": subscription_id or None}


def lock_professional(*, professional_id: str | None = None, customer_id: str | None = None,
                      subscription_id: str | None = None) -> dict[str, Any] | None:
    """The billing state of the first professional matched by id, then customer, then subscription (row locked)."""
    return db.one(_MATCH.format(columns=STATE_COLUMNS, guard=""),
                  **_keys(professional_id, customer_id, subscription_id))


def record_and_lock(event_id: str, event_type: str, *, professional_id: str | None = None,
                    customer_id: str | None = None,
                    subscription_id: str | None = None) -> tuple[bool, dict[str, Any] | None]:
    """:func:`record_event` and then :func:`lock_professional` in one statement: ``(recorded, state)``; when the
    event was recorded before (``recorded`` False) nothing is locked and ``state`` is None."""
    row = db.one(f"WITH recorded AS (INSERT INTO stripe_events (id, type) VALUES (:id, :type) "
                 f"ON CONFLICT (id) DO NOTHING RETURNING id) "
                 f"SELECT recorded.id IS NOT NULL AS recorded, state.* FROM (SELECT) one "
                 f"LEFT JOIN recorded ON true LEFT JOIN LATERAL "
                 f"({_MATCH.format(columns=STATE_COLUMNS, guard='recorded.id IS NOT NULL AND ')}) state ON true",
                 id=event_id, type=event_type, **_keys(professional_id, customer_id, subscription_id))
    assert row is not None
    recorded = bool(row.pop("recorded"))
    return recorded, row if row["id"] is not None else None


def link_customer(professional_id: str, customer_id: str) -> str | None:
    """Store the Stripe customer id unless one is stored already; returns the id that is stored (None: no row)."""
    rows = db.run("UPDATE professionals SET stripe_customer_id = :cid, updated_at = now() "
                  "WHERE id = :id AND stripe_customer_id IS NULL RETURNING stripe_customer_id",
                  id=professional_id, cid=customer_id)
    if rows:
        return rows[0][0]
    return db.scalar("SELECT stripe_customer_id FROM professionals WHERE id = :id", id=professional_id)


def apply_subscription(professional_id: str, *, plan: str | None, customer_id: str | None,
                       subscription_id: str | None, state_at: dt.datetime,
                       notice: dict[str, str] | None = None) -> None:
    """Apply a subscription state: plan (None keeps it), subscription id (None clears it), newest state time; with
    ``notice`` (``kind``, ``title``, ``body``, ``dedupe_key``) the professional's in-app notice in the same statement
    (at most once per ``dedupe_key``, as :func:`odys.store.notifications.insert`). Inside a transaction it goes with
    the COMMIT (:func:`odys.db.defer`): the event's handlers read nothing it changes after it."""
    update = ("UPDATE professionals SET plan = COALESCE(CAST(:plan AS text), plan), "
              "stripe_customer_id = COALESCE(stripe_customer_id, CAST(:customer AS text)), "
              "stripe_subscription_id = :sid, stripe_state_at = GREATEST(stripe_state_at, CAST(:at AS timestamptz)), "
              "updated_at = now() WHERE id = :rid")
    params = {"rid": professional_id, "plan": plan, "customer": customer_id, "sid": subscription_id, "at": state_at}
    if notice is None:
        db.defer(update, **params)
        return
    db.defer(f"WITH applied AS ({update}) {notifications.INSERT}", **params, cid=None, kind=notice["kind"],
             title=notice["title"], body=notice["body"], dedupe=notice["dedupe_key"])


def replace_checkout_session(professional_id: str, session_id: str) -> dict[str, Any] | None:
    """Store the professional's open Checkout session: ``{"replaced": <the previous one or None>}``, None when
    the professional is gone. One statement that locks the row: concurrent checkouts each get the one they displaced.
    """
    return db.one("UPDATE professionals p SET stripe_checkout_session_id = :sid, updated_at = now() "
                  "FROM (SELECT id, stripe_checkout_session_id AS replaced FROM professionals WHERE id = :id "
                  "FOR UPDATE) old WHERE p.id = old.id RETURNING old.replaced", id=professional_id, sid=session_id)


def forget_checkout_session(professional_id: str, session_id: str) -> None:
    """Clear the stored open Checkout session if it is ``session_id`` (it completed or was expired)."""
    db.run("UPDATE professionals SET stripe_checkout_session_id = NULL, updated_at = now() "
           "WHERE id = :id AND stripe_checkout_session_id = :sid", id=professional_id, sid=session_id)
