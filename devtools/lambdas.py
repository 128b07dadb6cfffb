"""Run the functions of template.yaml locally, as API Gateway (HTTP API, payload 2.0) would call them.

    routes = load_routes("template.yaml")          # [Route(method="GET", path="/api/account", function="account"), ...]
    event = http_event("POST", "/api/account", headers={"authorization": "Bearer ..."}, body={"name": "Ana"})
    result = invoke("account", event)               # the function's raw result: {"statusCode": 201, ...}

Routes come from template.yaml only (never listed twice); the dev server and the tests share this module.
"""

from __future__ import annotations

import base64
import datetime as dt
import importlib.util
import json
import re
import sys
import threading
import urllib.parse
import uuid
from dataclasses import dataclass, field
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
    routes = []
    for resource in template["Resources"].values():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        props = resource["Properties"]
        for event in (props.get("Events") or {}).values():
            if event.get("Type") == "HttpApi":
                p = event["Properties"]
                routes.append(Route(p["Method"].upper(), p["Path"], function_name(props["CodeUri"]), _pattern(p["Path"])))
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


_load_lock = threading.Lock()
_counter = 0


def load_function(name: str) -> ModuleType:
    """A fresh copy of ``functions/<name>/app.py`` (its own resolver), as a new Lambda instance would have."""
    global _counter
    path = ROOT / "functions" / name / "app.py"
    with _load_lock:
        _counter += 1
        module_name = f"odys_fn_{name}_{_counter}"
        spec = importlib.util.spec_from_file_location(module_name, path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    return module


class FunctionPool:
    """Instances of one function; a request takes an idle one or starts another (Lambda's scaling model)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._idle: list[ModuleType] = []
        self._lock = threading.Lock()

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            module = self._idle.pop() if self._idle else None
        if module is None:
            module = load_function(self.name)
        try:
            return module.lambda_handler(event, LambdaContext(function_name=f"odys-{self.name}"))
        finally:
            with self._lock:
                self._idle.append(module)


_pools: dict[str, FunctionPool] = {}


def invoke(name: str, event: dict[str, Any]) -> dict[str, Any]:
    with _load_lock:
        pool = _pools.setdefault(name, FunctionPool(name))
    return pool.invoke(event)
