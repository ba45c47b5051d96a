"""The fetcher against servers that misbehave on the wire (raw sockets on loopback).

Each failure must come out as the fetcher's own precise reason: a connection reset in
the middle of a body is a network error, not a timeout; a body cut short by the server
is broken HTTP; a silent TLS handshake is a connect timeout; an untrusted certificate
is refused. Also: proxies from the environment, the connection given up after the last
request to a host, and tests' own transports.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import struct
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from jobs.fetch import FeedFetcher, FetchResult, FetchSettings, FetchStatus
from storage.records import Validators

#: Short real timeouts; no retries, so each test sees one attempt's outcome.
SETTINGS = FetchSettings(connect_timeout=0.5, read_timeout=0.5, total_timeout=5.0, retries=0)
BODY = b'<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title></channel></rss>'

Handler = Callable[[socket.socket], None]


class RawServer:
    """A loopback TCP server running ``handler`` on each accepted connection (in a
    thread); ``done`` is set once a handler returned. Closes everything on exit."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._stop = threading.Event()
        self.done = threading.Event()
        self.connections = 0
        self._threads: list[threading.Thread] = []
        self._accepting = threading.Thread(target=self._accept, daemon=True)

    @property
    def port(self) -> int:
        port: int = self._listener.getsockname()[1]
        return port

    def url(self, path: str = "/feed.xml", scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def _accept(self) -> None:
        self._listener.settimeout(0.05)
        while not self._stop.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            thread = threading.Thread(target=self._serve, args=(connection,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, connection: socket.socket) -> None:
        with connection:
            try:
                self._handler(connection)
            except OSError:
                pass  # the client went away: that is what some tests do
            finally:
                self.done.set()

    def wait(self, seconds: float) -> bool:
        """Bounded wait for the stop signal (handlers that stall use it)."""
        return self._stop.wait(seconds)

    def __enter__(self) -> RawServer:
        self._accepting.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._accepting.join(5)
        self._listener.close()
        for thread in self._threads:
            thread.join(5)


def read_request(connection: socket.socket) -> bytes:
    """Read one request head (GET has no body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        piece = connection.recv(65536)
        if not piece:
            break
        data += piece
    return data


def head(length: int | None = None, *extra: str, status: str = "200 OK") -> bytes:
    lines = [f"HTTP/1.1 {status}", "Content-Type: application/rss+xml", *extra]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def reset(connection: socket.socket) -> None:
    """Close with a TCP RST instead of a FIN (SO_LINGER with a zero timeout)."""
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def fetch(url: str, settings: FetchSettings = SETTINGS) -> FetchResult:
    async def run() -> FetchResult:
        async with FeedFetcher(settings) as fetcher:
            return await fetcher.fetch(url, Validators())

    return asyncio.run(run())


@pytest.fixture
def serve() -> Iterator[Callable[[Handler], RawServer]]:
    servers: list[RawServer] = []

    def start(handler: Handler) -> RawServer:
        server = RawServer(handler).__enter__()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.__exit__()


# -- the body breaks off -----------------------------------------------------------------


def test_a_connection_reset_in_the_middle_of_the_body_is_a_network_error(
    serve: Callable[[Handler], RawServer],
) -> None:
    def handler(connection: socket.socket) -> None:
        read_request(connection)
        connection.sendall(head(len(BODY)) + BODY[:20])
        reset(connection)

    result = fetch(serve(handler).url())

    assert (result.status, result.error_kind) == (FetchStatus.FAILED, "network")
    assert result.error is not None
    assert result.error.startswith("network error: the body ended early: ")
    assert "ConnectionResetError" in result.error


def test_a_body_shorter_than_its_length_is_broken_http(
    serve: Callable[[Handler], RawServer],
) -> None:
    def handler(connection: socket.socket) -> None:
        read_request(connection)
        connection.sendall(head(len(BODY)) + BODY[:20])
        connection.shutdown(socket.SHUT_WR)  # a clean close, 20 bytes into the body

    result = fetch(serve(handler).url())

    assert (result.status, result.error_kind) == (FetchStatus.FAILED, "protocol")
    assert result.error is not None
    assert result.error.startswith("broken HTTP response: ")


def test_broken_chunked_framing_is_broken_http(serve: Callable[[Handler], RawServer]) -> None:
    def handler(connection: socket.socket) -> None:
        read_request(connection)
        connection.sendall(head(None, "Transfer-Encoding: chunked") + b"zz\r\nnot a chunk\r\n")
        connection.shutdown(socket.SHUT_WR)

    result = fetch(serve(handler).url())

    assert (result.status, result.error_kind) == (FetchStatus.FAILED, "protocol")


def test_a_stall_in_the_middle_of_the_body_hits_the_read_timeout(
    serve: Callable[[Handler], RawServer],
) -> None:
    def handler(connection: socket.socket) -> None:
        read_request(connection)
        connection.sendall(head(len(BODY)) + BODY[:20])
        server.wait(5)

    server = serve(handler)
    result = fetch(server.url())

    assert (result.status, result.error_kind) == (FetchStatus.FAILED, "timeout")
    assert result.error == "timed out after 0.5 s waiting for data"


# -- no response at all ------------------------------------------------------------------


def test_a_server_closing_without_an_answer_is_broken_http(
    serve: Callable[[Handler], RawServer],
) -> None:
    def handler(connection: socket.socket) -> None:
        read_request(connection)

    result = fetch(serve(handler).url())

    assert (result.status, result.error_kind) == (FetchStatus.FAILED, "protocol")
    assert result.error == "broken HTTP response: Server disconnected without sending a response."


def test_an_answer_that_is_not_http_is_broken_http(serve: Callable[[Handler], RawServer]) -> None:
    def handler(connection: socket.socket) -> None:
        read_request(connection)
        connection.sendall(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")

    result = fetch(serve(handler).url())

    assert (result.status, result.error_kind) == (FetchStatus.FAILED, "protocol")


def test_a_silent_tls_handshake_hits_the_connect_timeout(
    serve: Callable[[Handler], RawServer],
) -> None:
    def handler(connection: socket.socket) -> None:
        server.wait(5)  # accepts the TCP connection, never answers the ClientHello

    server = serve(handler)
    result = fetch(server.url(scheme="https"))

    assert (result.status, result.error_kind) == (FetchStatus.FAILED, "timeout")
    assert result.error == "timed out after 0.5 s connecting"


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 that no CA signed (made with the openssl tool)."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    command = [
        "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
        "-keyout", str(key), "-out", str(cert),
    ]  # fmt: skip
    try:
        subprocess.run(command, check=True, capture_output=True, timeout=60)
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"cannot make a test certificate with openssl: {exc}")
    return cert, key


def test_an_untrusted_certificate_is_refused(
    serve: Callable[[Handler], RawServer], self_signed: tuple[Path, Path]
) -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*self_signed)

    def handler(connection: socket.socket) -> None:
        try:
            with context.wrap_socket(connection, server_side=True) as tls:
                read_request(tls)
                tls.sendall(head(len(BODY)) + BODY)
        except ssl.SSLError:
            pass  # the client rejects the certificate: expected

    result = fetch(serve(handler).url(scheme="https"))

    assert (result.status, result.error_kind) == (FetchStatus.FAILED, "connect")
    assert result.error is not None
    assert "CERTIFICATE_VERIFY_FAILED" in result.error


# -- connections ---------------------------------------------------------------------------


def test_the_last_request_to_a_host_asks_to_close_the_connection(
    serve: Callable[[Handler], RawServer],
) -> None:
    requests: list[bytes] = []

    def handler(connection: socket.socket) -> None:
        # An HTTP/1.1 server keeps the connection unless the request asks to close it.
        while request := read_request(connection):
            requests.append(request.lower())
            connection.sendall(head(len(BODY)) + BODY)
            if b"connection: close" in request.lower():
                return

    server = serve(handler)

    async def run() -> list[FetchResult]:
        async with FeedFetcher(replace(SETTINGS, max_per_host=1)) as fetcher:
            fetches = [fetcher.fetch(server.url(f"/{n}.xml"), Validators()) for n in range(3)]
            return await asyncio.gather(*fetches)

    results = asyncio.run(run())

    assert [result.status for result in results] == [FetchStatus.FETCHED] * 3
    assert server.connections == 1  # one connection served the three feeds of the host
    closing = [b"connection: close" in request for request in requests]
    assert closing == [False, False, True]  # no idle connection is left behind


def test_a_proxy_from_the_environment_is_used_when_trusted(
    serve: Callable[[Handler], RawServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[bytes] = []

    def proxy(connection: socket.socket) -> None:
        seen.append(read_request(connection).split(b"\r\n", 1)[0])
        connection.sendall(head(len(BODY), "Connection: close") + BODY)

    server = serve(proxy)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{server.port}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)

    trusted = fetch("http://feeds.example.kz/rss.xml", replace(SETTINGS, trust_env=True))

    assert trusted.status is FetchStatus.FETCHED
    assert seen == [b"GET http://feeds.example.kz/rss.xml HTTP/1.1"]


def test_a_transport_given_by_the_caller_replaces_the_network() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=BODY, headers={"ETag": '"mock"'})

    async def run() -> FetchResult:
        transport = httpx.MockTransport(answer)
        async with FeedFetcher(SETTINGS, transport=transport) as fetcher:
            return await fetcher.fetch("https://feeds.example.kz/rss.xml", Validators())

    result = asyncio.run(run())

    assert (result.status, result.body) == (FetchStatus.FETCHED, BODY)
    assert result.validators is not None
    assert result.validators.etag == '"mock"'


# -- odd headers -------------------------------------------------------------------------


def test_a_long_response_header_is_accepted(serve: Callable[[Handler], RawServer]) -> None:
    policy = "Content-Security-Policy: " + "; ".join(f"img-src s{n}.example.kz" for n in range(900))

    def handler(connection: socket.socket) -> None:
        read_request(connection)
        connection.sendall(head(len(BODY), policy) + BODY)

    result = fetch(serve(handler).url())

    assert len(policy) > 16_000
    assert (result.status, result.body) == (FetchStatus.FETCHED, BODY)


def test_an_etag_that_is_not_ascii_is_sent_back_as_it_came(
    serve: Callable[[Handler], RawServer],
) -> None:
    etag = '"\u00e9t\u00e9-\u043b\u0435\u0442\u043e"'.encode()  # UTF-8 on the wire
    received: list[bytes] = []

    def handler(connection: socket.socket) -> None:
        while request := read_request(connection):
            received.append(request)
            if b"if-none-match: " + etag + b"\r\n" in request.lower():
                connection.sendall(b"HTTP/1.1 304 Not Modified\r\nContent-Length: 0\r\n\r\n")
            else:
                extra = b"ETag: " + etag + b"\r\n\r\n"
                connection.sendall(head(len(BODY)).replace(b"\r\n\r\n", b"\r\n" + extra) + BODY)

    server = serve(handler)

    async def run() -> tuple[FetchResult, FetchResult]:
        async with FeedFetcher(SETTINGS) as fetcher:
            first = await fetcher.fetch(server.url(), Validators())
            again = await fetcher.fetch(server.url(), first.validators or Validators())
        return first, again

    first, again = asyncio.run(run())

    assert first.validators is not None
    assert first.validators.etag == etag.decode()
    assert again.status is FetchStatus.NOT_MODIFIED
