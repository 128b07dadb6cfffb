"""Settling what the PSP says: a payment recorded once per endToEndId, the appointment turned ``paid`` (or
``refunded``), the professional notified and ``msgPaymentConfirmed`` queued — only on the first transition.

    outcome = settle_charge(connection, charge, cob, source="webhook")   # cob: what GET /cob/{txid} answered
    outcome = settle_static(connection, pix_item, source="reconciliation")  # a /pix item with an Odys static txid

Both take only what **the PSP answered to Odys's own authenticated read**, never a callback body. The rules:

- a charge counts as paid when the PSP says ``CONCLUIDA``, its ``chave`` is the connection's key, its txid is the
  one Odys issued for the appointment, and a ``pix[]`` item carries the charge's amount;
- a static code's payment counts when its txid is an appointment's ``pix_txid``, its key is the connection's and
  its amount is the appointment's price (a static code can be paid with any amount: anything else is a mismatch);
- each payment is stored once under its ``endToEndId`` (``pix_payments``): duplicates, batches and the callback /
  reconciliation race change nothing; the payer's name is stored masked;
- the appointment moves unpaid/pending -> paid (through the professional's unit of work, :mod:`odys.agenda`), and
  paid -> refunded when refunds (``devolucoes`` with status ``DEVOLVIDO``) give back the whole amount of every
  PIX recorded for it (a second, accidental payment refunded leaves it paid).

Outcomes: ``confirmed`` (a new payment), ``known`` (nothing new), ``pending`` (not paid yet), ``removed``,
``refunded``, ``mismatch`` (amount, key or txid do not match: logged and counted, nothing stored).
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from odys import agenda, clock, messaging, metrics
from odys.log import logger
from odys.message_templates import format_money
from odys.notifications import notify_professional
from odys.store import appointments as appointments_store
from odys.store import pix_charges as charges_store
from odys.store import pix_payments as store

REMOVED = ("REMOVIDA_PELO_USUARIO_RECEBEDOR", "REMOVIDA_PELO_PSP")
_E2E = re.compile(r"[A-Za-z0-9]{1,35}")


def cents(valor: Any) -> int | None:
    """``"150.00"`` -> 15000; None for anything that is not a positive amount.

    >>> cents("150.00"), cents("0.00"), cents("abc"), cents(None), cents("Infinity"), cents("sNaN"), cents("1e999999")
    (15000, None, None, None, None, None, None)
    """
    if not isinstance(valor, (str, int, float)) or isinstance(valor, bool):
        return None
    try:
        value = Decimal(str(valor))
        amount = int(value * 100) if value.is_finite() and value == value.quantize(Decimal("0.01")) else None
    except (InvalidOperation, ValueError, ArithmeticError):  # "sNaN", "1e999999": not an amount
        return None
    return amount if amount and 0 < amount < 2**31 else None


def mask_name(name: Any) -> str | None:
    """``"Fulana de Tal"`` -> ``"Fu**** de Ta*"``: enough to recognise, not to identify.

    >>> mask_name("Fulana de Tal"), mask_name(None)
    ('Fu**** de Ta*', None)
    """
    if not isinstance(name, str) or not name.strip():
        return None
    return " ".join(w if len(w) <= 2 else w[:2] + "*" * (len(w) - 2) for w in name.split())[:120]


def _payer(item: dict[str, Any]) -> str | None:
    extras = item.get("gnExtras") if isinstance(item.get("gnExtras"), dict) else {}
    payer = extras.get("pagador") if isinstance(extras.get("pagador"), dict) else {}
    return mask_name(payer.get("nome"))


def _paid_at(item: dict[str, Any]) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(str(item.get("horario")).replace("Z", "+00:00"))
        if value.tzinfo is not None:
            return value
    except ValueError:
        pass
    return clock.now()


def refunded_cents(item: dict[str, Any]) -> int:
    """The sum of the item's finished refunds (``devolucoes`` may be a list or, as in a spec example, an object)."""
    refunds = item.get("devolucoes") or []
    if isinstance(refunds, dict):
        refunds = [refunds]
    return sum(cents(r.get("valor")) or 0 for r in refunds if isinstance(r, dict) and r.get("status") == "DEVOLVIDO")


def _record(professional_id: str, appointment_id: str | None, item: dict[str, Any], txid: str, amount: int,
            source: str) -> bool:
    """Store the payment and move the appointment to paid, in one transaction of the professional's unit of work."""
    e2e = item.get("endToEndId")
    if not isinstance(e2e, str) or not _E2E.fullmatch(e2e):
        return False
    with agenda.for_professional(professional_id) as work:
        if not store.record(professional_id, appointment_id, end_to_end_id=e2e, txid=txid, amount_cents=amount,
                            paid_at=_paid_at(item), payer_name_masked=_payer(item), source=source):
            return False
        if appointment_id is None:
            return True
        row = appointments_store.for_update(work.id, appointment_id)
        if row is None or row["payment_status"] not in ("unpaid", "pending"):
            return True
        written = work.change_appointment(row, {"payment_status": "paid"}, clock.now())
        detail = appointments_store.detail(work.id, appointment_id)
        assert written is not None and detail is not None
        notify_professional(work.id, "pix_payment_confirmed", "PIX recebido",
                            f"{detail['client_name']} pagou {format_money(amount)} por PIX.",
                            client_id=str(detail["client_id"]), dedupe_key=f"pix-paid:{appointment_id}")
        client = {"id": detail["client_id"], "name": detail["client_name"], "phone": detail["client_phone"]}
        messaging.payment_confirmed(work.professional, client, written)
    logger.info("pix payment confirmed", extra={"professional_id": professional_id, "appointment_id": appointment_id,
                                                "source": source})
    return True


def _refund(professional_id: str, item: dict[str, Any], amount: int) -> bool:
    """Record refunds of a known payment; the appointment becomes refunded when all of it came back."""
    refunded = refunded_cents(item)
    e2e = item.get("endToEndId")
    if refunded <= 0 or not isinstance(e2e, str):
        return False
    with agenda.for_professional(professional_id) as work:
        payment = store.get(work.id, e2e)
        if payment is None or not store.record_refund(work.id, e2e, min(refunded, amount)):
            return False
        appointment_id = payment["appointment_id"]
        whole = refunded >= amount and (appointment_id is None
                                        or store.kept_cents(work.id, str(appointment_id)) == 0)
        if whole and appointment_id is not None:  # every PIX paid for it came back, not just this one
            row = appointments_store.for_update(work.id, str(appointment_id))
            if row is not None and row["payment_status"] == "paid":
                work.change_appointment(row, {"payment_status": "refunded"}, clock.now())
    logger.info("pix refund recorded", extra={"professional_id": professional_id, "full": whole})
    return True


def _mismatch(connection: dict[str, Any], reason: str) -> str:
    metrics.count("PixMismatch", provider=connection["provider"])
    logger.warning("pix mismatch", extra={"professional_id": str(connection["professional_id"]), "reason": reason})
    return "mismatch"


def settle_charge(connection: dict[str, Any], charge: dict[str, Any], cob: dict[str, Any] | None,
                  *, source: str) -> str:
    """Apply the PSP's view of one of Odys's charges (``cob`` = its ``GET /cob/{txid}``; None = not found)."""
    pid = str(connection["professional_id"])
    now = clock.now()
    if not isinstance(cob, dict):
        return "pending"
    if cob.get("txid") != charge["txid"] or cob.get("chave") != connection["pix_key"]:
        return _mismatch(connection, "charge key or txid")
    status = cob.get("status")
    if status in REMOVED:
        charges_store.update(charge["txid"], status="removed", checked_at=now, recheck_requested=None)
        charges_store.drop_orphan(charge["txid"])
        return "removed"
    if status != "CONCLUIDA":
        charges_store.update(charge["txid"], checked_at=now, recheck_requested=None)
        return "pending"
    items = cob.get("pix") if isinstance(cob.get("pix"), list) else []
    matching = [p for p in items if isinstance(p, dict) and cents(p.get("valor")) == charge["amount_cents"]
                and p.get("txid") in (None, charge["txid"])]
    if not matching:
        return _mismatch(connection, "charge amount")
    if not any(isinstance(p.get("endToEndId"), str) and _E2E.fullmatch(p["endToEndId"]) for p in matching):
        return _mismatch(connection, "endToEndId")  # nothing to record it under: the charge stays to be re-read
    outcome = "known"
    appointment_id = str(charge["appointment_id"]) if charge["appointment_id"] is not None else None  # deleted
    for item in matching:
        if _record(pid, appointment_id, item, charge["txid"], charge["amount_cents"], source):
            outcome = "confirmed"
        if _refund(pid, item, charge["amount_cents"]):
            outcome = "refunded" if outcome == "known" else outcome
    charges_store.update(charge["txid"], status="paid", checked_at=now, recheck_requested=None)
    charges_store.drop_orphan(charge["txid"])  # a deleted appointment's: the payment row keeps the record
    return outcome


def settle_static(connection: dict[str, Any], item: dict[str, Any], *, source: str) -> str:
    """Apply a PSP-read Pix carrying an appointment's static txid (``appointments.pix_txid``)."""
    pid = str(connection["professional_id"])
    txid = item.get("txid")
    appointment = store.static_appointment(pid, txid) if isinstance(txid, str) and txid else None
    if appointment is None:
        return "unknown"
    if item.get("chave") not in (None, connection["pix_key"]) or cents(item.get("valor")) != appointment["price"]:
        return _mismatch(connection, "static amount or key")
    recorded = _record(pid, str(appointment["id"]), item, txid, appointment["price"], source)
    refunded = _refund(pid, item, appointment["price"])
    return "confirmed" if recorded else ("refunded" if refunded else "known")
