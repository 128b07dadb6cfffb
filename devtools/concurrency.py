"""Run calls at once, each in its own execution environment (a forked process), as Lambda runs one event per
environment: for the concurrency tests and the booking benchmark.

    from devtools.concurrency import concurrently
    results = concurrently([lambda: lambdas.invoke("booking", event) for event in events])

Powertools keeps the current event on the resolver class, so threads of one process would see each other's
requests; processes do not.
"""

from __future__ import annotations

import multiprocessing
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

from odys import db, ratelimit

__all__ = ["concurrently"]


def concurrently(calls: list[Callable[[], Any]], timeout: float = 60) -> list[Any]:
    """Run ``calls`` at once, each in its own process (released together by a barrier): its result, or the
    exception it raised, in order.

        results = concurrently([functools.partial(book, api, starts_at, ip=f"192.0.2.{i}") for i in range(20)])

    Each child is a fork of this
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
