"""A real HTTP server on loopback for fetcher and collector tests.

:class:`FeedServer` listens on ``127.0.0.1`` (a free port chosen by the OS) and serves a
route table from a background thread. Each route can misbehave the ways real feed
hosts do: conditional GET (304), status sequences for retries, 429 with Retry-After,
slow first bytes, trickling bodies, redirects and loops, gzip, oversized or
gzip-bomb bodies generated on the fly (never held in memory), and requests held until
the test releases a gate. Every request is logged (method, path, headers, bytes sent).

All waiting in handlers is bounded and interruptible: closing the server wakes every
handler, shuts their sockets and joins their threads, so nothing leaks between tests.

Use it as a context manager or through the ``feed_server`` fixture::

    from tests.feedserver import FeedServer

    with FeedServer() as server:
        server.route("/feed.xml", body=b"<rss/>", etag='"v1"')
        url = server.url("/feed.xml")
"""

from __future__ import annotations

import contextlib
import gzip as gzip_module
import socket
import sys
import threading
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Self

import pytest

__all__ = ["FeedServer", "LoggedRequest", "Route", "feed_server"]

#: Longest any handler waits for a gate; a forgotten gate must not hang the suite.
GATE_TIMEOUT = 10.0
_PATTERN = b"<item><title>Padding for size tests</title></item>\n"


@dataclass
class LoggedRequest:
    """One request the server received."""

    method: str
    path: str
    """Path with query string, as sent."""
    headers: dict[str, str]
    """Header names in lower case."""
    status: int | None = None
    """Status the server answered (``None`` if it never answered)."""
    bytes_sent: int = 0
    """Body bytes written to the socket (compressed when gzip), updated while sending."""
    client_port: int = 0
    """The client's port: requests with the same one came over the same connection."""


@dataclass
class Route:
    """How one path answers; built by :meth:`FeedServer.route`."""

    path: str
    body: bytes
    statuses: tuple[int, ...]
    headers: dict[str, str]
    content_type: str
    delay: float
    etag: str | None
    last_modified: str | None
    chunk_delay: float | None
    chunk_size: int
    redirect_to: str | None
    gzip: bool
    generated_size: int | None
    content_length: bool
    retry_after: str | None
    gate: threading.Event | None
    bodies: tuple[bytes, ...] = ()
    """When set, the body of the n-th successful answer (the last one repeating)."""
    hits: int = 0
    """Requests this route has received."""
    body_hits: int = 0
    """Bodies taken from ``bodies`` so far."""
    received: threading.Event = field(default_factory=threading.Event)
    """Set when the first request arrives (wait on it to know a request is in flight)."""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def next_body(self) -> bytes:
        """The body for this answer: ``bodies`` in turn (the last repeating), else ``body``."""
        if not self.bodies:
            return self.body
        with self._lock:
            index = min(self.body_hits, len(self.bodies) - 1)
            self.body_hits += 1
        return self.bodies[index]

    def next_status(self) -> int:
        """The status for the next request: ``statuses[hits]``, the last one repeating."""
        with self._lock:
            index = min(self.hits, len(self.statuses) - 1)
            self.hits += 1
        self.received.set()
        return self.statuses[index]


class _Server(ThreadingHTTPServer):
    # Non-daemon handler threads are joined by server_close(), so a test never ends
    # with a handler still writing to a socket.
    daemon_threads = False
    block_on_close = True

    def __init__(self, owner: FeedServer) -> None:
        self.owner = owner
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: object, client_address: object) -> None:
        # A client hanging up mid-body is what many tests do on purpose.
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            return
        if exc is not None:
            self.owner.errors.append(exc)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FeedServer/1.0"
    timeout = 5.0  # a client that connects and never sends must not pin a thread
    # Headers and body are separate writes: without TCP_NODELAY, Nagle's algorithm and
    # the client's delayed ACK would hold each body back ~40 ms.
    disable_nagle_algorithm = True
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.owner._track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.owner._untrack(self.connection)

    def log_message(self, format: str, *args: object) -> None:
        """Keep test output quiet: the request log is the record."""

    def do_GET(self) -> None:
        owner = self.server.owner
        self.close_connection = not owner.keep_alive
        entry = LoggedRequest(
            method=self.command,
            path=self.path,
            headers={name.lower(): value for name, value in self.headers.items()},
            client_port=self.client_address[1],
        )
        owner._log(entry)
        route = owner._find(self.path)
        if route is None:
            self._simple(entry, HTTPStatus.NOT_FOUND, {}, b"no such route\n")
            return
        status = route.next_status()
        if route.gate is not None and not owner._wait_for(route.gate, GATE_TIMEOUT):
            return
        if route.delay and owner._sleep(route.delay):
            return
        if route.redirect_to is not None and 300 <= status < 400:
            self._simple(entry, status, {"Location": route.redirect_to}, b"", route)
        elif 200 <= status < 300:
            if self._not_modified(route):
                headers = {"ETag": route.etag, "Last-Modified": route.last_modified}
                self._head(entry, HTTPStatus.NOT_MODIFIED, route, _present(headers))
                self.end_headers()
            else:
                self._body(entry, status, route)
        else:
            extra = {}
            if route.retry_after is not None and status in (429, 503):
                extra["Retry-After"] = route.retry_after
            self._simple(entry, status, extra, f"error {status}\n".encode(), route)

    def _not_modified(self, route: Route) -> bool:
        if_none_match = self.headers.get("If-None-Match")
        if if_none_match is not None:
            # RFC 9110: If-None-Match takes precedence over If-Modified-Since.
            if route.etag is None:
                return False
            tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
            return "*" in tags or route.etag.removeprefix("W/") in tags
        if_modified_since = self.headers.get("If-Modified-Since")
        return (
            route.last_modified is not None
            and if_modified_since is not None
            and if_modified_since.strip() == route.last_modified
        )

    def _head(
        self,
        entry: LoggedRequest,
        status: int,
        route: Route | None,
        extra: Mapping[str, str],
    ) -> None:
        entry.status = status
        self.send_response_only(status)
        headers: dict[str, str] = {"Server": self.server_version}
        if route is not None:
            headers.update(route.headers)
        headers.update(extra)
        if not any(name.lower() == "date" for name in headers):
            headers["Date"] = formatdate(usegmt=True)
        if not self.server.owner.keep_alive:
            headers["Connection"] = "close"
        for name, value in headers.items():
            self.send_header(name, value)

    def _simple(
        self,
        entry: LoggedRequest,
        status: int,
        extra: Mapping[str, str],
        body: bytes,
        route: Route | None = None,
    ) -> None:
        self._head(entry, status, route, {**extra, "Content-Length": str(len(body))})
        self.end_headers()
        self._write(entry, body)

    def _body(self, entry: LoggedRequest, status: int, route: Route) -> None:
        headers = {"Content-Type": route.content_type}
        headers.update(_present({"ETag": route.etag, "Last-Modified": route.last_modified}))
        if route.gzip:
            headers["Content-Encoding"] = "gzip"
        if route.generated_size is not None:
            chunks = _generated(route.generated_size, route.chunk_size)
            if route.gzip:
                chunks = _gzip_stream(chunks)
            length = route.generated_size if route.content_length and not route.gzip else None
        else:
            body = route.next_body()
            data = gzip_module.compress(body, mtime=0) if route.gzip else body
            chunks = _pieces(data, route.chunk_size)
            length = len(data) if route.content_length else None
        if length is None:
            headers["Transfer-Encoding"] = "chunked"
        else:
            headers["Content-Length"] = str(length)
        self._head(entry, status, route, headers)
        self.end_headers()
        owner = self.server.owner
        for index, chunk in enumerate(chunks):
            if index and route.chunk_delay and owner._sleep(route.chunk_delay):
                return
            if owner.stopping:
                return
            if length is None:
                self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            else:
                self.wfile.write(chunk)
            entry.bytes_sent += len(chunk)
        if length is None:
            self.wfile.write(b"0\r\n\r\n")

    def _write(self, entry: LoggedRequest, data: bytes) -> None:
        self.wfile.write(data)
        entry.bytes_sent += len(data)


def _present(headers: Mapping[str, str | None]) -> dict[str, str]:
    return {name: value for name, value in headers.items() if value is not None}


def _pieces(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def _generated(total: int, size: int) -> Iterator[bytes]:
    """``total`` bytes of a repeating feed-like line, ``size`` at a time, made lazily."""
    block = _PATTERN * (size // len(_PATTERN) + 1)
    sent = 0
    while sent < total:
        piece = block[: min(size, total - sent)]
        sent += len(piece)
        yield piece


def _gzip_stream(chunks: Iterator[bytes]) -> Iterator[bytes]:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: gzip container
    for chunk in chunks:
        out = compressor.compress(chunk)
        if out:
            yield out
    yield compressor.flush()


class FeedServer:
    """Loopback HTTP server with a programmable route table (see module docstring)."""

    def __init__(self) -> None:
        self.errors: list[BaseException] = []
        """Unexpected exceptions raised in handlers (client hang-ups excluded)."""
        self.keep_alive = False
        """Keep connections open between requests (HTTP/1.1 keep-alive); by default
        every response closes its connection."""
        self._routes: dict[str, Route] = {}
        self._requests: list[LoggedRequest] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._connections: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> Self:
        if self._server is not None:
            raise RuntimeError("FeedServer already started")
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="feed-server",
            daemon=True,
        )
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving, wake and disconnect every handler, join all threads."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stop.set()
        server.shutdown()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by its handler
                connection.shutdown(socket.SHUT_RDWR)
        server.server_close()  # joins handler threads
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    # -- configuration ---------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FeedServer is not started")
        return int(self._server.server_address[1])

    def url(self, path: str = "/", *, host: str = "127.0.0.1") -> str:
        """Absolute URL of ``path``; ``host="localhost"`` reaches the same server under
        a different host name (useful for per-host limits)."""
        return f"http://{host}:{self.port}{path}"

    def route(
        self,
        path: str,
        body: bytes = b"",
        *,
        status: int | Sequence[int] = 200,
        headers: Mapping[str, str] | None = None,
        content_type: str = "application/rss+xml; charset=utf-8",
        delay: float = 0.0,
        etag: str | None = None,
        last_modified: str | None = None,
        chunk_delay: float | None = None,
        chunk_size: int = 16_384,
        redirect_to: str | None = None,
        gzip: bool = False,
        generated_size: int | None = None,
        content_length: bool = True,
        retry_after: str | None = None,
        gate: threading.Event | None = None,
        bodies: Sequence[bytes] = (),
    ) -> Route:
        """Define (or replace) how ``path`` answers.

        * ``status``: one code, or a sequence answered in order per request, the last
          repeating (``[503, 503, 200]``). ``redirect_to`` defaults it to 302.
        * ``etag`` / ``last_modified``: sent with 2xx; a matching ``If-None-Match`` (or,
          without it, an equal ``If-Modified-Since``) gets 304.
        * ``retry_after``: the ``Retry-After`` value sent with 429 and 503 answers.
        * ``delay``: seconds before the status line; ``chunk_delay`` between body
          chunks of ``chunk_size`` bytes (a trickle). Both end early when the server
          closes; a trickle also ends when the client hangs up.
        * ``generated_size``: serve that many bytes made on the fly instead of
          ``body``; with ``gzip`` they are compressed on the fly (a gzip bomb).
        * ``content_length=False``: send the body chunked, without Content-Length.
        * ``bodies``: a body per successful answer, in order, the last repeating (a
          feed that changes on every fetch); replaces ``body``.
        * ``gate``: hold the request until the event is set (at most
          :data:`GATE_TIMEOUT` seconds, or until the server closes).
        * ``headers``: extra response headers (a ``Date`` here replaces the real one).
        """
        statuses = (status,) if isinstance(status, int) else tuple(status)
        if not statuses:
            raise ValueError("status sequence must not be empty")
        if redirect_to is not None and statuses == (200,):
            statuses = (302,)
        if chunk_size <= 0:
            raise ValueError("chunk_size must be positive")
        new = Route(
            path=path,
            body=body,
            statuses=statuses,
            headers=dict(headers or {}),
            content_type=content_type,
            delay=delay,
            etag=etag,
            last_modified=last_modified,
            chunk_delay=chunk_delay,
            chunk_size=chunk_size,
            redirect_to=redirect_to,
            gzip=gzip,
            generated_size=generated_size,
            content_length=content_length,
            retry_after=retry_after,
            gate=gate,
            bodies=tuple(bodies),
        )
        with self._lock:
            self._routes[path] = new
        return new

    # -- inspection ------------------------------------------------------------------

    @property
    def requests(self) -> list[LoggedRequest]:
        """A snapshot of every request received so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    def requests_for(self, path: str) -> list[LoggedRequest]:
        return [entry for entry in self.requests if entry.path == path]

    # -- used by handlers ------------------------------------------------------------

    def _find(self, path: str) -> Route | None:
        with self._lock:
            return self._routes.get(path) or self._routes.get(path.split("?", 1)[0])

    def _log(self, entry: LoggedRequest) -> None:
        with self._lock:
            self._requests.append(entry)

    def _track(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.add(connection)

    def _untrack(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.discard(connection)

    def _sleep(self, seconds: float) -> bool:
        """Wait up to ``seconds``; True when interrupted because the server is closing."""
        return self._stop.wait(seconds)

    def _wait_for(self, gate: threading.Event, limit: float) -> bool:
        """Wait for ``gate`` (bounded); False when the server closes or time runs out."""
        waited = 0.0
        while not gate.wait(0.02):
            waited += 0.02
            if self._stop.is_set() or waited >= limit:
                return False
        return True


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    """A started :class:`FeedServer`; fails the test if a handler raised unexpectedly."""
    with FeedServer() as server:
        yield server
    assert not server.errors, f"feed server handler errors: {server.errors!r}"
