"""Helpers of the slots and booking tests (tests/test_slots.py, tests/test_booking.py)."""

from __future__ import annotations

import datetime as dt
import itertools
import multiprocessing
import os
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

os.environ.setdefault("BOOKING_TOKEN_SECRET", "test-booking-secret-0123456789-0123456789")

from odys import db, ratelimit  # noqa: E402

UTC = dt.timezone.utc
SAO_PAULO = ZoneInfo("America/Sao_Paulo")
_phones = itertools.count(10_000_000)
MORNINGS = {"windows": [{"dayOfWeek": d, "startTime": "09:00", "endTime": "12:00"} for d in range(7)]}


def local_today(tz: ZoneInfo = SAO_PAULO) -> dt.date:
    return dt.datetime.now(tz).date()


def configure(api: Any, token: str, *, windows: dict[str, Any] | None = None, **settings: Any) -> None:
    """PATCH the professional's settings (camelCase) and PUT their availability (every morning by default)."""
    if settings:
        result = api.patch("/api/account", token=token, json_body=settings)
        assert result.status == 200, result.body
    result = api.put("/api/availability", token=token, json_body=windows or MORNINGS)
    assert result.status == 200, result.body


def slots_on(api: Any, day: dt.date, last: dt.date | None = None, slug: str = "ana-psi",
             ip: str = "198.51.100.1") -> list[dict[str, str]]:
    result = api.get(f"/api/professionals/{slug}/slots", query={"from": day.isoformat(),
                                                               "to": (last or day).isoformat()}, source_ip=ip)
    assert result.status == 200, result.body
    return result.json["slots"]


def booking_body(starts_at: str, phone: str = "+5511988887777", name: str = "Bia Lima", **extra: Any) -> dict:
    return {"slug": "ana-psi", "startsAt": starts_at, "client": {"name": name, "phone": phone}, **extra}


def book(api: Any, starts_at: str, *, ip: str = "192.0.2.1", key: str | None = None, **body: Any):
    headers = {"Idempotency-Key": key} if key else None
    return api.post("/api/booking", json_body=booking_body(starts_at, **body), headers=headers, source_ip=ip)


def concurrently(calls: list[Callable[[], Any]], timeout: float = 60) -> list[Any]:
    """Run ``calls`` at once, each in its own process (released together by a barrier): its result, or the
    exception it raised, in order.

        results = concurrently([functools.partial(book, api, starts_at, ip=f"192.0.2.{i}") for i in range(20)])

    Like Lambda, one execution environment handles one event at a time (Powertools keeps the current event on the
    resolver class, so threads of one process would see each other's requests). Each child is a fork of this
    process that forgets, without closing, the connections it inherited (the caller's stay usable) and opens its
    own. Results and exceptions must be picklable; a child that dies without answering gives a RuntimeError.
    """
    context = multiprocessing.get_context("fork")  # the calls are closures: they cannot be sent to a spawned process
    barrier = context.Barrier(len(calls))
    children = []
    # Python 3.12+ warns when a process with threads (here the test doubles' servers) forks: a child could inherit
    # a lock held by one of them. Ours only run their call, which never takes the doubles' locks, and exit.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", r".*fork\(\) may lead to deadlocks", DeprecationWarning)
        for call in calls:
            receiver, sender = context.Pipe(duplex=False)
            child = context.Process(target=_run_child, args=(call, barrier, sender, timeout), daemon=True)
            child.start()
            sender.close()
            children.append((child, receiver))
    results: list[Any] = []
    deadline = time.monotonic() + timeout
    for child, receiver in children:
        if receiver.poll(max(0.0, deadline - time.monotonic())):
            try:
                results.append(receiver.recv())
            except EOFError:
                results.append(RuntimeError(f"the child died without answering (exit code {child.exitcode})"))
            except Exception as error:  # sent, but cannot be rebuilt here (an exception with a custom __init__)
                results.append(RuntimeError(f"unreadable answer: {error!r}"))
        else:
            results.append(TimeoutError(f"no answer within {timeout} s"))
        receiver.close()
    for child, _ in children:
        child.join(5)
        if child.is_alive():
            child.kill()
            child.join()
    return results


_inherited: list[Any] = []  # a child keeps the parent's connection objects alive, unclosed


def _run_child(call: Callable[[], Any], barrier: Any, sender: Any, timeout: float) -> None:
    _inherited.append(dict(vars(db._local)))  # the caller's pg8000 connection: dropped, not closed
    vars(db._local).clear()
    ratelimit.reset_for_tests()  # closes this process's copies of the Upstash HTTP connections only
    billing = sys.modules.get("odys.billing")
    if billing is not None:  # Stripe clients keep HTTP sessions: this process builds its own
        billing._clients.clear()
    try:
        barrier.wait(timeout)
        result: Any = call()
    except Exception as error:  # recorded, asserted by the test
        result = error
    try:
        sender.send(result)
    except Exception as error:  # not picklable
        sender.send(RuntimeError(f"unpicklable result {result!r}: {error}"))
    db.close()


def professional_id() -> str:
    return str(db.scalar("SELECT id FROM professionals WHERE slug = 'ana-psi'"))


def add_client(phone: str = "+5511900000000", name: str = "Cliente") -> str:
    return str(db.scalar("INSERT INTO clients (professional_id, name, phone) VALUES (:p, :n, :ph) RETURNING id",
                         p=professional_id(), n=name, ph=phone))


def add_appointment(starts_at: dt.datetime, minutes: int = 50, status: str = "confirmed",
                    client_id: str | None = None) -> str:
    client_id = client_id or add_client(f"+55119{next(_phones)}")
    return str(db.scalar(
        "INSERT INTO appointments (professional_id, client_id, starts_at, ends_at, status, price) "
        "VALUES (:p, :c, :s, :e, :st, 0) RETURNING id", p=professional_id(), c=client_id, s=starts_at,
        e=starts_at + dt.timedelta(minutes=minutes), st=status))
