"""A client user's own side of Odys: their records at every professional, rectification, export and erasure.

    user = client_links.client_user(app.context)
    client_profile.get(user)       # {"identity", "professionals": [...], "appointments": {"upcoming", "past"}}
    client_profile.update(user, ProfileUpdate(name="Bia Lima"))   # rectifies every linked record, tells each pro
    client_profile.export(user)    # everything Odys holds about them, one JSON document (schemaVersion 1)
    client_profile.erase(user.user_id)   # the erasure request: unlink, follows, reviews; audit + notice per pro

What a client user sees is decided here, never by a request: their rows are the ``clients`` rows linked to their
token's verified phone or e-mail (:mod:`odys.client_links`; ``get``, ``update`` and ``export`` link first).

* **Appointments** (up to :data:`PROFILE_APPOINTMENTS` upcoming — not over yet, soonest first — and as many past,
  latest first; the export has all): each with its professional's public fields, UTC and local times in the
  professional's zone, status, price, payment status, the client's own booking notes (never the professional's),
  ``pixUrl`` (``GET /api/appointments/{id}/pix``, which the appointment's client user may call) while a priced,
  not cancelled appointment is unpaid and the professional has a PIX key, and its review or whether it can have
  one.
* **Rectification** (LGPD art. 18 III): ``PATCH {name?, email?}`` corrects every linked record that differs
  (``email: null`` removes it) and leaves each of those professionals an in-app notice. The phone is the identity
  itself: it changes in Supabase, not here.
* **Export** (art. 18 II, V): identity; each record (contact data, WhatsApp id and opt-out) with its appointments
  (and the client's own booking notes), recurring sessions, every WhatsApp message about it (to and from the
  person, and the notices sent to the professional about them) and the professional's in-app notices about it;
  follows and reviews. Only the professional's private notes about the client stay out (:data:`NOT_EXPORTED`):
  they are the professional's clinical record, kept and handed over by the professional, the controller of that
  data (CFP Res. 001/2009).
* **Erasure** (art. 18 VI): ``DELETE`` unlinks the user from every record, deletes their follows and **withdraws
  (deletes) their reviews** — not anonymised: a review was published on the person's consent, which they now
  withdraw (art. 8 § 5), and its text and its tie to an appointment in the professional's agenda would let it be
  traced back to them anyway (art. 12: data that can be re-identified is not anonymous); the average moves
  accordingly. Each professional concerned gets one audit row (:func:`odys.deletion_audit.client_erasure`, counts
  only) and, if the person was their client, a notice. The records themselves — contact data, appointments,
  payments, notes — stay with the professional, who must keep the clinical record for five years (CFP Res.
  001/2009) and decides on the rest. The erasure stands: signing in again (or the same token's next request), or
  a later owner of the number, links none of those records again — until the professional changes a record's
  phone or e-mail (:mod:`odys.client_links`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from odys import client_links, clock, db, deletion_audit, follows, profiles, review_summary, reviews
from odys.fields import ApiModel, Email, Name, reject_nulls
from odys.log import logger
from odys.store import client_links as links_store
from odys.store import client_profile as store
from odys.store import follows as follows_store
from odys.store import reviews as reviews_store

PROFILE_APPOINTMENTS = 50
EXPORT_SCHEMA_VERSION = 1
UNPAID = ("unpaid", "pending")
UTC = dt.timezone.utc
NOT_EXPORTED = ("The private notes each professional keeps about you (on your record and on each appointment) are "
                "their clinical record, of which they are the controller: ask the professional for them "
                "(CFP Res. 001/2009).")


class ProfileUpdate(ApiModel):
    """``PATCH /api/client-profile``: ``{name?, email?}``; ``email: null`` removes the e-mail."""

    name: Name | None = None
    email: Email | None = None


def _professional(row: dict[str, Any]) -> dict[str, Any]:
    """The public card of the professional a joined row (``professional_*`` columns) names."""
    return profiles.card({k.removeprefix("professional_"): v for k, v in row.items() if k.startswith("professional_")})


def identity(user: client_links.ClientUser) -> dict[str, Any]:
    return {"userId": user.user_id, "phone": user.phone, "email": user.email}


def _record(row: dict[str, Any]) -> dict[str, Any]:
    return {"name": row["name"], "phone": row["phone"], "email": row["email"], "clientSince": row["created_at"]}


def appointment_view(row: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
    """An appointment as its client sees it (no private notes of the professional)."""
    zone = ZoneInfo(row["professional_timezone"])
    pix_due = (row["professional_accepts_pix"] and row["price"] > 0 and row["payment_status"] in UNPAID
               and row["status"] != "cancelled")
    reviewable = (row["review_id"] is None and row["status"] == "completed"
                  and now <= row["ends_at"] + reviews.REVIEW_WINDOW and review_summary.enabled(row, "professional_"))
    return {
        "id": str(row["id"]), "professional": _professional(row),
        "startsAt": row["starts_at"].astimezone(UTC), "endsAt": row["ends_at"].astimezone(UTC),
        "localStart": row["starts_at"].astimezone(zone), "localEnd": row["ends_at"].astimezone(zone),
        "timezone": row["professional_timezone"],
        "durationMinutes": int((row["ends_at"] - row["starts_at"]).total_seconds() // 60),
        "status": row["status"], "price": row["price"], "paymentStatus": row["payment_status"],
        "clientNotes": row["client_notes"], "pixUrl": f"/api/appointments/{row['id']}/pix" if pix_due else None,
        "review": {"id": str(row["review_id"]), "rating": row["review_rating"]} if row["review_id"] else None,
        "reviewable": reviewable,
    }


def _professionals(user_id: str) -> list[dict[str, Any]]:
    return [{**_professional(row), "record": _record(row),
             "reviewsEnabled": review_summary.enabled(row, "professional_")} for row in client_links.linked(user_id)]


def get(user: client_links.ClientUser, now: dt.datetime | None = None) -> dict[str, Any]:
    """The user's identity, the professionals they are a client of, and their upcoming and past appointments."""
    now = now or clock.now()
    client_links.link(user)
    upcoming = store.appointments(user.user_id, now=now, upcoming=True, limit=PROFILE_APPOINTMENTS)
    past = store.appointments(user.user_id, now=now, upcoming=False, limit=PROFILE_APPOINTMENTS)
    return {"identity": identity(user), "professionals": _professionals(user.user_id),
            "appointments": {"upcoming": [appointment_view(r, now) for r in upcoming],
                             "past": [appointment_view(r, now) for r in past]}}


def _rectified_text(row: dict[str, Any], changes: dict[str, Any]) -> str:
    parts = []
    if "name" in changes and changes["name"] != row["old_name"]:
        parts.append(f"nome: {changes['name']}")
    if "email" in changes and changes["email"] != row["old_email"]:
        parts.append(f"e-mail: {changes['email']}" if changes["email"] else "e-mail removido")
    return (f"{row['old_name']} corrigiu os próprios dados pelo perfil de cliente Odys ({'; '.join(parts)}). "
            f"O cadastro já está atualizado.")


def update(user: client_links.ClientUser, data: ProfileUpdate, now: dt.datetime | None = None) -> dict[str, Any]:
    """Rectify name and/or e-mail in every linked record that differs; each of those professionals is told."""
    from odys.notifications import notify_professional  # here, as in erase(): GET and export never notify

    changes = data.model_dump(include=data.model_fields_set)
    reject_nulls(changes, frozenset({"name"}))
    client_links.link(user)
    with db.transaction():
        changed = store.rectify(user.user_id, changes)
        for row in changed:
            notify_professional(str(row["professional_id"]), "client_rectified", "Cliente corrigiu os dados",
                                _rectified_text(row, changes), client_id=str(row["id"]))
    if changed:
        logger.info("client records rectified", extra={"records": len(changed), "fields": sorted(changes)})
    return get(user, now)


def export(user: client_links.ClientUser, now: dt.datetime | None = None) -> dict[str, Any]:
    """Everything Odys holds about the client user, as one JSON document."""
    now = now or clock.now()
    client_links.link(user)
    uid = user.user_id
    by_record: dict[str, dict[str, Any]] = {}
    for row in store.records(uid):
        by_record[str(row["id"])] = {
            "professional": _professional(row),
            "record": {**_record(row), "updatedAt": row["updated_at"], "whatsappId": row["wa_id"],
                       "whatsappUserId": row["wa_user_id"], "whatsappOptedOutAt": row["whatsapp_opted_out_at"]},
            "appointments": [], "recurringSchedules": [], "messages": [], "noticesToTheProfessional": []}

    def add(section: str, rows: list[dict[str, Any]], view: Any) -> None:
        for row in rows:
            record = by_record.get(str(row["client_id"]))
            if record is not None:  # linked in between (another request): the next export has it
                record[section].append(view(row))

    add("appointments", store.all_appointments(uid), lambda row: appointment_view(row, now))
    add("recurringSchedules", store.recurring_schedules(uid), lambda row: {
        "dayOfWeek": row["day_of_week"], "startTime": row["start_time"].strftime("%H:%M"),
        "durationMinutes": row["duration_minutes"],
        "intervalWeeks": row["interval_weeks"], "startsOn": row["starts_on"], "endsOn": row["ends_on"],
        "price": row["price"], "active": row["active"], "createdAt": row["created_at"]})
    add("messages", store.messages(uid), lambda row: {
        "direction": row["direction"], "recipient": row["recipient"], "channel": row["channel"],
        "template": row["template"], "body": row["body"], "status": row["status"], "createdAt": row["created_at"],
        "sentAt": row["sent_at"], "deliveredAt": row["delivered_at"], "readAt": row["read_at"],
        "failedAt": row["failed_at"]})
    add("noticesToTheProfessional", store.notifications(uid), lambda row: {
        "kind": row["kind"], "title": row["title"], "body": row["body"], "createdAt": row["created_at"],
        "readAt": row["read_at"]})
    return {
        "schemaVersion": EXPORT_SCHEMA_VERSION, "exportedAt": now, "identity": identity(user),
        "clientRecords": list(by_record.values()),
        "follows": follows.list_for(uid)["follows"],
        "reviews": [reviews.author_view(r) for r in reviews_store.by_user(uid)],
        "notIncluded": NOT_EXPORTED,
    }


def _erasure_notice(name: str, withdrawn: int) -> str:
    reviews_text = f" e {withdrawn} avaliação(ões) foram retiradas da sua página" if withdrawn else ""
    return (f"{name} apagou a conta de cliente Odys: o cadastro deixou de estar ligado a essa conta{reviews_text}. "
            "O cadastro, os atendimentos e as suas anotações continuam com você: guarde o prontuário pelo prazo "
            "legal (CFP Res. 001/2009: 5 anos) e, se o cliente pedir, apague o que a lei não obriga a manter.")


def erase(user_id: str) -> dict[str, Any]:
    """The client user's erasure request (see the module docstring): one transaction, one audit row per
    professional concerned; returns the counts."""
    from odys.notifications import notify_professional

    counts: dict[str, dict[str, int]] = {}

    def count(pid: str, what: str) -> None:
        counts.setdefault(pid, {"client_links": 0, "follows": 0, "reviews": 0})[what] += 1

    with db.transaction():
        links_store.linked_for_update(user_id)
        for pid in reviews_store.delete_by_user(user_id):  # through the links: before unlinking
            count(pid, "reviews")
        for pid in follows_store.delete_by_user(user_id):
            count(pid, "follows")
        unlinked = links_store.unlink_all(user_id)
        for row in unlinked:
            count(str(row["professional_id"]), "client_links")
        for pid, what in sorted(counts.items()):
            deletion_audit.client_erasure(pid, what)
        for row in unlinked:
            pid = str(row["professional_id"])
            notify_professional(pid, "client_erasure", "Cliente pediu a exclusão dos dados",
                                _erasure_notice(row["name"], counts[pid]["reviews"]), client_id=str(row["id"]))
    totals = {what: sum(c[what] for c in counts.values()) for what in ("client_links", "follows", "reviews")}
    logger.info("client erasure", extra={"professionals": len(counts), **totals})
    return {"erased": {"professionals": len(counts), "clientLinks": totals["client_links"],
                       "follows": totals["follows"], "reviews": totals["reviews"]}}
