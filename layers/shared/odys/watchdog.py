"""The daily WhatsApp watchdog (``cron_watchdog``, 09:00 America/Sao_Paulo): what went wrong with the channel, and
who must hear about it.

    from odys import watchdog
    watchdog.run(schedule.scheduled_time({"scheduledTime": "2026-12-02T12:00:00Z"}))
    # -> {"scheduledTime": "2026-12-02T12:00:00+00:00", "requeued": 0, "queued": 0, "sent": 41, "failed": 2,
    #     "professionalsFailed": 1, "notified": 1, "whatsappNotices": 1, "dlqDepth": 0, "tokenValid": True,
    #     "tokenDaysLeft": None, "health": "AVAILABLE", "resumed": False}

In order:

1. **The token and the number** (``whatsapp_api.debug_token`` / ``health_status``). A token Graph does not accept,
   or without the ``whatsapp_business_messaging`` scope, is *invalid*: an ERROR log ``"whatsapp token invalid"``
   (template.yaml's alarm watches it) and the ``WhatsAppTokenInvalid`` metric. A valid token lifts a pause the
   sender set for error 190 (``whatsapp_state.paused_until`` → now): sending resumes at once instead of waiting
   for the next send to find out. Other account-level pauses (368, 131048, 131064) are short and end on their own.
   An unreachable Graph is *unknown*: logged, nothing resumed, notices still queued (they wait in the outbox).
2. **Stuck messages**: ``outbox.sweep`` (the same rule as the 5-minute sweep: ``queued`` rows never enqueued, or
   enqueued more than 5 minutes ago): a safety net if the sweep schedule itself stopped.
3. **Failed deliveries**: client messages whose ``failed_at`` falls in the 24 hours before the *scheduled* time
   (``[scheduled − 24 h, scheduled)``: exactly the time since the previous daily run, so a delayed or retried run
   looks at the same failures, and none is skipped or counted on two days). Per professional, in one
   transaction: one in-app notice (dedupe key ``whatsapp-delivery-failed:<professional>:<day>``) and — unless the
   token is invalid (the channel cannot deliver it) — one ``msgWhatsappDeliveryFailed`` (dedupe key
   ``msgWhatsappDeliveryFailed:<professional>:<day>``), ``<day>`` being the run's date in São Paulo: never twice
   the same day. ``client_name`` names the clients ("Bia", "Bia e Caio", "Bia, Caio e Dani", "Bia, Caio e mais
   2"), ``date_time`` the first session concerned (or the failure's time for a message about no session), "e
   mais N" when there were several.
4. **The dead-letter queue's depth** (``WHATSAPP_DLQ_URL``, ``ApproximateNumberOfMessages``).
5. **One summary log line** ``"whatsapp watchdog"`` with counts only (no names, phones or texts; the token's
   state as ``credential_valid`` / ``credential_days_left``, since the logger redacts keys naming a token), and
   metrics:
   ``WhatsAppQueued``, ``WhatsAppSent``, ``WhatsAppFailed``, ``WhatsAppRequeued``, ``WhatsAppDeadLetterDepth``,
   ``WhatsAppTokenDaysLeft``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

from odys import clock, config, db, metrics, notifications, outbox, queue, whatsapp_api
from odys.log import logger
from odys.message_templates import DEFAULT_LOCALE, format_datetime
from odys.store import watchdog as store

WINDOW = dt.timedelta(hours=24)
DAY_ZONE = ZoneInfo("America/Sao_Paulo")  # the schedule's zone: which "day" a notice is once in
REQUIRED_SCOPE = "whatsapp_business_messaging"
RESUMABLE_CODES = [190]  # pauses a valid token ends (whatsapp_api.ACCOUNT_CODES: the token's own error)
SHOWN_NAMES = 3


def client_names(names: Sequence[str]) -> str:
    """``["Bia"]`` → ``"Bia"``; two → ``"Bia e Caio"``; three → ``"Bia, Caio e Dani"``; more → ``"Bia, Caio e
    mais 2"`` (a template parameter is one line)."""
    names = [n.strip() for n in names if n and n.strip()] or ["cliente"]
    if len(names) <= SHOWN_NAMES:
        return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} e {names[-1]}"
    return f"{', '.join(names[:SHOWN_NAMES - 1])} e mais {len(names) - SHOWN_NAMES + 1}"


def check_token(now: dt.datetime) -> dict[str, Any]:
    """``{"valid": True | False | None (unknown), "days_left", "health", "code"}``; logs and counts an invalid
    token loudly."""
    result: dict[str, Any] = {"valid": None, "days_left": None, "health": "UNKNOWN", "code": None}
    try:
        info = whatsapp_api.debug_token()
    except (whatsapp_api.WhatsAppError, config.ConfigurationError) as error:
        logger.warning("whatsapp token not checked", extra={"error": type(error).__name__,
                                                            "code": getattr(error, "code", None)})
        metrics.count("WhatsAppTokenUnchecked")
        return result
    missing = REQUIRED_SCOPE not in info.scopes
    result.update(valid=info.is_valid and not missing, days_left=info.days_left(now), code=info.error_code)
    if not result["valid"]:
        logger.error("whatsapp token invalid", extra={"code": info.error_code, "graph_valid": info.is_valid,
                                                      "missing_scope": REQUIRED_SCOPE if missing else None})
        metrics.count("WhatsAppTokenInvalid")
        return result
    try:
        result["health"] = whatsapp_api.health_status()
    except whatsapp_api.WhatsAppError as error:
        logger.warning("whatsapp health not checked", extra={"code": error.code, "kind": error.kind})
    if result["health"] in ("LIMITED", "BLOCKED"):
        (logger.error if result["health"] == "BLOCKED" else logger.warning)(
            "whatsapp number health", extra={"health": result["health"]})
        metrics.count("WhatsAppNumberHealth", status=result["health"])
    return result


def dead_letter_depth() -> int | None:
    """The WhatsApp dead-letter queue's depth, or None (not configured, or SQS did not answer)."""
    url = config.env("WHATSAPP_DLQ_URL")
    if not url:
        logger.warning("whatsapp dead-letter depth not read: WHATSAPP_DLQ_URL is not configured")
        return None
    try:
        return queue.depth(url)
    except Exception:  # noqa: BLE001 - one reading missed; the DLQ alarm watches it too
        logger.exception("whatsapp dead-letter depth not read")
        return None


def _when(row: dict[str, Any]) -> dt.datetime:
    return row["appointment_starts_at"] or row["failed_at"]


def notify_failures(rows: list[dict[str, Any]], *, day: dt.date, whatsapp: bool) -> dict[str, int]:
    """One in-app notice and (``whatsapp``) one ``msgWhatsappDeliveryFailed`` per professional in ``rows``, at
    most once per ``day``: ``{"professionals", "notified", "whatsapp"}`` (how many were written now)."""
    by_professional: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_professional.setdefault(row["professional_id"], []).append(row)
    notified = queued = 0
    for pid, failures in by_professional.items():
        first = failures[0]
        names = client_names(list(dict.fromkeys(
            r["client_name"] for r in sorted(failures, key=_when) if r["client_name"])))
        sessions = sorted({_when(r) for r in failures})
        date_time = format_datetime(sessions[0], first["timezone"], DEFAULT_LOCALE)
        if len(sessions) > 1:
            date_time = f"{date_time} e mais {len(sessions) - 1}"
        clients = {r["client_id"] for r in failures}
        count = len(failures)
        with db.transaction():
            if notifications.notify_professional(
                    pid, "whatsapp_delivery_failed", "Mensagens do WhatsApp não entregues",
                    f"{'Uma mensagem' if count == 1 else f'{count} mensagens'} do WhatsApp não "
                    f"{'foi entregue' if count == 1 else 'foram entregues'} nas últimas 24 horas ({names}). "
                    "Vale a pena avisar por outro meio; os detalhes estão nas mensagens de cada cliente.",
                    client_id=next(iter(clients)) if len(clients) == 1 else None,
                    dedupe_key=f"whatsapp-delivery-failed:{pid}:{day.isoformat()}"):
                notified += 1
            if whatsapp and outbox.queue(
                    professional_id=pid, template="msgWhatsappDeliveryFailed", recipient="professional",
                    to_phone=first["professional_phone"],
                    client_id=next(iter(clients)) if len(clients) == 1 else None,
                    params={"professional_name": first["professional_name"], "client_name": names,
                            "date_time": date_time},
                    dedupe_key=f"msgWhatsappDeliveryFailed:{pid}:{day.isoformat()}"):
                queued += 1
    return {"professionals": len(by_professional), "notified": notified, "whatsapp": queued}


def run(scheduled: dt.datetime, now: dt.datetime | None = None) -> dict[str, Any]:
    """One watchdog run for the schedule's instant ``scheduled`` (see the module's docstring); its summary."""
    now = now or clock.now()
    token = check_token(now)
    resumed = False
    if token["valid"] and token["health"] != "BLOCKED":
        resumed = store.resume_sending(now, codes=RESUMABLE_CODES)
        if resumed:
            logger.info("whatsapp sending resumed", extra={"reason": "token valid"})
            metrics.count("WhatsAppSendingResumed")
    elif token["valid"] is False:
        pause = store.pause()
        if pause and pause["paused_until"] and pause["paused_until"] > now:
            logger.error("whatsapp sending stays paused", extra={"pause_code": pause["pause_code"]})
    swept = outbox.sweep(now)
    failures = store.failed_deliveries(scheduled - WINDOW, scheduled)
    day = scheduled.astimezone(DAY_ZONE).date()
    notices = notify_failures(failures, day=day, whatsapp=token["valid"] is not False)
    counts = store.outbox_counts(scheduled - WINDOW, scheduled)
    depth = dead_letter_depth()
    summary: dict[str, Any] = {
        "scheduledTime": scheduled.isoformat(), "requeued": swept["enqueued"], "queued": counts["queued"],
        "sent": counts["sent"], "failed": counts["failed"], "professionalsFailed": notices["professionals"],
        "notified": notices["notified"], "whatsappNotices": notices["whatsapp"], "dlqDepth": depth,
        "tokenValid": token["valid"], "tokenDaysLeft": token["days_left"], "health": token["health"],
        "resumed": resumed}
    logger.info("whatsapp watchdog", extra={
        "scheduled_time": summary["scheduledTime"], "requeued": swept["enqueued"], "claimed": swept["claimed"],
        "queued": counts["queued"], "sent": counts["sent"], "failed": counts["failed"],
        "professionals_failed": notices["professionals"], "notified": notices["notified"],
        "whatsapp_notices": notices["whatsapp"], "dlq_depth": depth,
        # the logger redacts any key with "token" in it: these are the token's state, never the token
        "credential_valid": token["valid"],
        "credential_days_left": "never" if token["valid"] and token["days_left"] is None else token["days_left"],
        "health": token["health"], "resumed": resumed})
    for name, amount in (("WhatsAppQueued", counts["queued"]), ("WhatsAppSent", counts["sent"]),
                         ("WhatsAppFailed", counts["failed"]), ("WhatsAppRequeued", swept["enqueued"])):
        metrics.value(name, amount)
    if depth is not None:
        metrics.value("WhatsAppDeadLetterDepth", depth)
    if token["days_left"] is not None:
        metrics.value("WhatsAppTokenDaysLeft", token["days_left"], unit="None")
    return summary
