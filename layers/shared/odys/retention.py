"""What Odys keeps, and for how long: the one place that purges data past its use.

    retention.purge(clock.now())
    # -> {"idempotency_keys": 3, "stripe_events": 120, "notifications": 8, "whatsapp_statuses": 0}

Kept with their owner, deleted with it (foreign keys ``ON DELETE CASCADE``, see the migrations): everything about
a professional goes with the account, everything about a client goes with the client — appointments, notes,
series, messages, reviews, notifications about them, and the Idempotency-Keys of their bookings.

Kept for a while, then purged by :func:`purge` (the daily housekeeping job runs it):

- **Idempotency-Keys** of public booking: :data:`IDEMPOTENCY_KEY_TTL` after their first use (a retry after a
  day is a new request); they hold only the appointment they created.
- **Processed Stripe event ids**: :data:`STRIPE_EVENT_TTL` (Stripe retries a delivery for up to 3 days; the
  out-of-order guard is the professional's ``stripe_state_at``, not this table).
- **Read in-app notifications**: :data:`READ_NOTIFICATION_TTL` after they were read.
- **WhatsApp delivery statuses of no message of ours** (Meta's statuses of a message whose send never committed):
  :data:`ORPHAN_STATUS_TTL` after they arrived; the others go with their message.
- **Deletion audit rows** (ids and counts, no personal data: :mod:`odys.deletion_audit`): :data:`DELETION_AUDIT_TTL`.
"""

from __future__ import annotations

import datetime as dt

from odys.store import deletion_audit as audit_store
from odys.store import retention as store

IDEMPOTENCY_KEY_TTL = dt.timedelta(hours=24)
STRIPE_EVENT_TTL = dt.timedelta(days=30)
READ_NOTIFICATION_TTL = dt.timedelta(days=90)
ORPHAN_STATUS_TTL = dt.timedelta(days=7)  # Meta retries a webhook for up to 7 days
DELETION_AUDIT_TTL = dt.timedelta(days=5 * 365)  # proof of a deletion, as long as the records it replaced


def purge(now: dt.datetime) -> dict[str, int]:
    """Delete what is past its retention; returns how many rows of each kind went."""
    return {
        "idempotency_keys": store.delete_expired_idempotency_keys(now),
        "stripe_events": store.delete_stripe_events_before(now - STRIPE_EVENT_TTL),
        "notifications": store.delete_notifications_read_before(now - READ_NOTIFICATION_TTL),
        "whatsapp_statuses": store.delete_orphan_statuses_before(now - ORPHAN_STATUS_TTL),
        "deletion_audit": audit_store.delete_before(now - DELETION_AUDIT_TTL),
    }
