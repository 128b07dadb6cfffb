"""`make dev`: the whole API on http://127.0.0.1:3000, every function of template.yaml behind it.

Starts a throwaway PostgreSQL (under .odys/pg, unless DATABASE_URL is configured), migrates and seeds it, starts
redis-server behind the local Upstash REST stand-in (unless UPSTASH_REDIS_REST_URL is configured) and the Stripe
stand-in (unless STRIPE_SECRET_KEY or STRIPE_API_BASE is), the WhatsApp queue on moto's SQS server with a poller
feeding ``whatsapp_sender`` (unless WHATSAPP_QUEUE_URL is; :mod:`devtools.local_sqs`), the PSP stand-in for PIX
(unless a PIX_API_BASE_URL_* is; :mod:`devtools.pix_double`, with KMS on moto unless PIX_KMS_KEY_ID is), the Groq stand-in
(unless GROQ_API_KEY or GROQ_BASE_URL is; :mod:`devtools.groq_double`), the export bucket on moto's S3 (unless
EXPORT_BUCKET is; :mod:`devtools.local_s3`), and turns each HTTP request
into an API Gateway HTTP API v2 event for the function template.yaml routes it to. Every default yields to the environment. Ctrl-C stops
everything it started.

Like Lambda, an execution environment handles one event at a time: each in-flight request runs in a worker
process of its function (:class:`devtools.lambdas.Workers`), never on a thread next to another request.

    server = DevHTTPServer(("127.0.0.1", 0))          # what the tests start: routes from template.yaml
    threading.Thread(target=server.serve_forever, daemon=True).start()
    ...
    server.shutdown(); server.server_close()          # also stops the workers
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import signal
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "layers" / "shared"), str(ROOT)]

from devtools import lambdas, swagger  # noqa: E402

DEV_JWT_SECRET = "odys-dev-jwt-secret-change-me-0123456789"
MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit
SERVER_METHODS = ("DELETE", "GET", "OPTIONS", "PATCH", "POST", "PUT")
_QUERY_KEY = re.compile(r"[A-Za-z][\w.\[\]-]{0,39}")


def _configure_environment() -> None:
    os.environ.setdefault("ODYS_STAGE", "dev")
    os.environ.setdefault("SUPABASE_JWT_SECRET", DEV_JWT_SECRET)
    os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "odys")
    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "Odys")
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "INFO")
    os.environ.setdefault("APP_BASE_URL", "http://localhost:5173")
    os.environ.setdefault("BOOKING_TOKEN_SECRET", "odys-dev-booking-secret-0123456789")
    os.environ.setdefault("WHATSAPP_APP_SECRET", "odys-dev-whatsapp-app-secret")      # signs the webhook's POSTs
    os.environ.setdefault("WHATSAPP_VERIFY_TOKEN", "odys-dev-whatsapp-verify-token")  # GET subscription check


def problem(status: int, code: str, detail: str) -> bytes:
    """An RFC 9457 body like odys.errors', for the answers the gateway gives itself."""
    return json.dumps({"type": f"https://odys.com.br/problems/{code}", "title": HTTPStatus(status).phrase,
                       "status": status, "detail": detail, "code": code}).encode()


def access_path(path: str, query: str, route: lambdas.Route | None) -> str:
    """The request target as the access log shows it: no path parameters, no query values.

    access_path("/api/booking/v1.abc", "", route)   # the route of /api/booking/{token} -> '/api/booking/{token}'
    access_path("/api/clients", "q=Maria&limit=5", route)                       -> '/api/clients?q=…&limit=…'
    access_path("/api/nowhere/v1.abc", "", None)     # no route                 -> '/api/nowhere/…'
    """
    if route is not None:
        shown = route.path
    else:  # keep /api/<resource>, mask whatever follows
        segments = path.split("/")
        keep = 3 if path.startswith("/api/") else 1
        shown = "/".join(s if i < keep or not s else "…" for i, s in enumerate(segments))
    keys = [k if _QUERY_KEY.fullmatch(k) else "…" for k, _ in parse_qsl(query, keep_blank_values=True)]
    return shown + ("?" + "&".join(f"{k}=…" for k in keys) if keys else "")


class Gateway(BaseHTTPRequestHandler):
    """Translates HTTP <-> API Gateway v2 events for the routes of template.yaml (``server.routes``)."""

    server: DevHTTPServer
    protocol_version = "HTTP/1.1"
    server_version = "odys-dev"
    disable_nagle_algorithm = True  # each response is one write: nothing waits for the client's delayed ACK

    def _handle(self) -> None:
        parts = urlsplit(self.path)
        raw_body = self._read_body()
        if raw_body is None:
            return
        if self.command == "OPTIONS":  # API Gateway answers CORS preflight itself
            return self._send(204, {"Access-Control-Allow-Origin": self.headers.get("origin") or "*",
                                    "Access-Control-Allow-Methods": "GET,POST,PUT,PATCH,DELETE,OPTIONS",
                                    "Access-Control-Allow-Headers": "Authorization,Content-Type,Idempotency-Key",
                                    "Access-Control-Max-Age": "600"}, b"")
        if self.command == "GET" and parts.path in swagger.PATHS:  # Swagger UI and the OpenAPI document
            status, headers, payload = swagger.answer(parts.path, f"http://127.0.0.1:{self.server.server_address[1]}")
            return self._send(status, headers, payload)
        route, params = self.server.route(self.command, parts.path)
        if route is None:
            return self._problem(404, "route_not_found", f"No route {self.command} {parts.path}.")
        headers = {k.lower(): v for k, v in self.headers.items()}
        text_body: str | bytes | None = None
        if raw_body:
            try:
                text_body = raw_body.decode("utf-8")
            except UnicodeDecodeError:
                text_body = raw_body  # binary: sent base64-encoded, as API Gateway does
        event = lambdas.http_event(self.command, parts.path, route_path=route.path, path_parameters=params or None,
                                   query=parts.query, headers=headers, body=text_body,
                                   source_ip=self.client_address[0])
        try:
            result = self.server.workers.invoke(route, event)
        except lambdas.InvocationFailed as failure:  # what API Gateway answers when the function gives no result
            print(f"function {route.function}: {failure.detail}", file=sys.stderr)
            return self._problem(failure.status, failure.code, failure.detail)
        body = result.get("body") or ""
        payload = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode()
        out_headers = dict(result.get("headers") or {})
        out_headers.setdefault("Access-Control-Allow-Origin", self.headers.get("origin") or "*")
        self._send(result.get("statusCode", 200), out_headers, payload, cookies=result.get("cookies") or [])

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _handle

    def _read_body(self) -> bytes | None:
        """The request body, or None after answering a body we cannot take (the connection is closed then)."""
        if "transfer-encoding" in self.headers:
            self.close_connection = True
            self._problem(411, "length_required", "Send the body with a Content-Length header.")
            return None
        declared = self.headers.get("content-length") or "0"
        if not declared.isdigit():
            self.close_connection = True
            self._problem(400, "invalid_content_length", "Content-Length must be a number of bytes.")
            return None
        if int(declared) > MAX_BODY_BYTES:
            self.close_connection = True
            self._problem(413, "payload_too_large", f"The body is over {MAX_BODY_BYTES} bytes.")
            return None
        return self.rfile.read(int(declared)) if int(declared) else b""

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The errors http.server answers itself (bad request line, 414, 431, no ``do_<METHOD>``), as problems."""
        self.close_connection = True  # the request was not read to its end
        if code == HTTPStatus.NOT_IMPLEMENTED and self.command:  # a method no route has
            allow = self.server.allowed_methods(urlsplit(self.path).path)
            return self._problem(405, "method_not_allowed", f"{self.command} is not allowed here.",
                                 {"Allow": ", ".join(allow)})
        status = HTTPStatus(code)
        self._problem(code, status.phrase.lower().replace(" ", "_").replace("-", "_"), message or status.description)

    def _problem(self, status: int, code: str, detail: str, headers: dict[str, str] | None = None) -> None:
        self._send(status, {"Content-Type": "application/problem+json", **(headers or {})},
                   problem(status, code, detail))

    def _send(self, status: int, headers: dict[str, Any], payload: bytes, cookies: list[str] | None = None) -> None:
        """Status line, headers and body in one write."""
        self.log_request(status)
        lines = [f"{self.protocol_version} {status} {self.responses.get(status, ('',))[0]}".rstrip(),
                 f"Server: {self.version_string()}", f"Date: {self.date_time_string()}"]
        lines += [f"{key}: {value}" for key, value in headers.items()]
        lines += [f"Set-Cookie: {cookie}" for cookie in cookies or []]
        if status not in (204, 304):
            lines.append(f"Content-Length: {len(payload)}")
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")
        self.wfile.write(head if self.command == "HEAD" or status in (204, 304) else head + payload)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """One line per answer, without personal data: path parameters and query values masked."""
        target = "-"
        if self.command and getattr(self, "path", None):
            parts = urlsplit(self.path)
            target = access_path(parts.path, parts.query, self.server.route(self.command, parts.path)[0])
        sys.stderr.write(f"{self.command or '-'} {target} -> {int(code)}\n")

    def log_error(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
        """Silent: its messages quote the raw request line (tokens, query values); log_request logs the answer."""


class DevHTTPServer(ThreadingHTTPServer):
    """The gateway: routes from template.yaml, each function's requests run by its pool of worker processes."""

    daemon_threads = True
    request_queue_size = 128  # the default backlog of 5 resets connections when many clients arrive at once

    def __init__(self, address: tuple[str, int], routes: list[lambdas.Route] | None = None, *,
                 max_workers: int = 8) -> None:
        self.workers = lambdas.Workers(max_workers=max_workers)  # first: a failed bind calls server_close()
        self.routes = routes if routes is not None else lambdas.load_routes()
        super().__init__(address, Gateway)

    def route(self, method: str, path: str) -> tuple[lambdas.Route | None, dict[str, str] | None]:
        for route in self.routes:
            params = route.match(method, path)
            if params is not None:
                return route, params
        return None, None

    def allowed_methods(self, path: str) -> list[str]:
        """The methods of the routes at ``path`` (and OPTIONS, answered here), or all we serve for unknown paths."""
        methods = {m for m in SERVER_METHODS if m != "OPTIONS" and self.route(m, path)[0] is not None}
        return sorted(methods | {"OPTIONS"}) if methods else list(SERVER_METHODS)

    def server_close(self) -> None:
        super().server_close()
        self.workers.close()


def _redacted_url(url: str) -> str:
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


def _start_local_queue(httpd: DevHTTPServer, stops: list) -> str:
    """moto's SQS server with the WhatsApp queue and DLQ, and a poller feeding ``whatsapp_sender``'s workers."""
    from devtools.local_sqs import LocalQueue, Poller, sender_route

    local = LocalQueue(visibility_timeout=10).start()
    stops.append(local.stop)
    os.environ.update(local.environment())  # inherited by every worker process
    sender = sender_route()
    if sender is None:
        return f"queue {local.url} (moto); no whatsapp_sender function yet: messages stay queued"
    route, batch_size = sender
    poller = Poller(local, lambda event: httpd.workers.invoke(route, event), batch_size=batch_size,
                    wait_seconds=5).start()
    stops.append(poller.stop)
    return f"queue {local.url} (moto, DLQ after 5 receives) -> whatsapp_sender (batches of {batch_size})"


def _start_dev_crons(httpd: DevHTTPServer, stops: list) -> str:
    """``ODYS_DEV_CRONS=1``: the daily crons at their template.yaml times, in worker processes like Lambda."""
    from devtools.invoke import DevCrons

    def run(name: str, timeout: float, event: dict[str, Any]) -> Any:
        return httpd.workers.invoke(lambdas.Route("SCHEDULE", "", name, lambdas._pattern(""), timeout), event)

    crons = DevCrons(run).start()
    stops.append(crons.stop)
    return f"on: {crons.describe()}"


def main() -> None:
    _configure_environment()
    from devtools import seed
    from devtools.pg import PostgresError, PostgresServer
    from devtools.tokens import mint_token

    port = int(os.environ.get("PORT", "3000"))
    try:  # take the port first: a second `make dev` must fail here, before touching the first one's database
        httpd = DevHTTPServer(("127.0.0.1", port), max_workers=int(os.environ.get("ODYS_DEV_MAX_WORKERS", "8")))
    except OSError as error:
        sys.exit(f"cannot listen on 127.0.0.1:{port} ({error.strerror}): is another `make dev` running? "
                 f"Stop it, or choose another port: PORT=3001 make dev")
    stops = [httpd.server_close]
    try:
        database = "from DATABASE_URL"
        if not os.environ.get("DATABASE_URL"):
            pg = PostgresServer(Path(os.environ.get("ODYS_DEV_PG_DIR") or ROOT / ".odys" / "pg"),
                                port=int(os.environ.get("ODYS_DEV_PG_PORT", "54329"))).start()
            stops.append(pg.stop)
            pg.create_database("odys_dev")
            os.environ["DATABASE_URL"] = pg.url("odys_dev")
            database = f"cluster in {pg.base}" + (f", as {pg.user} cannot reach {pg.requested}" if pg.relocated else "")
        if not os.environ.get("UPSTASH_REDIS_REST_URL"):
            from devtools.upstash_double import UpstashDouble, start_redis_server

            redis_server = start_redis_server()
            stops.append(redis_server.stop)
            double = UpstashDouble()
            double.start(redis_server.url,
                         token=os.environ.setdefault("UPSTASH_REDIS_REST_TOKEN", secrets.token_urlsafe(16)))
            stops.append(double.stop)
            os.environ["UPSTASH_REDIS_REST_URL"] = double.url
        if not os.environ.get("STRIPE_SECRET_KEY") and not os.environ.get("STRIPE_API_BASE"):
            from devtools.stripe_double import StripeDouble  # its pages deliver signed webhooks

            prices = {"price_dev_basic": 2990, "price_dev_pro": 5990, "price_dev_premium": 9990}
            stripe_double = StripeDouble(api_key="sk_test_odys_dev", prices=prices,
                                         webhook_url=f"http://127.0.0.1:{port}/api/stripe/webhook",
                                         webhook_secret=os.environ.setdefault("STRIPE_WEBHOOK_SECRET",
                                                                              "whsec_odys_dev")).start()
            stops.append(stripe_double.stop)
            os.environ.update({"STRIPE_SECRET_KEY": "sk_test_odys_dev", "STRIPE_API_BASE": stripe_double.url})
            for plan_name in ("basic", "pro", "premium"):
                os.environ.setdefault(f"STRIPE_PRICE_{plan_name.upper()}", f"price_dev_{plan_name}")
        whatsapp = f"queue {os.environ.get('WHATSAPP_QUEUE_URL')} (from WHATSAPP_QUEUE_URL; not consumed here)"
        if not os.environ.get("WHATSAPP_QUEUE_URL"):
            whatsapp = _start_local_queue(httpd, stops)
        if not os.environ.get("WHATSAPP_GRAPH_URL") and not os.environ.get("WHATSAPP_TOKEN"):
            from devtools.whatsapp_double import WhatsAppDouble  # GET /_double: what was "sent", play the client

            wa_double = WhatsAppDouble(token="wa-dev-token", phone_number_id="100000000000001",
                                       webhook_url=f"http://127.0.0.1:{httpd.server_address[1]}/api/whatsapp/webhook",
                                       app_secret=os.environ["WHATSAPP_APP_SECRET"]).start()
            stops.append(wa_double.stop)
            os.environ.update({"WHATSAPP_GRAPH_URL": wa_double.url, "WHATSAPP_TOKEN": "wa-dev-token",
                               "WHATSAPP_PHONE_NUMBER_ID": "100000000000001"})
            whatsapp += (f"\n  cloud api  {wa_double.url} (WhatsApp double: what was sent, and how to play the client:"
                         f" curl {wa_double.url}/_double)")
        ai_chat = f"Groq at {os.environ.get('GROQ_BASE_URL') or 'https://api.groq.com'} (GROQ_API_KEY from the environment)"
        if not os.environ.get("GROQ_API_KEY") and not os.environ.get("GROQ_BASE_URL"):
            from devtools.groq_double import GroqDouble  # plays a model that drives the tools for fixed questions

            groq_double = GroqDouble(api_key="gsk_odys_dev", fixed_questions=True).start()
            stops.append(groq_double.stop)
            os.environ.update({"GROQ_API_KEY": "gsk_odys_dev", "GROQ_BASE_URL": groq_double.url})
            ai_chat = (f"Groq stand-in {groq_double.url} (no GROQ_API_KEY: fixed questions such as \"quais são meus "
                       f"atendimentos hoje?\", see devtools/groq_double.py)")
        elif not os.environ.get("GROQ_API_KEY"):
            ai_chat = "GROQ_BASE_URL without GROQ_API_KEY: /api/ai/chat answers 503 ai_unavailable"
        exports = f"bucket {os.environ.get('EXPORT_BUCKET')} (from EXPORT_BUCKET)"
        if not os.environ.get("EXPORT_BUCKET"):
            from devtools.local_s3 import LocalBucket  # exports too large for a response: presigned URLs to moto

            bucket = LocalBucket().start()
            stops.append(bucket.stop)
            os.environ.update({k: v for k, v in bucket.environment().items() if k not in os.environ})
            os.environ["AWS_ENDPOINT_URL_S3"] = bucket.endpoint
            exports = f"bucket {bucket.name} on moto's S3 at {bucket.endpoint} (large exports download from there)"
        from devtools.pix_double import start_dev as start_pix_dev  # PSP stand-in, KMS, PIX_WEBHOOK_BASE_URL

        pix_line = start_pix_dev(stops, port)
        from odys import db, migrate

        applied = migrate.apply_pending()
        demo = seed.seed_demo()
        db.close()  # the workers have their own connections
        from devtools import invoke  # `make invoke` reads what it needs of this server from the state file

        crons = "off (ODYS_DEV_CRONS=1 runs them at their times; `make invoke FN=<function>` runs one now)"
        if os.environ.get("ODYS_DEV_CRONS") == "1":
            crons = _start_dev_crons(httpd, stops)
        state_file = invoke.write_state(port)
        stops.append(invoke.remove_state)
        token = mint_token(seed.DEMO_USER_ID, secret=os.environ["SUPABASE_JWT_SECRET"], expires_in=7 * 24 * 3600,
                           email="demo@odys.local")
        functions = sorted({r.function for r in httpd.routes})
        print(f"""
Odys dev server: http://127.0.0.1:{port}
  database   {_redacted_url(os.environ['DATABASE_URL'])} ({database}; migrations applied: {', '.join(applied) or 'none'})
  rate limits via Upstash REST at {os.environ['UPSTASH_REDIS_REST_URL']}
  whatsapp   {whatsapp}
  functions  {', '.join(functions)} ({len(httpd.routes)} routes from template.yaml; each request in a worker process)
  crons      {crons}
  exports    {exports}
  pix        {pix_line}
  ai chat    {ai_chat}
  invoke     make invoke FN=<function> [EVENT=path.json] (reads {state_file}, removed on stop)
  demo professional: {demo['name']} (/{demo['slug']})

Token for the demo professional (valid 7 days):
  export TOKEN={token}

Try:
  curl -s http://127.0.0.1:{port}/api/professionals/{demo['slug']}
  curl -s -H "Authorization: Bearer $TOKEN" http://127.0.0.1:{port}/api/account
  API docs: http://127.0.0.1:{port}/docs (Authorize with the token above; document at /openapi.json)

Ctrl-C stops everything.
""", flush=True)
        signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=httpd.shutdown).start())
        try:
            httpd.serve_forever()
        except KeyboardInterrupt:
            pass
    except PostgresError as error:
        raise SystemExit(f"make dev: {error}") from None
    finally:
        from odys import db

        db.close()
        for stop in reversed(stops):
            stop()
        print("odys dev server stopped", flush=True)


if __name__ == "__main__":
    main()
