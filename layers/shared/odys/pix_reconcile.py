"""Confirmation by reconciliation: the callbacks that never arrived, and static codes paid with an Odys txid.

    pix_reconcile.run(now)                 # every 15 min, 06:00-23:00 São Paulo: pending charges re-read
    pix_reconcile.run(now, sweep=True)     # once a day: also GET /pix over the last SWEEP_DAYS for each connection
    # -> {"checked": 12, "confirmed": 1, "mismatches": 0, "pspErrors": {"efi": 1}, "removed": 0, "swept": 40,
    #     "outOfTime": False}

Pending charges (``active``, not expired for more than a day, of connected professionals) are read with ``GET
/cob/{txid}``: callbacks Odys could not verify come first (``recheck_requested``), then the least recently
checked; at most :data:`MAX_CHARGES` per run. A charge still ATIVA whose appointment no longer wants it (cancelled,
marked paid by hand, free: its removal at the PSP failed then), or whose appointment was deleted (an orphan, by any
deletion path), is removed now — after the read, so a charge paid meanwhile is settled as the payment it is. The
daily sweep lists ``GET /pix`` from ``now - SWEEP_DAYS`` to ``now`` (windows overlap from one day to the next;
every page, at most :data:`MAX_PAGES`) and settles each item whose txid is one of Odys's charges or an
appointment's static code (matched by txid and amount, :mod:`odys.pix_payments`); a payment already recorded with
nothing new refunded is not read again.

Bounded work per run (also in time: :data:`MAX_SECONDS`, then ``outOfTime``); one summary log line and metrics
(``PixReconcileChecked``, ``PixConfirmed``, ``PixMismatch``, ``PixPspErrors`` per provider). Running twice changes nothing (payments are unique per
endToEndId).
"""

from __future__ import annotations

import datetime as dt
import re
import time
from typing import Any

from odys import metrics, pix_api, pix_charges, pix_connections, pix_payments
from odys.log import logger
from odys.store import pix_charges as charges_store
from odys.store import pix_connections as connections_store
from odys.store import pix_payments as payments_store

MAX_CHARGES = 300
MAX_CONNECTIONS = 200
MAX_PAGES = 20
PER_PAGE = 500
SWEEP_DAYS = 3
_ID = re.compile(r"[A-Za-z0-9]{1,35}")  # the spec's txid / endToEndId shapes (leniently)
MAX_SECONDS = 480.0  # no new PSP call after this (the function's timeout is 600 s): the summary is always written


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


class _Tally:
    def __init__(self) -> None:
        self.deadline = time.monotonic() + MAX_SECONDS
        self.summary: dict[str, Any] = {"checked": 0, "confirmed": 0, "mismatches": 0, "removed": 0, "swept": 0,
                                        "pspErrors": {}, "outOfTime": False}

    def out_of_time(self) -> bool:
        """True once the run's time is up (and says so in the summary): the next run picks up the rest."""
        if time.monotonic() > self.deadline:
            self.summary["outOfTime"] = True
        return self.summary["outOfTime"]

    def outcome(self, outcome: str) -> None:
        if outcome == "confirmed":
            self.summary["confirmed"] += 1
        elif outcome == "mismatch":
            self.summary["mismatches"] += 1
        elif outcome == "removed":
            self.summary["removed"] += 1

    def psp_error(self, provider: str) -> None:
        self.summary["pspErrors"][provider] = self.summary["pspErrors"].get(provider, 0) + 1


def _check_charges(now: dt.datetime, tally: _Tally) -> None:
    connections: dict[str, tuple[dict[str, Any], pix_api.PixApi] | None] = {}
    for charge in charges_store.to_check(MAX_CHARGES, now):
        if tally.out_of_time():
            return
        pid = str(charge["professional_id"])
        if pid not in connections:
            connections[pid] = pix_connections.client_for(pid)
        found = connections[pid]
        if found is None:
            continue
        connection, api = found
        tally.summary["checked"] += 1
        try:  # read first: a charge paid before its removal is a payment, never just "removed"
            outcome = pix_payments.settle_charge(connection, charge, api.get_cob(charge["txid"]),
                                                 source="reconciliation")
            if outcome == "pending" and (charge["appointment_id"] is None or pix_charges.unwanted(
                    charges_store.appointment_for_charge(pid, str(charge["appointment_id"])))):
                outcome = "removed" if pix_charges.remove(pid, charge) else outcome  # its removal failed then
            tally.outcome(outcome)
        except (pix_api.PixApiError, pix_api.PixUnavailable) as error:
            tally.psp_error(connection["provider"])
            pix_connections.record_outcome(pid, error, now)
            connections[pid] = None  # one failure per professional and run is enough


def _sweep(now: dt.datetime, tally: _Tally) -> None:
    start, end = _iso(now - dt.timedelta(days=SWEEP_DAYS)), _iso(now)
    for connection in connections_store.connected_professionals(MAX_CONNECTIONS):
        if tally.out_of_time():
            return
        pid = str(connection["professional_id"])
        found = pix_connections.client_for(pid)
        if found is None:
            continue
        connection, api = found
        try:
            for page in range(MAX_PAGES):
                if tally.out_of_time():
                    return
                listing = api.list_pix(start, end, page=page, per_page=PER_PAGE)
                for item in [p for p in (listing or {}).get("pix") or [] if isinstance(p, dict)]:
                    tally.summary["swept"] += 1
                    tally.outcome(_settle_listed(connection, api, item))
                pages = ((listing or {}).get("parametros") or {}).get("paginacao") or {}
                if page + 1 >= int(pages.get("quantidadeDePaginas") or 1):
                    break
            pix_connections.record_outcome(pid, None, now)
        except (pix_api.PixApiError, pix_api.PixUnavailable, ValueError, TypeError, AttributeError) as error:
            tally.psp_error(connection["provider"])  # incl. a listing of an unexpected shape
            if isinstance(error, (pix_api.PixApiError, pix_api.PixUnavailable)):
                pix_connections.record_outcome(pid, error, now)


def _settle_listed(connection: dict[str, Any], api: pix_api.PixApi, item: dict[str, Any]) -> str:
    txid, e2e = item.get("txid"), item.get("endToEndId")
    if not isinstance(txid, str) or not _ID.fullmatch(txid):
        return "ignored"
    pid = str(connection["professional_id"])
    known = payments_store.get(pid, e2e) if isinstance(e2e, str) and _ID.fullmatch(e2e) else None
    if known is not None and pix_payments.refunded_cents(item) <= known["refunded_cents"]:
        return "known"  # recorded already and nothing new came back: no need to read it again
    charge = charges_store.by_txid(pid, txid)
    if charge is not None:  # the charge's own record is the authority on what was asked
        return pix_payments.settle_charge(connection, charge, api.get_cob(txid), source="reconciliation")
    return pix_payments.settle_static(connection, item, source="reconciliation")


def run(now: dt.datetime, *, sweep: bool = False) -> dict[str, Any]:
    tally = _Tally()
    charges_store.drop_expired_orphans(now)
    _check_charges(now, tally)
    if sweep:
        _sweep(now, tally)
    summary = tally.summary
    metrics.value("PixReconcileChecked", summary["checked"])
    for provider, errors in summary["pspErrors"].items():
        metrics.value("PixPspErrors", errors, provider=provider)
    if summary["confirmed"]:
        metrics.value("PixConfirmed", summary["confirmed"], source="reconciliation")
    logger.info("pix reconciliation", extra={"sweep": sweep, **summary})
    return {"scheduledTime": _iso(now), "sweep": sweep, **summary}
