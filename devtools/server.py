"""`make dev`: the whole API on http://127.0.0.1:3000, every function of template.yaml behind it.

Starts a throwaway PostgreSQL (under .odys/pg), migrates and seeds it, starts redis-server behind the local
Upstash REST stand-in (unless UPSTASH_REDIS_REST_URL is configured), and turns each HTTP request into an API
Gateway HTTP API v2 event for the function template.yaml routes it to. Ctrl-C stops everything it started.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "layers" / "shared"), str(ROOT)]

DEV_JWT_SECRET = "odys-dev-jwt-secret-change-me-0123456789"


def _configure_environment() -> None:
    os.environ.setdefault("ODYS_STAGE", "dev")
    os.environ.setdefault("SUPABASE_JWT_SECRET", DEV_JWT_SECRET)
    os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "odys")
    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "Odys")
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "INFO")
    os.environ.setdefault("APP_BASE_URL", "http://localhost:5173")
    os.environ.setdefault("BOOKING_TOKEN_SECRET", "odys-dev-booking-secret-0123456789")


class Gateway(BaseHTTPRequestHandler):
    """Translates HTTP <-> API Gateway v2 events for the routes of template.yaml."""

    routes: list = []
    protocol_version = "HTTP/1.1"
    server_version = "odys-dev"

    def _handle(self) -> None:
        from devtools import lambdas

        parts = urlsplit(self.path)
        length = int(self.headers.get("content-length") or 0)
        raw_body = self.rfile.read(length) if length else None
        if self.command == "OPTIONS":  # API Gateway answers CORS preflight itself
            return self._send(204, {"Access-Control-Allow-Origin": self.headers.get("origin") or "*",
                                    "Access-Control-Allow-Methods": "GET,POST,PUT,PATCH,DELETE,OPTIONS",
                                    "Access-Control-Allow-Headers": "Authorization,Content-Type,Idempotency-Key",
                                    "Access-Control-Max-Age": "600"}, b"")
        for route in self.routes:
            params = route.match(self.command, parts.path)
            if params is not None:
                break
        else:
            body = json.dumps({"type": "https://odys.com.br/problems/route_not_found", "title": "Not Found",
                               "status": 404, "detail": f"No route {self.command} {parts.path}.",
                               "code": "route_not_found"}).encode()
            return self._send(404, {"Content-Type": "application/problem+json"}, body)
        headers = {k.lower(): v for k, v in self.headers.items()}
        text_body: str | bytes | None = None
        if raw_body is not None:
            try:
                text_body = raw_body.decode("utf-8")
            except UnicodeDecodeError:
                text_body = raw_body  # binary: sent base64-encoded, as API Gateway does
        event = lambdas.http_event(self.command, parts.path, route_path=route.path, path_parameters=params or None,
                                   query=parts.query, headers=headers, body=text_body,
                                   source_ip=self.client_address[0])
        try:
            result = lambdas.invoke(route.function, event)
        except Exception as error:  # a crash of the function itself: API Gateway answers 500
            print(f"function {route.function} crashed: {error!r}", file=sys.stderr)
            return self._send(500, {"Content-Type": "application/json"}, b'{"message":"Internal Server Error"}')
        body = result.get("body") or ""
        payload = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode()
        out_headers = dict(result.get("headers") or {})
        out_headers.setdefault("Access-Control-Allow-Origin", self.headers.get("origin") or "*")
        self._send(result.get("statusCode", 200), out_headers, payload, cookies=result.get("cookies") or [])

    def _send(self, status: int, headers: dict, payload: bytes, cookies: list[str] | None = None) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, str(value))
        for cookie in cookies or []:
            self.send_header("Set-Cookie", cookie)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _handle

    def log_message(self, fmt: str, *args) -> None:  # one short line per request
        sys.stderr.write(f"{self.command} {self.path} -> {args[1] if len(args) > 1 else ''}\n")


class DevHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default backlog of 5 resets connections when many clients arrive at once


def main() -> None:
    _configure_environment()
    from devtools import lambdas, seed
    from devtools.pg import PostgresServer
    from devtools.tokens import mint_token

    port = int(os.environ.get("PORT", "3000"))
    try:  # take the port first: a second `make dev` must fail here, before touching the first one's database
        httpd = DevHTTPServer(("127.0.0.1", port), Gateway)
    except OSError as error:
        sys.exit(f"cannot listen on 127.0.0.1:{port} ({error.strerror}): is another `make dev` running? "
                 f"Stop it, or choose another port: PORT=3001 make dev")
    stops = [httpd.server_close]
    pg = PostgresServer(ROOT / ".odys" / "pg", port=int(os.environ.get("ODYS_DEV_PG_PORT", "54329"))).start()
    stops.append(pg.stop)
    try:
        pg.create_database("odys_dev")
        os.environ["DATABASE_URL"] = pg.url("odys_dev")
        if not os.environ.get("UPSTASH_REDIS_REST_URL"):
            from devtools.upstash_double import UpstashDouble, start_redis_server

            redis_server = start_redis_server()
            stops.append(redis_server.stop)
            double = UpstashDouble()
            token = secrets.token_urlsafe(16)
            double.start(redis_server.url, token=token)
            stops.append(double.stop)
            os.environ["UPSTASH_REDIS_REST_URL"], os.environ["UPSTASH_REDIS_REST_TOKEN"] = double.url, token
        if not os.environ.get("STRIPE_SECRET_KEY"):  # the local Stripe double; its pages deliver signed webhooks
            from devtools.stripe_double import StripeDouble

            prices = {"price_dev_basic": 2990, "price_dev_pro": 5990, "price_dev_premium": 9990}
            stripe_double = StripeDouble(api_key="sk_test_odys_dev", prices=prices,
                                         webhook_url=f"http://127.0.0.1:{port}/api/stripe/webhook",
                                         webhook_secret="whsec_odys_dev").start()
            stops.append(stripe_double.stop)
            os.environ.update({"STRIPE_SECRET_KEY": "sk_test_odys_dev", "STRIPE_API_BASE": stripe_double.url,
                               "STRIPE_WEBHOOK_SECRET": "whsec_odys_dev"})
            for plan_name in ("basic", "pro", "premium"):
                os.environ.setdefault(f"STRIPE_PRICE_{plan_name.upper()}", f"price_dev_{plan_name}")
        from odys import migrate

        applied = migrate.apply_pending()
        demo = seed.seed_demo()
        Gateway.routes = lambdas.load_routes()
        token = mint_token(seed.DEMO_USER_ID, secret=os.environ["SUPABASE_JWT_SECRET"], expires_in=7 * 24 * 3600,
                           email="demo@odys.local")
        functions = sorted({r.function for r in Gateway.routes})
        print(f"""
Odys dev server: http://127.0.0.1:{port}
  database   {os.environ['DATABASE_URL']} (migrations applied: {', '.join(applied) or 'none'})
  rate limits via Upstash REST at {os.environ['UPSTASH_REDIS_REST_URL']}
  functions  {', '.join(functions)} ({len(Gateway.routes)} routes from template.yaml)
  demo professional: {demo['name']} (/{demo['slug']})

Token for the demo professional (valid 7 days):
  export TOKEN={token}

Try:
  curl -s http://127.0.0.1:{port}/api/professionals/{demo['slug']}
  curl -s -H "Authorization: Bearer $TOKEN" http://127.0.0.1:{port}/api/account

Ctrl-C stops everything.
""", flush=True)
        signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=httpd.shutdown).start())
        try:
            httpd.serve_forever()
        except KeyboardInterrupt:
            pass
    finally:
        from odys import db

        db.close()
        for stop in reversed(stops):
            stop()
        print("odys dev server stopped", flush=True)


if __name__ == "__main__":
    main()
