"""A local stand-in for Upstash Redis's REST API, in front of a real ``redis-server``. Dev and tests only.

There is no pip-installable Upstash REST server (stack-facts §4), so this speaks the subset of the protocol that
upstash-redis 1.8 / upstash-ratelimit 1.2 use, forwarding every command verbatim to Redis through a raw redis-py
connection (no response callbacks, so replies keep Redis's own shape)::

    POST /             ["SET","a","1"]                 -> {"result": "OK"}          (400 {"error": ...} on error)
    POST /pipeline     [["INCR","n"],["GET","n"]]      -> [{"result": 1}, {"result": "MQ=="}]
    POST /multi-exec   same, inside MULTI ... EXEC     -> [{"result": ...}, ...]
    missing/wrong ``Authorization: Bearer <token>``    -> 401 {"error": "Unauthorized"}

With ``Upstash-Encoding: base64`` every string in a result is base64 encoded except the status reply ``OK``
(the client decodes all strings but ``"OK"``). ``EVAL``/``EVAL_RO`` scripts lose a leading ``#!lua flags=...``
line: upstash-ratelimit sends ``#!lua flags=allow-key-locking``, which open-source Redis 7 rejects. Each
response carries ``Upstash-Sync-Token``: the request's token echoed back, or a fresh one from a counter
when the request had none.

In tests::

    redis_server = start_redis_server()
    double = UpstashDouble()
    double.start(redis_server.url, token="test-token")
    os.environ["UPSTASH_REDIS_REST_URL"], os.environ["UPSTASH_REDIS_REST_TOKEN"] = double.url, "test-token"
    double.fail_mode = "timeout"      # or "error" (HTTP 500), or None (healthy)
    ...
    double.stop(); redis_server.stop()

From a shell (prints the env vars to export; Ctrl-C stops both)::

    python devtools/upstash_double.py --port 8079 --token dev-token
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

import redis

FailMode = Literal["timeout", "error"] | None

__all__ = ["RedisServer", "UpstashDouble", "start_redis_server"]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A throwaway ``redis-server`` subprocess (no persistence, loopback only). Stop it with :meth:`stop`."""

    def __init__(self, process: subprocess.Popen[bytes], port: int) -> None:
        self.process = process
        self.port = port

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0``"""
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def _redis_binary() -> str:
    binary = shutil.which("redis-server")
    if not binary and os.access("/usr/bin/redis-server", os.X_OK):
        binary = "/usr/bin/redis-server"
    if not binary:
        raise RuntimeError(
            "redis-server is not installed: run `make` (it installs it) or `sudo apt-get install redis-server`"
        )
    return binary


def start_redis_server(port: int | None = None, startup_timeout: float = 5.0) -> RedisServer:
    """Start ``redis-server`` on ``port`` (a free one by default) and wait until it answers PING.

    >>> server = start_redis_server()          # doctest: +SKIP
    >>> server.url                             # doctest: +SKIP
    'redis://127.0.0.1:40123/0'
    """
    binary = _redis_binary()
    attempts = 1 if port is not None else 3  # a picked free port can be taken before redis binds it
    last_error = ""
    for _ in range(attempts):
        chosen = port or _free_port()
        args = [binary, "--port", str(chosen), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--daemonize", "no", "--loglevel", "warning"]  # fmt: skip
        process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        server = RedisServer(process, chosen)
        deadline = time.monotonic() + startup_timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                last_error = (process.stdout.read() if process.stdout else b"").decode(errors="replace")
                break
            try:
                redis.Redis.from_url(server.url, socket_timeout=0.5).ping()
                return server
            except redis.ConnectionError:
                time.sleep(0.05)
        else:
            server.stop()
            last_error = f"no PING answer within {startup_timeout}s"
    raise RuntimeError(f"redis-server did not start: {last_error.strip()}")


def _strip_shebang(command: list[Any]) -> list[Any]:
    """Drop the Upstash-only ``#!lua flags=...`` first line of an EVAL script.

    >>> _strip_shebang(["EVAL", "#!lua flags=allow-key-locking\\nreturn 1", 0])
    ['EVAL', 'return 1', 0]
    """
    if (
        len(command) > 1
        and str(command[0]).upper() in ("EVAL", "EVAL_RO")
        and isinstance(command[1], str)
        and command[1].startswith("#!lua")
    ):
        return [command[0], command[1].split("\n", 1)[1] if "\n" in command[1] else "", *command[2:]]
    return command


def _encode(value: Any, b64: bool) -> Any:
    """A raw RESP reply as Upstash JSON.

    >>> _encode([b"OK", b"hi", 3, None], b64=True)
    ['OK', 'aGk=', 3, None]
    """
    if isinstance(value, bytes):
        if value == b"OK":
            return "OK"
        return base64.b64encode(value).decode() if b64 else value.decode(errors="replace")
    if isinstance(value, list):
        return [_encode(item, b64) for item in value]
    return value


def _entry(value: Any, b64: bool) -> dict[str, Any]:
    if isinstance(value, Exception):
        return {"error": str(value)}
    return {"result": _encode(value, b64)}


def _valid_command(command: Any) -> bool:
    return (
        isinstance(command, list)
        and bool(command)
        and all(isinstance(arg, (str, int, float)) and not isinstance(arg, bool) for arg in command)
    )


class UpstashDouble:
    """The REST front end. ``fail_mode`` simulates an outage: ``"timeout"`` holds each request for
    ``fail_delay`` seconds (then answers 500), ``"error"`` answers 500 at once, ``None`` is healthy.

    ``requests`` records ``(path, body, headers)`` of every authorised request, for assertions.
    """

    def __init__(self) -> None:
        self.fail_mode: FailMode = None
        self.fail_delay = 5.0
        self.requests: list[tuple[str, Any, dict[str, str]]] = []
        self._token = ""
        self._pool: redis.ConnectionPool | None = None
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._sync_tokens = itertools.count(1)

    def start(self, redis_url: str, token: str, host: str = "127.0.0.1", port: int = 0) -> None:
        """Serve on ``host:port`` (0 = a free port) in a background thread."""
        if self._server is not None:
            raise RuntimeError("UpstashDouble already started")
        self._token = token
        self._pool = redis.ConnectionPool.from_url(redis_url)
        self._stopping.clear()
        self._server = _Server((host, port), _handler_for(self))
        self._thread = threading.Thread(target=self._server.serve_forever, name="upstash-double", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        """``http://host:port`` (what ``UPSTASH_REDIS_REST_URL`` should be)."""
        if self._server is None:
            raise RuntimeError("UpstashDouble not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        self._stopping.set()  # release requests held by fail_mode="timeout"
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._pool is not None:
            self._pool.disconnect()
        self._server = self._thread = self._pool = None

    # --- request handling (called from handler threads) ---

    def _authorised(self, header: str | None) -> bool:
        return header == f"Bearer {self._token}"

    def _next_sync_token(self, incoming: str | None) -> str:
        return incoming or str(next(self._sync_tokens))

    def _run(self, conn: Any, command: list[Any], b64: bool) -> dict[str, Any]:
        try:
            conn.send_command(*_strip_shebang(command))
            return _entry(conn.read_response(), b64)
        except redis.ResponseError as exc:
            return {"error": str(exc)}

    def _transaction(self, conn: Any, commands: list[list[Any]], b64: bool) -> tuple[int, Any]:
        conn.send_command("MULTI")
        conn.read_response()
        for command in commands:
            try:
                conn.send_command(*_strip_shebang(command))
                conn.read_response()  # QUEUED
            except redis.ResponseError:
                pass  # EXEC answers EXECABORT
        conn.send_command("EXEC")
        try:
            replies = conn.read_response()
        except redis.ResponseError as exc:
            return 400, {"error": str(exc)}
        return 200, [_entry(reply, b64) for reply in replies]

    def handle(self, path: str, body: Any, b64: bool) -> tuple[int, Any]:
        """Run one REST request against Redis: ``(status, json payload)``."""
        assert self._pool is not None
        path = path.split("?", 1)[0].rstrip("/") or "/"
        if path == "/":
            if not _valid_command(body):
                return 400, {"error": "ERR failed to parse command"}
        elif path in ("/pipeline", "/multi-exec"):
            if not isinstance(body, list) or not body or not all(_valid_command(c) for c in body):
                return 400, {"error": "ERR failed to parse pipeline request"}
        else:
            return 404, {"error": f"ERR unsupported path {path}"}
        conn = self._pool.get_connection()
        try:
            if path == "/":
                entry = self._run(conn, body, b64)
                return (400 if "error" in entry else 200), entry
            if path == "/pipeline":
                return 200, [self._run(conn, command, b64) for command in body]
            return self._transaction(conn, body, b64)
        except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
            conn.disconnect()
            return 500, {"error": f"ERR redis unavailable: {exc}"}
        finally:
            self._pool.release(conn)


class _Server(ThreadingHTTPServer):
    """Like Upstash, takes a burst of connections: the standard backlog of 5 resets the sixth concurrent client, and
    a reset sends that caller's rate limits to its in-memory fallback (the concurrency tests saw it)."""

    request_queue_size = 128


def _handler_for(double: UpstashDouble) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, like Upstash
        # Headers and body go out as two writes: with Nagle's algorithm the second waits for the client's delayed
        # ACK (~40 ms on Linux) on every keep-alive request. TCP_NODELAY sends them at once.
        disable_nagle_algorithm = True

        def do_POST(self) -> None:  # noqa: N802 (http.server naming)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            sync_token = self._sync_token()
            if not double._authorised(self.headers.get("Authorization")):
                self._reply(401, {"error": "Unauthorized"}, sync_token)
                return
            try:
                body = json.loads(raw or b"null")
            except ValueError:
                self._reply(400, {"error": "ERR failed to parse request body"}, sync_token)
                return
            double.requests.append((self.path, body, dict(self.headers.items())))
            mode = double.fail_mode
            if mode == "timeout":
                double._stopping.wait(double.fail_delay)
            if mode in ("timeout", "error"):
                self._reply(500, {"error": "ERR simulated outage"}, sync_token)
                return
            b64 = (self.headers.get("Upstash-Encoding") or "").lower() == "base64"
            status, payload = double.handle(self.path, body, b64)
            self._reply(status, payload, sync_token)

        def do_GET(self) -> None:  # noqa: N802
            self._reply(405, {"error": "ERR only POST is supported by this double"}, self._sync_token())

        def _sync_token(self) -> str:
            return double._next_sync_token(self.headers.get("Upstash-Sync-Token"))

        def _reply(self, status: int, payload: Any, sync_token: str) -> None:
            data = json.dumps(payload).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Upstash-Sync-Token", sync_token)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (e.g. its timeout fired during fail_mode="timeout")

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (http.server signature)
            pass

    return Handler


def _main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description="Upstash REST double in front of a throwaway redis-server")
    parser.add_argument("--port", type=int, default=8079)
    parser.add_argument("--token", default="dev-token")
    parser.add_argument("--redis-url", help="use this Redis instead of starting redis-server")
    args = parser.parse_args()
    server = None if args.redis_url else start_redis_server()
    double = UpstashDouble()
    double.start(args.redis_url or server.url, args.token, port=args.port)  # type: ignore[union-attr]
    print(f"export UPSTASH_REDIS_REST_URL={double.url}\nexport UPSTASH_REDIS_REST_TOKEN={args.token}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        double.stop()
        if server is not None:
            server.stop()


if __name__ == "__main__":
    _main()
