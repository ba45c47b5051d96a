"""The operator's HTTP endpoint: ``/metrics`` (Prometheus text) and ``/healthz``.

Off by default (``[metrics] enabled``). A small threaded WSGI server in a thread of
its own, so a slow scrape never holds the event loop that runs the bot and the
scheduler; the store is thread-safe. ``/healthz`` (also ``/health``) answers 200
``ok`` while the database answers a trivial query, 503 otherwise. No authentication:
listen on loopback or a private monitoring network only.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from socketserver import ThreadingMixIn
from types import TracebackType
from typing import Self
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
from wsgiref.types import StartResponse, WSGIEnvironment

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import CollectorRegistry

from jobs.telemetry import log_event
from storage import Store
from storage.ops import ping

log = logging.getLogger(__name__)

HEALTH_PATHS = ("/healthz", "/health")


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class _QuietHandler(WSGIRequestHandler):
    """Request lines go to the DEBUG log instead of stderr."""

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s %s", self.address_string(), format % args)


class OpsServer:
    """Serves the endpoints from :meth:`start` until :meth:`stop`; a context manager.

    ``port`` 0 picks a free port (tests); :attr:`port` is the bound one.
    """

    def __init__(
        self, store: Store, registry: CollectorRegistry, *, listen: str, port: int
    ) -> None:
        self._store = store
        self._registry = registry
        self._listen = listen
        self._requested_port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the server is not running")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self._listen}:{self.port}"

    def start(self) -> None:
        """Bind and serve in a daemon thread (raises ``OSError`` if the port is taken)."""
        server = make_server(
            self._listen,
            self._requested_port,
            self._app,
            server_class=_Server,
            handler_class=_QuietHandler,
        )
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, name="ops-http", kwargs={"poll_interval": 0.2}
        )
        self._thread.daemon = True
        self._thread.start()
        log_event(log, "metrics_listening", listen=self._listen, port=self.port)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = self._thread = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _app(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if method not in ("GET", "HEAD"):
            return _reply(start_response, "405 Method Not Allowed", b"GET only\n")
        if path == "/metrics":
            body = generate_latest(self._registry)
            return _reply(start_response, "200 OK", body, CONTENT_TYPE_LATEST)
        if path in HEALTH_PATHS:
            if ping(self._store):
                return _reply(start_response, "200 OK", b"ok\n")
            return _reply(start_response, "503 Service Unavailable", b"database unavailable\n")
        return _reply(start_response, "404 Not Found", b"not found: try /metrics or /healthz\n")


def _reply(
    start_response: StartResponse,
    status: str,
    body: bytes,
    content_type: str = "text/plain; charset=utf-8",
) -> list[bytes]:
    start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(body)))])
    return [body]


__all__ = ["HEALTH_PATHS", "OpsServer"]
