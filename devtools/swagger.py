"""Swagger UI at /docs and the OpenAPI document at /openapi.json on `make dev` (devtools/server.py), offline: the UI's
JavaScript and CSS are the copies bundled inside aws-lambda-powertools, served from this server (no CDN).

    status, headers, body = swagger.answer("/docs", "http://127.0.0.1:3000")   # None for any other path

The document is built from the code when first asked for (devtools.openapi.build), with the server's own URL as its
``servers`` entry, so "Try it out" calls this dev server; routes without ``@doc`` yet are left out. The page loads
only same-origin scripts and styles, under a strict Content-Security-Policy (no inline script).
"""

from __future__ import annotations

import threading
from pathlib import Path

ASSETS = Path(__import__("aws_lambda_powertools").__file__).parent / "event_handler" / "openapi" / "swagger_ui"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "connect-src 'self'; font-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Odys API (make dev)</title>
  <link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui">Loading…</div>
  <script src="/docs/swagger-ui-bundle.js"></script>
  <script src="/docs/init.js"></script>
</body>
</html>
"""
INIT = """window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true, docExpansion: "list", filter: true,
    persistAuthorization: true, displayOperationId: true, layout: "BaseLayout",
    presets: [SwaggerUIBundle.presets.apis], plugins: [SwaggerUIBundle.plugins.DownloadUrl]
  });
});
"""
PATHS = ("/docs", "/docs/", "/docs/swagger-ui.css", "/docs/swagger-ui-bundle.js", "/docs/init.js", "/openapi.json")
_documents: dict[str, bytes] = {}
_lock = threading.Lock()


def document(server_url: str) -> bytes:
    """The OpenAPI document (JSON) for a server at ``server_url``, built once per URL."""
    with _lock:
        if server_url not in _documents:
            from devtools import openapi

            _documents[server_url] = openapi.render(openapi.build(server_url, skip_undocumented=True)).encode()
        return _documents[server_url]


def answer(path: str, server_url: str) -> tuple[int, dict[str, str], bytes] | None:
    """(status, headers, body) for one of :data:`PATHS`, else None."""
    common = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}
    if path in ("/docs", "/docs/"):
        return 200, {**common, "Content-Type": "text/html; charset=utf-8", "Content-Security-Policy": CSP,
                     "X-Frame-Options": "DENY"}, PAGE.encode()
    if path == "/docs/swagger-ui.css":
        return 200, {**common, "Content-Type": "text/css"}, (ASSETS / "swagger-ui.min.css").read_bytes()
    if path == "/docs/swagger-ui-bundle.js":
        return 200, {**common, "Content-Type": "text/javascript"}, (ASSETS / "swagger-ui-bundle.min.js").read_bytes()
    if path == "/docs/init.js":
        return 200, {**common, "Content-Type": "text/javascript"}, INIT.encode()
    if path == "/openapi.json":
        return 200, {**common, "Content-Type": "application/json"}, document(server_url)
    return None
