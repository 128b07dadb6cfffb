"""An immediate charge (``cob``) at the professional's PSP per appointment, when a payment connection exists.

    pix_charges.answer(pid, appointment_id, static_code)   # the dynamic code, else ``static_code`` (kind: static)
    pix_charges.sync(pid, appointment_id)                   # after a change: cancelled -> removed, price -> revised
    charge = pix_charges.before_delete(pid, appointment_id); ...; pix_charges.remove(pid, charge)
    with db.transaction(): pix_charges.release_after_commit(pid, client_id=cid); <delete the client>

The charge: ``PUT /cob/{txid}`` with a txid of 32 alphanumerics generated once per appointment (stored first, in
state ``creating``), the appointment's price as ``valor.original``, ``calendario.expiracao`` running until a day
after the session ends (at least an hour: late payers are common), and ``solicitacaoPagador`` naming the session.
The answer (``GET /api/appointments/{id}/pix`` and the booking's ``pix``) is ``{payload (pixCopiaECola), qrSvg,
txid, amountCents, kind: "dynamic", chargeStatus, expiresAt}``.

Every PSP call runs **outside** any database transaction (callers invoke these after their unit of work). A timeout
is resolved by reading the charge back (``GET /cob/{txid}``) before any retry; a charge left ``creating`` is read
back first by the next request. When the PSP is down, or the professional has no connection, the caller's static
code is answered (``kind: "static"``, its own ≤25-character txid): reconciliation still catches its payment.
"""

from __future__ import annotations

import datetime as dt
import uuid
import time
from typing import Any
from zoneinfo import ZoneInfo

from odys import clock, db, pix, pix_api, pix_connections
from odys.log import logger
from odys.store import pix_charges as store
from odys.store.appointments import ACTIVE

GRACE_AFTER_SESSION = dt.timedelta(days=1)
MAX_RELEASED = 100          # charges removed at the PSP after one deletion (the rest expire on their own)
RELEASE_SECONDS = 5.0       # ... no new PSP call after this (one call waits at most 5 s): within 15 s
MIN_LIFETIME = dt.timedelta(hours=1)
REMOVE = {"status": "REMOVIDA_PELO_USUARIO_RECEBEDOR"}
REMOVED_AT_PSP = ("REMOVIDA_PELO_USUARIO_RECEBEDOR", "REMOVIDA_PELO_PSP")


def new_txid() -> str:
    """32 alphanumerics (a uuid4 without dashes): within the spec's 26–35 for ``cob``."""
    return uuid.uuid4().hex


def _money(amount_cents: int) -> str:
    return f"{amount_cents // 100}.{amount_cents % 100:02d}"


def _expiry(appointment: dict[str, Any], now: dt.datetime) -> dt.datetime:
    return max(appointment["ends_at"] + GRACE_AFTER_SESSION, now + MIN_LIFETIME)


def _request(appointment: dict[str, Any], key: str, created: dt.datetime, expires_at: dt.datetime) -> dict[str, Any]:
    local = appointment["starts_at"].astimezone(ZoneInfo(appointment["timezone"]))
    note = f"Sessão {local:%d/%m %H:%M} com {pix.fold_ascii(appointment['professional_name'] or '')}".strip()
    return {"calendario": {"expiracao": int((expires_at - created).total_seconds())},
            "valor": {"original": _money(appointment["price"])}, "chave": key,
            "solicitacaoPagador": note[:140]}


def view(charge: dict[str, Any]) -> dict[str, Any]:
    code = charge["copy_and_paste"]
    return {"payload": code, "qrSvg": pix.qr_svg(code), "txid": charge["txid"], "amountCents": charge["amount_cents"],
            "kind": "dynamic", "chargeStatus": {"active": "ATIVA", "paid": "CONCLUIDA"}.get(charge["status"],
                                                                                         charge["status"]),
            "expiresAt": charge["expires_at"]}


def unwanted(appointment: dict[str, Any] | None) -> bool:
    """Whether an existing charge should go (:func:`odys.store.pix_charges.appointment_for_charge`): the appointment
    is gone, cancelled or free, or settled otherwise (e.g. paid in cash and marked by hand)."""
    return appointment is None or appointment["status"] == "cancelled" or appointment["price"] <= 0 \
        or appointment["payment_status"] in ("paid", "waived", "refunded")


def _chargeable(appointment: dict[str, Any] | None) -> bool:
    return bool(appointment and appointment["status"] in ACTIVE and appointment["price"] > 0
                and appointment["payment_status"] in ("unpaid", "pending"))


def _create(api: pix_api.PixApi, txid: str, body: dict[str, Any], *, read_first: bool) -> dict[str, Any] | None:
    """PUT the charge; after a timeout (or for a charge a previous request may have created) read it back first."""
    if read_first and (existing := api.get_cob(txid)) is not None:
        return existing
    try:
        return api.put_cob(txid, body)
    except pix_api.PixUnavailable as error:
        if not error.timed_out:
            raise
    except pix_api.PixApiError as error:
        if error.status not in (400, 409):  # 409 txid_duplicado (Efí), 400 "exists and not ATIVA" (the spec)
            raise
    existing = api.get_cob(txid)
    return existing if existing is not None else api.put_cob(txid, body)


def ensure(professional_id: str, appointment_id: str, now: dt.datetime | None = None) -> dict[str, Any] | None:
    """The appointment's active (or paid) charge, created at the PSP when needed; None when there is no connection,
    nothing to charge, or the PSP failed (the caller answers the static code)."""
    now = now or clock.now()
    found = pix_connections.client_for(professional_id)
    if found is None:  # no connection: one query, and the static code
        return None
    connection, api = found
    charge = store.get(professional_id, appointment_id)
    if charge is not None and charge["status"] == "paid":
        return view(charge) if charge["copy_and_paste"] else None
    appointment = store.appointment_for_charge(professional_id, appointment_id)
    if not _chargeable(appointment):
        return None
    assert appointment is not None
    if charge is not None and charge["status"] == "active" and charge["amount_cents"] == appointment["price"] \
            and charge["expires_at"] > now:
        return view(charge)
    expires_at = _expiry(appointment, now)
    read_first = charge is not None and charge["status"] == "creating"
    if charge is None:
        charge = store.claim(professional_id, appointment_id, new_txid(), appointment["price"], expires_at)
        read_first = charge["status"] == "creating" and charge["created_at"] < now - dt.timedelta(seconds=30)
    elif charge["status"] in ("removed", "failed") or charge["expires_at"] <= now:
        store.replace_txid(professional_id, appointment_id, new_txid(), appointment["price"], expires_at)
        charge = store.get(professional_id, appointment_id)
        assert charge is not None
    try:
        if charge["status"] == "active":  # the price changed since: revise it
            cob = api.patch_cob(charge["txid"], {"valor": {"original": _money(appointment["price"])}})
        else:
            cob = _create(api, charge["txid"], _request(appointment, connection["pix_key"], now, expires_at),
                          read_first=read_first)
    except (pix_api.PixApiError, pix_api.PixUnavailable) as error:
        logger.warning("pix charge not created", extra={"professional_id": professional_id,
                                                        "appointment_id": appointment_id,
                                                        "error_type": type(error).__name__,
                                                        "psp_code": getattr(error, "code", None)})
        pix_connections.record_outcome(professional_id, error, now)
        return None
    return _store_answer(charge, cob, appointment["price"], now)


def _psp_creation(cob: Any) -> dt.datetime | None:
    """The charge's ``calendario.criacao`` at the PSP (aware), or None when it is missing or unreadable."""
    calendar = cob.get("calendario") if isinstance(cob, dict) else None
    try:
        created = dt.datetime.fromisoformat(str((calendar or {}).get("criacao")).replace("Z", "+00:00"))
    except (AttributeError, ValueError):
        return None
    return created if created.tzinfo is not None else None


def _store_answer(charge: dict[str, Any], cob: dict[str, Any] | None, amount: int,
                  now: dt.datetime) -> dict[str, Any] | None:
    if not isinstance(cob, dict) or not isinstance(cob.get("pixCopiaECola"), str):
        return None
    psp_status = cob.get("status")
    changes_recheck: dict[str, Any] = {}
    if psp_status == "CONCLUIDA":  # paid meanwhile: only pix_payments settles it (the next reconciliation, first)
        status, changes_recheck = "active", {"recheck_requested": now}
    elif psp_status == "ATIVA":
        status = "active"
    elif psp_status in REMOVED_AT_PSP:
        status = "removed"
    else:  # a status this code does not know yet (the spec adds enum values): keep checking it
        status = charge["status"] if charge["status"] != "creating" else "active"
    created = _psp_creation(cob)
    try:
        expires_at = created + dt.timedelta(seconds=int(cob["calendario"]["expiracao"])) if created else None
    except (KeyError, ValueError, TypeError, OverflowError):
        expires_at = None
    revision = cob.get("revisao")
    changes = {"status": status, "copy_and_paste": cob["pixCopiaECola"][:512],
               "revision": revision if isinstance(revision, int) and 0 <= revision < 2**31 else charge["revision"],
               "amount_cents": amount, "expires_at": expires_at or charge["expires_at"], "checked_at": now,
               **changes_recheck}
    store.update(charge["txid"], **changes)
    return view({**charge, **changes}) if status in ("active", "paid") else None


def answer(professional_id: str, appointment_id: str, static_code: dict[str, Any] | None) -> dict[str, Any] | None:
    """The dynamic charge when there is one to answer, else ``static_code`` (the caller's, ``kind: "static"``)."""
    dynamic = ensure(professional_id, appointment_id)
    return dynamic if dynamic is not None else static_code


# --- changes, cancellation, deletion -----------------------------------------------------------------------------

def before_delete(professional_id: str, appointment_id: str) -> dict[str, Any] | None:
    """The charge to remove at the PSP once the appointment is deleted (its row stays, ``appointment_id`` NULL,
    until it is: then :func:`remove` drops it; the reconciliation retries when the PSP was down)."""
    charge = store.get(professional_id, appointment_id)
    return charge if charge is not None and charge["status"] in ("active", "creating") else None


def remove(professional_id: str, charge: dict[str, Any] | None) -> bool:
    """``PATCH /cob/{txid}`` to REMOVIDA_PELO_USUARIO_RECEBEDOR (a late payment can no longer land); True when the
    PSP no longer holds an active charge. A PSP that is down leaves it for the reconciliation to retry."""
    if charge is None:
        return False
    found = pix_connections.client_for(professional_id)
    if found is None:
        return False
    _, api = found
    try:
        api.patch_cob(charge["txid"], REMOVE)
    except pix_api.PixApiError as error:  # not ATIVA any more (paid, removed) or unknown: read what it is
        logger.info("pix charge removal refused", extra={"professional_id": professional_id, "psp_code": error.code})
    except pix_api.PixUnavailable:
        logger.warning("pix charge not removed: PSP unavailable", extra={"professional_id": professional_id})
        return False
    store.update(charge["txid"], status="removed", checked_at=clock.now())
    store.drop_orphan(charge["txid"])  # the appointment was deleted: nothing left to keep
    logger.info("pix charge removed", extra={"professional_id": professional_id})
    return True


def sync(professional_id: str, appointment_id: str) -> None:
    """After an appointment changed (outside the transaction): a cancelled or free one loses its charge; a new
    price or time revises it (``PATCH /cob/{txid}``, the PSP adds a revision)."""
    charge = store.get(professional_id, appointment_id)
    if charge is None or charge["status"] not in ("active", "creating"):
        return
    appointment = store.appointment_for_charge(professional_id, appointment_id)
    if unwanted(appointment):
        remove(professional_id, charge)
        return
    now = clock.now()
    wanted_expiry = _expiry(appointment, now)
    if charge["status"] != "active" or (charge["amount_cents"] == appointment["price"]
                                        and charge["expires_at"] >= appointment["ends_at"]):
        return
    found = pix_connections.client_for(professional_id)
    if found is None:
        return
    _, api = found
    try:  # the PSP counts expiracao from its own criacao: read it first
        criacao = _psp_creation(api.get_cob(charge["txid"]))
        if criacao is None:
            raise ValueError("the PSP's charge has no readable calendario.criacao")
        cob = api.patch_cob(charge["txid"], {
            "valor": {"original": _money(appointment["price"])},
            "calendario": {"expiracao": int((wanted_expiry - criacao).total_seconds())}})
    except (pix_api.PixApiError, pix_api.PixUnavailable, ValueError) as error:
        logger.warning("pix charge not revised", extra={"professional_id": professional_id,
                                                        "error_type": type(error).__name__})
        return
    _store_answer(charge, cob, appointment["price"], now)


# --- deletions of a client or of the whole account ----------------------------------------------------------------

def release_after_commit(professional_id: str, *, client_id: str | None = None,
                         connection: tuple[dict[str, Any], pix_api.PixApi] | None = None,
                         reason: str = "deleted", keep_webhook: bool = False) -> None:
    """Call inside a deletion's transaction, before the rows go: once it commits, what Odys holds at the PSP for
    them is removed (``PATCH /cob/{txid}`` to REMOVIDA_PELO_USUARIO_RECEBEDOR), so nobody can pay a charge Odys no
    longer knows.

    With ``client_id``: that client's active charges (the connection stays and is read after the commit). Without
    it, the whole account: every active charge and Odys's webhook on the key (``DELETE /webhook/{chave}``), with
    ``connection`` (:func:`odys.pix_connections.client_for`) unsealed *before* the transaction, since its row goes
    with the account (``keep_webhook``: a replaced connection whose key the new one registered again). Best
    effort: never inside the transaction, never blocking the deletion (the erasure is the user's right); it
    stops at the first PSP outage or after :data:`MAX_RELEASED` charges / :data:`RELEASE_SECONDS` (a deleted
    client's charges stay as orphans, ``appointment_id`` NULL, which the reconciliation removes later; an account's
    expire at the PSP on their own); one log line of counts (``reason``). Outside a transaction (the connection's
    own ``DELETE``) it runs at once.
    """
    now = clock.now()
    if client_id is not None:
        txids = store.active_txids_of_client(professional_id, client_id, now, MAX_RELEASED)
    elif connection is not None:
        txids = store.active_txids(professional_id, now, MAX_RELEASED)
    else:
        return
    if not txids and client_id is not None:
        return
    webhook_key = connection[0]["pix_key"] if client_id is None and connection is not None and not keep_webhook \
        else None
    db.after_commit(lambda: _release(professional_id, connection, txids, webhook_key, reason))


def _release(professional_id: str, connection: tuple[dict[str, Any], pix_api.PixApi] | None, txids: list[str],
             webhook_key: str | None, reason: str) -> None:
    found = connection or pix_connections.client_for(professional_id)
    tally = {"charges": len(txids), "removed": 0, "refused": 0, "left": 0, "webhookRemoved": False}
    if found is None:
        tally["left"] = len(txids)
    else:
        api = found[1]
        deadline = time.monotonic() + RELEASE_SECONDS
        if webhook_key is not None:  # first: the one call that matters most when the account goes
            try:
                api.delete_webhook(webhook_key)
                tally["webhookRemoved"] = True
            except pix_api.PixApiError:
                pass
            except pix_api.PixUnavailable:
                deadline = 0.0  # an outage: no charge call either
        for index, txid in enumerate(txids):
            if time.monotonic() > deadline:
                tally["left"] = len(txids) - index
                break
            try:
                api.patch_cob(txid, REMOVE)
                tally["removed"] += 1
            except pix_api.PixApiError:  # not ATIVA any more (paid, removed) or unknown there: the reconciliation
                tally["refused"] += 1    # reads it (a payment is still recorded), then drops the orphan row
                continue
            except pix_api.PixUnavailable:  # an outage: stop here; the reconciliation retries the orphans
                tally["left"] = len(txids) - index
                break
            store.update(txid, status="removed", checked_at=clock.now())
            store.drop_orphan(txid)
    logger.info("pix released at the PSP", extra={"professional_id": professional_id, "reason": reason, **tally})
