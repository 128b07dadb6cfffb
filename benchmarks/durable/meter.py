"""What a request costs at the database: statements, round trips and time, counted at pg8000.

    meter = Meter().install()          # wraps odys.db.Connection.pipeline/batch and the connection's socket
    sample = meter.measure(lambda: lambdas.invoke("booking", event))
    sample.total_ms, sample.db_ms, sample.statements, sample.round_trips, sample.trace   # trace: one Step per run()

    timers = ExclusiveTimers()
    timers.wrap(auth, "verify_token", "auth")    # time inside, minus the time of wrapped calls nested in it
    timers.reset(); ...; timers.ms               # {"auth": 0.21, ...}

A **statement** is one SQL statement sent (``START TRANSACTION`` and ``COMMIT`` included); a trace step is one
``odys.db.Connection.pipeline`` or ``batch`` call (its statements joined by `` ; ``). A **round trip** is one
request/response exchange with the server: bytes flushed to the socket, then the client blocks reading the answer.
It is counted on the socket itself (a proxy over pg8000's buffered socket file), and cross-checked against the
number of ``ReadyForQuery`` waits (``odys.db.Connection.handle_messages``; a batch has one). ``odys.db.Connection.run`` is one round trip
per statement (pg8000 1.31's own ``run()`` with parameters is three: Parse+Sync, Describe+Sync,
Bind+Execute+Sync).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Step:
    sql: str
    ms: float
    round_trips: int


@dataclass
class Sample:
    result: Any
    total_ms: float
    db_ms: float
    statements: int
    round_trips: int
    waits: int
    trace: list[Step] = field(default_factory=list)

    @property
    def outside_db_ms(self) -> float:
        return self.total_ms - self.db_ms


class _CountingSocket:
    """pg8000's socket file, counting exchanges: a read that follows a flush of written bytes is one round trip."""

    def __init__(self, inner: Any, meter: "Meter") -> None:
        self._inner, self._meter = inner, meter
        self._pending = self._flushed = False

    def write(self, data: Any) -> Any:
        self._pending = True
        return self._inner.write(data)

    def flush(self) -> Any:
        if self._pending:
            self._pending, self._flushed = False, True
        return self._inner.flush()

    def read(self, size: int = -1) -> Any:
        if self._flushed:
            self._flushed = False
            self._meter.round_trips += 1
        return self._inner.read(size)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def label(sql: str, width: int = 110) -> str:
    text = " ".join(sql.split())
    return text if len(text) <= width else text[:width - 1] + "…"


class Meter:
    def __init__(self) -> None:
        self.db_ns = self.statements = self.round_trips = self.waits = 0
        self.trace: list[Step] = []
        self.tracing = True

    def install(self) -> "Meter":
        from odys.db import Connection  # the connection class every statement of the code goes through

        meter, handle = self, Connection.handle_messages

        def counted(send: Callable[..., Any]) -> Callable[..., Any]:
            def counted_send(con: Any, statements: list[tuple[str, dict[str, Any]]]) -> Any:
                if not isinstance(con._sock, _CountingSocket):
                    con._sock = _CountingSocket(con._sock, meter)
                trips = meter.round_trips
                start = time.perf_counter_ns()
                try:
                    return send(con, statements)
                finally:
                    took = time.perf_counter_ns() - start
                    meter.db_ns += took
                    meter.statements += len(statements)
                    if meter.tracing:
                        meter.trace.append(Step(" ; ".join(sql for sql, _ in statements), took / 1e6,
                                                meter.round_trips - trips))

            return counted_send

        def counted_handle(con: Any, context: Any) -> Any:
            meter.waits += 1
            return handle(con, context)

        Connection.pipeline = counted(Connection.pipeline)  # type: ignore[method-assign]
        Connection.batch = counted(Connection.batch)  # type: ignore[method-assign]
        Connection.handle_messages = counted_handle  # type: ignore[method-assign]
        return self

    def reset(self) -> None:
        self.db_ns = self.statements = self.round_trips = self.waits = 0
        self.trace = []

    def measure(self, call: Callable[[], Any]) -> Sample:
        self.reset()
        start = time.perf_counter_ns()
        result = call()
        total = time.perf_counter_ns() - start
        return Sample(result, total / 1e6, self.db_ns / 1e6, self.statements, self.round_trips, self.waits,
                      self.trace)


class ExclusiveTimers:
    """Named timers around functions; a call's time excludes the wrapped calls nested inside it."""

    def __init__(self) -> None:
        self.ns: dict[str, int] = {}
        self._stack: list[list[int]] = []  # per active call: [nested ns]

    def wrap(self, owner: Any, attribute: str, name: str) -> None:
        original = getattr(owner, attribute)
        timers = self

        def timed(*args: Any, **kwargs: Any) -> Any:
            timers._stack.append([0])
            start = time.perf_counter_ns()
            try:
                return original(*args, **kwargs)
            finally:
                took = time.perf_counter_ns() - start
                nested = timers._stack.pop()[0]
                timers.ns[name] = timers.ns.get(name, 0) + took - nested
                if timers._stack:
                    timers._stack[-1][0] += took

        timed.__wrapped__ = original  # type: ignore[attr-defined]
        setattr(owner, attribute, timed)

    def reset(self) -> None:
        self.ns.clear()

    @property
    def ms(self) -> dict[str, float]:
        return {name: ns / 1e6 for name, ns in self.ns.items()}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")
