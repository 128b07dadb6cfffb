"""Run the functions of template.yaml locally, as API Gateway (HTTP API, payload 2.0) would call them.

    routes = load_routes()                          # [Route(method="GET", path="/api/account", function="account"), ...]
    event = http_event("POST", "/api/account", headers={"authorization": "Bearer ..."}, body={"name": "Ana"})
    result = invoke("account", event)               # in this process: {"statusCode": 201, ...}

    workers = Workers()                             # the dev server: a pool of worker processes per function
    result = workers.invoke(routes[0], event)       # in an idle worker of that function, or a new one
    workers.close()

Routes come from template.yaml only (never listed twice); the dev server and the tests share this module.

Like Lambda, an execution environment handles one event at a time. That matters here: Powertools keeps the
current event on the resolver *class*, so one process must never run two events at once. ``invoke`` serializes
the calls of a process; the dev server gives each in-flight request its own worker process.
"""

from __future__ import annotations

import base64
import datetime as dt
import importlib.util
import json
import multiprocessing
import re
import signal
import sys
import threading
import traceback
import urllib.parse
import uuid
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent


class _CfnLoader(yaml.SafeLoader):
    """YAML loader that keeps CloudFormation short-form tags (!Ref, !Sub, ...) as plain values."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return {suffix: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {suffix: loader.construct_sequence(node, deep=True)}
    return {suffix: loader.construct_mapping(node, deep=True)}


_CfnLoader.add_multi_constructor("!", _tag)


def load_template(path: Path | str = ROOT / "template.yaml") -> dict[str, Any]:
    return yaml.load(Path(path).read_text(), Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass


@dataclass(frozen=True)
class Route:
    method: str
    path: str          # as in template.yaml: /api/professionals/{slug}
    function: str      # folder under functions/
    pattern: re.Pattern = field(compare=False, repr=False)
    timeout: float = 30  # seconds: the function's Timeout (Globals or its own) in template.yaml

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if self.method not in ("ANY", method):
            return None
        m = self.pattern.fullmatch(path)
        return {k: urllib.parse.unquote(v) for k, v in m.groupdict().items()} if m else None


def _pattern(path: str) -> re.Pattern:
    regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(path))
    return re.compile(regex)


def function_name(code_uri: str) -> str:
    return Path(str(code_uri).rstrip("/")).name


def load_routes(template: dict[str, Any] | None = None) -> list[Route]:
    template = template or load_template()
    default_timeout = ((template.get("Globals") or {}).get("Function") or {}).get("Timeout", 3)  # Lambda's default
    routes = []
    for resource in template["Resources"].values():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        props = resource["Properties"]
        for event in (props.get("Events") or {}).values():
            if event.get("Type") == "HttpApi":
                p = event["Properties"]
                routes.append(Route(p["Method"].upper(), p["Path"], function_name(props["CodeUri"]), _pattern(p["Path"]),
                                    float(props.get("Timeout", default_timeout))))
    # literal segments win over parameters (/api/booking before /api/booking/{token})
    return sorted(routes, key=lambda r: (r.path.count("{"), -len(r.path)))


def http_event(method: str, path: str, *, route_path: str | None = None, path_parameters: dict[str, str] | None = None,
               query: dict[str, str | list[str]] | str | None = None, headers: dict[str, str] | None = None,
               body: str | bytes | dict | list | None = None, source_ip: str = "127.0.0.1",
               cookies: list[str] | None = None, base64_body: bool = False) -> dict[str, Any]:
    """A real API Gateway HTTP API v2 event, as the service builds it."""
    headers = {k.lower(): v for k, v in (headers or {}).items()}
    if isinstance(query, str):
        raw_query = query
    else:
        raw_query = urllib.parse.urlencode(query or {}, doseq=True)
    params: dict[str, list[str]] = {}
    for key, value in urllib.parse.parse_qsl(raw_query, keep_blank_values=True):
        params.setdefault(key, []).append(value)
    if "cookie" in headers:
        cookies = (cookies or []) + [c.strip() for c in headers.pop("cookie").split(";") if c.strip()]
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
        headers.setdefault("content-type", "application/json")
    is_b64 = False
    if isinstance(body, bytes):
        body, is_b64 = base64.b64encode(body).decode(), True
    elif body is not None and base64_body:
        body, is_b64 = base64.b64encode(body.encode()).decode(), True
    if body is not None:
        headers.setdefault("content-length", str(len(base64.b64decode(body)) if is_b64 else len(body.encode())))
    now = dt.datetime.now(dt.timezone.utc)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": f"{method.upper()} {route_path or path}",
        "rawPath": path,
        "rawQueryString": raw_query,
        "headers": {"host": "127.0.0.1", "user-agent": "odys-local", "x-forwarded-for": source_ip,
                    "x-forwarded-proto": "http", **headers},
        "requestContext": {
            "accountId": "123456789012", "apiId": "local", "domainName": "127.0.0.1", "domainPrefix": "127",
            "http": {"method": method.upper(), "path": path, "protocol": "HTTP/1.1", "sourceIp": source_ip,
                     "userAgent": headers.get("user-agent", "odys-local")},
            "requestId": str(uuid.uuid4()), "routeKey": f"{method.upper()} {route_path or path}", "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"), "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": is_b64,
    }
    if params:
        event["queryStringParameters"] = {k: ",".join(v) for k, v in params.items()}
    if path_parameters:
        event["pathParameters"] = path_parameters
    if cookies:
        event["cookies"] = cookies
    if body is not None:
        event["body"] = body
    return event


@dataclass
class LambdaContext:
    function_name: str = "odys-local"
    memory_limit_in_mb: int = 512
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = "/aws/lambda/odys-local"
    log_stream_name: str = "local"

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def load_function(name: str) -> ModuleType:
    """Import ``functions/<name>/app.py`` under its own module name (every function's file is called app.py)."""
    module_name = f"odys_fn_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, ROOT / "functions" / name / "app.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module


# --- in this process (the tests' ``api`` fixture) -----------------------------------------------------------------

_invoke_lock = threading.Lock()


def invoke(name: str, event: dict[str, Any]) -> dict[str, Any]:
    """Run one event through ``functions/<name>`` in this process.

    This process is one execution environment: Powertools keeps the current event on the resolver *class*, so two
    events at once would see each other's. Calls are serialized; for concurrent requests use separate processes
    (:class:`Workers`, or ``tests/booking_helpers.concurrently``).
    """
    with _invoke_lock:
        return load_function(name).lambda_handler(event, LambdaContext(function_name=f"odys-{name}"))


# --- worker processes (the dev server) ----------------------------------------------------------------------------


class InvocationFailed(Exception):
    """The function gave no result: it crashed (500) or ran past its timeout (504), as API Gateway reports it."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail


def _serve(name: str, connection: Connection) -> None:
    """A worker's loop: one function, one event at a time, until the server closes the pipe."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group: the server stops us
    handler = load_function(name).lambda_handler
    while True:
        try:
            event = connection.recv()
        except (EOFError, OSError):
            break
        try:
            reply: tuple[str, Any] = ("ok", handler(event, LambdaContext(function_name=f"odys-{name}")))
        except Exception as error:  # an unhandled exception: Lambda logs it and reports a function error
            traceback.print_exc()
            reply = ("error", type(error).__name__)
        connection.send(reply)
    db = sys.modules.get("odys.db")
    if db is not None:
        db.close()


class Worker:
    """One execution environment: a fresh interpreter (spawned, so it shares nothing with the server) that
    imports one function and handles one event at a time. It inherits the server's environment variables."""

    def __init__(self, name: str) -> None:
        context = multiprocessing.get_context("spawn")
        self._pipe, child_end = context.Pipe()
        self.process = context.Process(target=_serve, args=(name, child_end), name=f"odys-{name}", daemon=True)
        try:
            self.process.start()
        except OSError as error:  # out of processes or file descriptors
            raise InvocationFailed(500, "function_error", f"No execution environment could start ({error}).") from None
        finally:
            child_end.close()
        self.broken = False

    def invoke(self, event: dict[str, Any], timeout: float) -> dict[str, Any]:
        try:
            self._pipe.send(event)
            if not self._pipe.poll(timeout):
                self.broken = True
                raise InvocationFailed(504, "function_timeout", f"The function did not answer within {timeout:g} s.")
            kind, value = self._pipe.recv()
        except (EOFError, OSError):
            self.broken = True
            raise InvocationFailed(500, "function_error", "The function's execution environment crashed.") from None
        if kind != "ok":
            raise InvocationFailed(500, "function_error", f"The function raised {value}.")
        return value

    def close(self) -> None:
        """Tell the worker to exit (it sees EOF), without waiting."""
        self._pipe.close()

    def stop(self) -> None:
        self.close()
        self.process.join(2)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


class FunctionPool:
    """The execution environments of one function, as Lambda scales them: an event takes an idle worker (the most
    recently used) or, when all are busy, a new one; at ``max_workers`` it waits for one to come free. A worker
    that crashed or timed out is dropped and replaced by the next cold start."""

    def __init__(self, name: str, *, timeout: float = 30, max_workers: int = 8) -> None:
        self.name, self.timeout, self.max_workers = name, timeout, max_workers
        self._idle: list[Worker] = []
        self._busy: set[Worker] = set()
        self._ready = threading.Condition()
        self._closed = False

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        worker = self._take()
        try:
            return worker.invoke(event, self.timeout)
        finally:
            self._give_back(worker)

    def _take(self) -> Worker:
        with self._ready:
            while not self._closed:
                while self._idle:
                    worker = self._idle.pop()
                    if worker.process.is_alive():
                        self._busy.add(worker)
                        return worker
                    worker.stop()
                if len(self._busy) < self.max_workers:
                    worker = Worker(self.name)
                    self._busy.add(worker)
                    return worker
                self._ready.wait()
        raise InvocationFailed(503, "server_stopping", "The dev server is stopping.")

    def _give_back(self, worker: Worker) -> None:
        with self._ready:
            self._busy.discard(worker)
            keep = not (worker.broken or self._closed)
            if keep:
                self._idle.append(worker)
            self._ready.notify()
        if not keep:
            worker.stop()

    def pids(self) -> list[int]:
        with self._ready:
            return [w.process.pid for w in (*self._idle, *self._busy) if w.process.pid]

    def close(self) -> None:
        with self._ready:
            self._closed = True
            workers = [*self._idle, *self._busy]
            self._idle.clear()
            self._ready.notify_all()
        for worker in workers:
            worker.close()  # all of them see EOF and exit at once
        for worker in workers:
            worker.stop()


class Workers:
    """A :class:`FunctionPool` per function, created on first use (what the dev server invokes through).

        workers = Workers(max_workers=8)
        result = workers.invoke(route, event)    # in a worker process of route.function; InvocationFailed if none
        workers.close()                          # stops every worker
    """

    def __init__(self, *, max_workers: int = 8) -> None:
        self.max_workers = max_workers
        self._pools: dict[str, FunctionPool] = {}
        self._lock = threading.Lock()

    def pool(self, route: Route) -> FunctionPool:
        with self._lock:
            if route.function not in self._pools:
                self._pools[route.function] = FunctionPool(route.function, timeout=route.timeout,
                                                           max_workers=self.max_workers)
            return self._pools[route.function]

    def invoke(self, route: Route, event: dict[str, Any]) -> dict[str, Any]:
        return self.pool(route).invoke(event)

    def close(self) -> None:
        with self._lock:
            pools = list(self._pools.values())
        for pool in pools:
            pool.close()
