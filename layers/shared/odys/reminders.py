"""The 08:00 run (``functions/cron_reminders``): reminders for tomorrow, today's agenda, payments pending, trials
ending — queued in the WhatsApp outbox, set-based, then enqueued paced per recipient.

    from odys import reminders
    reminders.run(scheduled_at)
    # -> {"reminders": 9876, "dailyAgendas": 412, "paymentsPending": 37, "trialsEnding": 3, "enqueued": 10328}

``scheduled_at`` is the run's *scheduled* instant (EventBridge Scheduler's ``<aws.scheduler.scheduled-time>``),
never the wall clock: a delayed or retried run means the same "today" and "tomorrow" — the dates of that instant
in each professional's time zone — and so queues the same rows, which already exist (dedupe keys in the
database): nothing is queued twice.

* ``msgReminder24h``: every pending/confirmed appointment starting on the professional's local tomorrow, booked
  before ``scheduled_at`` (one booked after today's run already got its confirmation with the time). Key
  ``msgReminder24h:<appointment>:<start epoch>``: a rescheduled appointment is reminded again for its new time,
  and the sender skips the old reminder (``appointment_changed``) or a cancelled one (``appointment_cancelled``).
* ``msgDailyAgenda``: each professional with active appointments on their local today — how many, the first
  one's time and client, the link to the day (a parameter holds one line). Key ``…:<professional>:<date>``.
* ``msgPaymentPending``: once per appointment completed on the local yesterday, unpaid, with a price, of a
  professional with a PIX key (the message carries the PIX code; without a key there is none to send: skipped).
* ``msgTrialEndingSoon``: professionals on the free plan whose trial ends on their local today + 3, once per trial.

Plan, WhatsApp switched off, opt-out and disabled templates are the sender's decisions: the rows are queued and
the sender skips them visibly. Each kind is one ``SELECT`` and one ``INSERT … SELECT … ON CONFLICT (dedupe_key)
DO NOTHING`` per :data:`BATCH` rows (templates rendered in Python in between), each statement committing on its
own (no long transaction). After the inserts, the new ids go to SQS in ``SendMessageBatch`` calls; messages to the
same phone are spaced :data:`SPACING` seconds apart (``DelaySeconds``, at most 900) so Meta's per-recipient pair
rate limit (131056) is not hit, and ``enqueued_at`` records when each becomes visible (the sweep counts from
then). An enqueue that fails leaves the row for the sweep.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from odys import booking_tokens, links, message_templates, metrics, pix, queue as sqs
from odys.log import logger
from odys.message_templates import format_date, format_datetime, format_money, format_time
from odys.store import reminders as store

BATCH = 2000
"""Appointments per SELECT page and per INSERT."""
SPACING = 60
"""Seconds between two messages of one run to the same phone (Meta's pair rate limit is about one per 6 s)."""
TRIAL_NOTICE_DAYS = 3
ENQUEUE_WORKERS = 8
LOCALE = message_templates.DEFAULT_LOCALE


def _row(*, pid: str, template: str, params: dict[str, str], recipient: str, to_phone: str, dedupe_key: str,
         cid: str | None = None, aid: str | None = None, starts_at: dt.datetime | None = None) -> dict[str, Any]:
    rendered = message_templates.render(template, params, locale=LOCALE)
    return {"pid": pid, "cid": cid, "template": template, "body": rendered.text, "recipient": recipient,
            "to_phone": to_phone, "locale": rendered.locale, "params": rendered.params, "aid": aid,
            "starts_at": starts_at, "dedupe_key": dedupe_key}


def _reminder(a: dict[str, Any]) -> dict[str, Any]:
    return _row(pid=a["professional_id"], cid=a["client_id"], aid=a["id"], starts_at=a["starts_at"],
                template="msgReminder24h", recipient="client", to_phone=a["client_phone"],
                dedupe_key=a["dedupe_key"],
                params={"client_name": a["client_name"], "professional_name": a["professional_name"],
                        "date_time": format_datetime(a["starts_at"], a["timezone"], LOCALE),
                        "manage_link": links.manage_link(booking_tokens.for_appointment(a))})


def _agenda(p: dict[str, Any]) -> dict[str, Any]:
    first = format_time(p["first_starts_at"], p["timezone"], LOCALE)
    summary = (f"Primeira: {first} com {p['first_client_name']}. "
               f"Veja o dia: {links.agenda_day(p['day'])}")
    return _row(pid=p["professional_id"], template="msgDailyAgenda", recipient="professional", to_phone=p["phone"],
                dedupe_key=p["dedupe_key"],
                params={"professional_name": p["professional_name"], "date": format_date(p["day"], None, LOCALE),
                        "count": str(p["count"]), "agenda": summary})


def _payment(a: dict[str, Any]) -> dict[str, Any]:
    from odys import appointment_pix

    professional = {"pix_key": a["pix_key"], "name": a["professional_name"], "slug": a["slug"], "city": a["city"]}
    code = appointment_pix.copy_and_paste(professional, a)  # a["pix_txid"] is claimed: no query here
    return _row(pid=a["professional_id"], cid=a["client_id"], aid=a["id"], starts_at=a["starts_at"],
                template="msgPaymentPending", recipient="client", to_phone=a["client_phone"],
                dedupe_key=a["dedupe_key"],
                params={"client_name": a["client_name"], "professional_name": a["professional_name"],
                        "date_time": format_datetime(a["starts_at"], a["timezone"], LOCALE),
                        "amount": format_money(a["price"], LOCALE), "pix_code": code})


def _trial(p: dict[str, Any]) -> dict[str, Any]:
    return _row(pid=p["professional_id"], template="msgTrialEndingSoon", recipient="professional",
                to_phone=p["phone"], dedupe_key=p["dedupe_key"],
                params={"professional_name": p["professional_name"],
                        "trial_end_date": format_date(p["trial_ends_at"], p["timezone"], LOCALE),
                        "billing_link": links.billing_page()})


def _queue(rows: Iterable[dict[str, Any]], render: Callable[[dict[str, Any]], dict[str, Any]],
           template: str) -> list[tuple[str, str]]:
    """Render and insert in batches; the new (id, phone) pairs. A row that does not render is logged, not sent."""
    rendered: list[dict[str, Any]] = []
    new: list[tuple[str, str]] = []
    for row in rows:
        try:
            rendered.append(render(row))
        except ValueError:  # TemplateError: e.g. a name with nothing printable left
            logger.error("scheduled message not renderable", extra={"template": template, "row": row.get("id")})
        if len(rendered) >= BATCH:
            new += store.insert_outbox(rendered)
            rendered = []
    new += store.insert_outbox(rendered)
    return new


def _due_reminders(at: dt.datetime) -> Iterable[dict[str, Any]]:
    after: tuple[dt.datetime, str] | None = None
    while True:
        page = store.due_reminders(at, limit=BATCH, after=after)
        yield from page
        if len(page) < BATCH:
            return
        after = (page[-1]["starts_at"], page[-1]["id"])


def _payments(at: dt.datetime) -> list[dict[str, Any]]:
    rows = store.payments_pending(at)
    missing = [(row["id"], pix.new_txid()) for row in rows if not row["pix_txid"]]
    txids = store.claim_txids(missing)
    return [{**row, "pix_txid": row["pix_txid"] or txids.get(row["id"])} for row in rows]


def pacing(new: Sequence[tuple[str, str]]) -> dict[str, int]:
    """``DelaySeconds`` per message id: the k-th message (0-based) of a run to one phone waits k x SPACING.

    >>> pacing([("a", "+5511"), ("b", "+5511"), ("c", "+5521")])
    {'a': 0, 'b': 60, 'c': 0}
    """
    seen: dict[str, int] = defaultdict(int)
    delays: dict[str, int] = {}
    for message_id, phone in new:
        delays[message_id] = min(sqs.MAX_DELAY, seen[phone] * SPACING)
        seen[phone] += 1
    return delays


def enqueue(delays: dict[str, int], now: dt.datetime) -> int:
    """Send the ids (with their delays) in SendMessageBatch calls on a few threads; stamp ``enqueued_at`` at the
    time each becomes visible. Never raises: what did not go is left to the sweep."""
    from concurrent.futures import ThreadPoolExecutor

    ids = list(delays)
    chunks = [ids[i:i + sqs.BATCH] for i in range(0, len(ids), sqs.BATCH)]
    if not chunks:
        return 0

    def send(chunk: list[str]) -> list[str]:
        try:
            return sqs.send_ids(chunk, {i: delays[i] for i in chunk})
        except Exception:  # noqa: BLE001 - committed rows: the sweep sends them later
            logger.exception("scheduled messages enqueue failed", extra={"messages": len(chunk)})
            metrics.count("WhatsAppEnqueueFailed")
            return []

    try:
        sqs.queue_url()
    except sqs.QueueNotConfigured:
        logger.error("whatsapp enqueue failed: WHATSAPP_QUEUE_URL is not configured")
        return 0
    with ThreadPoolExecutor(max_workers=min(ENQUEUE_WORKERS, len(chunks))) as pool:
        sent = [message_id for accepted in pool.map(send, chunks) for message_id in accepted]
    if len(sent) < len(ids):
        logger.warning("whatsapp messages left for the sweep", extra={"messages": len(ids) - len(sent)})
    try:
        store.stamp_enqueued([(i, now + dt.timedelta(seconds=delays[i])) for i in sent])
    except Exception:  # noqa: BLE001 - they are on the queue; the sweep may send them again, harmlessly
        logger.exception("whatsapp enqueue not recorded", extra={"messages": len(sent)})
    return len(sent)


def run(scheduled_at: dt.datetime, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """Queue the 08:00 messages for the run scheduled at ``scheduled_at`` (aware) and enqueue them; the counts."""
    from odys import clock

    if scheduled_at.tzinfo is None:
        raise ValueError("scheduled_at must be timezone-aware")
    reminders = _queue(_due_reminders(scheduled_at), _reminder, "msgReminder24h")
    agendas = _queue(store.daily_agendas(scheduled_at), _agenda, "msgDailyAgenda")
    payments = _queue(_payments(scheduled_at), _payment, "msgPaymentPending")
    trials = _queue(store.trials_ending(scheduled_at, days=TRIAL_NOTICE_DAYS), _trial, "msgTrialEndingSoon")
    new = reminders + agendas + payments + trials
    enqueued = enqueue(pacing(new), now or clock.now())
    summary = {"scheduledTime": scheduled_at.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z"),
               "reminders": len(reminders), "dailyAgendas": len(agendas), "paymentsPending": len(payments),
               "trialsEnding": len(trials), "enqueued": enqueued}
    logger.info("cron reminders", extra=summary)
    return summary
