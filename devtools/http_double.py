"""The lifecycle every local HTTP double shares (Stripe, WhatsApp): a threaded server on a free loopback port.

    class StripeDouble(HttpDouble):
        def handler(self) -> type[BaseHTTPRequestHandler]:
            return _Handler         # a BaseHTTPRequestHandler subclass that finds its double as ``self.double``

    double = StripeDouble().start()     # serving on http://127.0.0.1:<free port>
    double.url, double.stop()
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self


class HttpDouble:
    """Serve ``handler`` (which finds this double as its class attribute ``double``) on a daemon thread."""

    _server: ThreadingHTTPServer | None = None

    def handler(self) -> type[BaseHTTPRequestHandler]:
        raise NotImplementedError

    def start(self, host: str = "127.0.0.1", port: int = 0) -> Self:
        base = self.handler()
        handler = type(base.__name__, (base,), {"double": self})
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name=type(self).__name__, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the double first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
