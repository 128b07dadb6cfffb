"""PIX "copia e cola" and QR code for one appointment (client -> professional, paid off-platform).

    appointment_pix.for_user(user_id, appointment_id)
    # -> {"appointmentId": "...", "payload": "000201...6304ABCD", "qrSvg": "<svg ...", "txid": "3F2A...", "amountCents": 15000}
    appointment_pix.br_code(row, txid, amount_cents)   # the same code from any row with the professional's PIX data

Who may see it: the professional who owns the appointment and the appointment's client user
(``clients.user_id``); anyone else gets 404, as for an appointment that does not exist.

The txid is generated once per appointment (:func:`odys.pix.new_txid`) and stored in ``appointments.pix_txid``,
so every later request shows the same code and a payment can be reconciled. A price of 0 gives a code without an
amount (the payer types it; ``amountCents`` is null): free or "to be agreed" sessions can still be paid by PIX.
Marking an appointment paid is ``PATCH /api/appointments/{id}``. With a payment connection the answer is the
appointment's dynamic charge instead (``kind: "dynamic"``, :mod:`odys.pix_charges`), confirmed automatically;
``kind: "static"`` otherwise, or when the PSP is down.
"""

from __future__ import annotations

from typing import Any

from odys import db, pix, snapstart
from odys.errors import Conflict, NotFound
from odys.store import appointment_pix as store

snapstart.preload("odys.pix_charges")  # for_user's alone: br_code and copy_and_paste (booking, messages) need no PSP


def _txid(appointment_id: str, current: str | None) -> str:
    """The appointment's txid, claimed now when it has none (once more with a fresh one if it collides: 23505)."""
    if current:
        return current
    try:
        txid = store.claim_txid(appointment_id, pix.new_txid())
    except db.DatabaseError as error:
        if db.sqlstate(error)[0] != "23505":
            raise
        txid = store.claim_txid(appointment_id, pix.new_txid())
    if txid is None:  # deleted meanwhile
        raise NotFound("appointment")
    return txid


def _merchant_name(row: dict[str, Any]) -> str:
    """The name on the code: the professional's name in ASCII, or the booking slug when nothing of it is left."""
    return row["professional_name"] if pix.fold_ascii(row["professional_name"] or "") else row["slug"]


def _merchant_city(row: dict[str, Any]) -> str:
    return row["city"] if row["city"] and pix.fold_ascii(row["city"]) else "Brasil"


def br_code(row: dict[str, Any], txid: str, amount_cents: int | None) -> dict[str, Any]:
    """``{payload, qrSvg, txid, amountCents}``: the professional's static BR Code for one appointment.

    ``row`` has the professional's ``pix_key``, ``professional_name``, ``slug`` and ``city``. A name or city with
    nothing printable in ASCII (e.g. "李伟") falls back to the slug and "Brasil", so a code can always be built.
    """
    payload = pix.build_pix_payload(row["pix_key"], _merchant_name(row), _merchant_city(row),
                                    amount_cents=amount_cents, txid=txid)
    return {"payload": payload, "qrSvg": pix.qr_svg(payload), "txid": txid, "amountCents": amount_cents}


def copy_and_paste(professional: dict[str, Any], appointment: dict[str, Any]) -> str:
    """The "copia e cola" BR Code of an appointment (its own txid, its price) for a message; 409
    ``pix_key_missing`` when the professional has no PIX key."""
    if not professional["pix_key"]:
        raise Conflict("pix_key_missing", "Register a PIX key in your account first: the message carries your "
                       "PIX code.")
    row = {"pix_key": professional["pix_key"], "professional_name": professional["name"],
           "slug": professional["slug"], "city": professional["city"]}
    txid = _txid(str(appointment["id"]), appointment.get("pix_txid"))
    return pix.build_pix_payload(row["pix_key"], _merchant_name(row), _merchant_city(row),
                                 amount_cents=appointment["price"] or None, txid=txid)


def for_user(user_id: str, appointment_id: str) -> dict[str, Any]:
    """The appointment's BR Code for its professional or its client; 404 for anyone else.

    ``appointment_id`` is a UUID (the handler answers 404 for anything else, :func:`odys.http.path_uuid`).
    """
    row = store.visible_to(appointment_id, user_id)
    if row is None:
        raise NotFound("appointment")
    from odys import pix_charges  # only here (see the preload above)

    dynamic = pix_charges.ensure(str(row["professional_id"]), appointment_id)  # with a payment connection
    if dynamic is not None:
        return {"appointmentId": appointment_id, **dynamic, "paymentStatus": row["payment_status"]}
    if not row["pix_key"]:
        raise Conflict("pix_key_missing", "This professional has not registered a PIX key yet, so there is no PIX "
                       "code for this appointment.")
    code = br_code(row, _txid(appointment_id, row["pix_txid"]), row["price"] or None)
    return {"appointmentId": appointment_id, **code, "kind": "static", "paymentStatus": row["payment_status"]}
