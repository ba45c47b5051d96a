"""An httpx transport that sends requests with aiohttp.

httpx stays the fetch API (its client follows redirects, decodes gzip/deflate/br, keeps
cookies and raises its own exception types); only the wire work below the client —
connections, HTTP/1.1 framing, TLS — is aiohttp's, with its C parser and a connection
pool that does not scan itself on every request. A feed answering 304 costs the
fetcher ~0.23 ms of CPU this way against ~0.50 ms over httpx's own transport
(httpcore, h11, anyio; README, "Benchmarks").

Contract of :class:`AiohttpTransport` (what :class:`jobs.fetch.FeedFetcher` relies on):

* every failure is an :class:`httpx.TransportError` subclass chosen as httpx's own
  transport would choose it, never a bare aiohttp or :class:`TimeoutError`:
  :class:`httpx.ConnectTimeout` (connecting, DNS and TLS handshake included),
  :class:`httpx.ReadTimeout` (silence longer than the read timeout, while waiting for
  the headers or for the body), :class:`httpx.ConnectError` (refused, unresolvable,
  certificate rejected), :class:`httpx.ProxyError`, :class:`httpx.RemoteProtocolError`
  (broken HTTP, the server closing before the response or the body was complete),
  :class:`httpx.ReadError` / :class:`httpx.WriteError` (a connection reset or another
  socket error once connected), :class:`httpx.UnsupportedProtocol` (not http/https);
* the body is passed on as it arrives, still encoded, in pieces of at most 16 KiB:
  httpx decodes it, so a cap on the decoded size applies while streaming;
* a connection goes back to the pool only after its response was read to the end
  (a request's ``Connection: close`` asks the server to close it instead);
* no cookies, redirects or environment proxies of its own: httpx's client does those.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from typing import Final

import aiohttp
import httpx
from aiohttp.http_exceptions import HttpProcessingError
from yarl import URL

__all__ = ["AiohttpTransport"]

#: Headers the transport must not add on its own: what httpx built is what is sent
#: (an honest User-Agent, httpx's Accept-Encoding for the codings it can decode).
_NO_AUTO_HEADERS: Final = frozenset({"Accept", "Accept-Encoding", "User-Agent"})
#: httpcore reads a header block of up to 100 KiB; aiohttp's default line limit (8 KiB)
#: would refuse feeds that httpx fetched (long Set-Cookie or Content-Security-Policy).
_MAX_FIELD_SIZE: Final = 64 * 1024
#: Largest piece of the (still encoded) body handed to httpx at once. httpx inflates
#: each piece whole before the caller can check the decoded size, and deflate inflates
#: up to ~1,000-fold: 16 KiB bound a gzip bomb's step to ~16 MB (httpcore read 64 KiB).
_CHUNK_BYTES: Final = 16 * 1024
_HTTP_VERSIONS: Final[dict[tuple[int, ...], bytes]] = {(1, 1): b"HTTP/1.1", (1, 0): b"HTTP/1.0"}


class AiohttpTransport(httpx.AsyncBaseTransport):
    """Sends httpx requests over one :class:`aiohttp.ClientSession`.

    ``max_connections`` bounds the connections in use at once; idle ones are kept for
    ``keepalive_expiry`` seconds (httpx's default). The session is created on the
    first request (it belongs to the running event loop) and closed by
    :meth:`aclose`, which waits until every connection is closed.

    Timeouts come from the request's ``timeout`` extension as httpx sets it:
    ``connect`` bounds getting a connection (DNS, TCP and TLS handshake together),
    ``read`` the silence between two pieces of the response. There is no write
    timeout (requests here are small GETs) and no pool timeout apart from ``connect``.
    """

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext,
        max_connections: int,
        keepalive_expiry: float = 5.0,
    ) -> None:
        self._ssl_context = ssl_context
        self._max_connections = max_connections
        self._keepalive_expiry = keepalive_expiry
        self._session: aiohttp.ClientSession | None = None
        self._timeouts: dict[tuple[float | None, float | None], aiohttp.ClientTimeout] = {}

    def _open(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            ssl=self._ssl_context,
            limit=self._max_connections,
            limit_per_host=0,  # the caller bounds requests per host
            keepalive_timeout=self._keepalive_expiry,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,
            trust_env=False,
            skip_auto_headers=_NO_AUTO_HEADERS,
            max_field_size=_MAX_FIELD_SIZE,
            timeout=aiohttp.ClientTimeout(),
        )
        return self._session

    def _timeout(self, request: httpx.Request) -> aiohttp.ClientTimeout:
        given = request.extensions.get("timeout") or {}
        key = (given.get("connect"), given.get("read"))
        timeout = self._timeouts.get(key)
        if timeout is None:
            connect, read = key
            timeout = self._timeouts[key] = aiohttp.ClientTimeout(
                total=None, connect=connect, sock_connect=connect, sock_read=read
            )
        return timeout

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request``; the response's body streams from the connection."""
        url = request.url
        if url.scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(
                f"Request URL has an unsupported protocol '{url.scheme}://'.", request=request
            )
        session = self._session or self._open()
        body = await request.aread()
        target = URL(str(url), encoded=True)  # httpx has already encoded it
        if url.userinfo:
            # httpx has turned user:password@ into an Authorization header already.
            target = target.with_user(None)
        try:
            response = await session.request(
                request.method,
                target,
                # aiohttp writes header values as UTF-8: valid UTF-8 goes out unchanged.
                headers=[
                    (k.decode(), v.decode("utf-8", "replace")) for k, v in request.headers.raw
                ],
                data=body or None,
                allow_redirects=False,
                timeout=self._timeout(request),
                server_hostname=_sni_hostname(request),
            )
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise _httpx_error(exc, request, connected=False) from exc
        except ValueError as exc:
            # aiohttp refuses a header value with a line break (header injection).
            raise httpx.LocalProtocolError(str(exc), request=request) from exc
        version = response.version
        extensions: dict[str, object] = {
            "http_version": _HTTP_VERSIONS.get(tuple(version), b"HTTP/1.1")
            if version is not None
            else b"HTTP/1.1"
        }
        if response.reason:
            extensions["reason_phrase"] = response.reason.encode("ascii", "replace")
        return httpx.Response(
            response.status,
            headers=response.raw_headers,
            stream=_ResponseStream(response, request),
            extensions=extensions,
        )

    async def aclose(self) -> None:
        """Close the session and its connections (idempotent)."""
        session, self._session = self._session, None
        if session is not None:
            await session.close()


class _ResponseStream(httpx.AsyncByteStream):
    """The body as aiohttp receives it; failures become httpx's exceptions."""

    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._response = response
        self._request = request
        self._complete = False

    def __aiter__(self) -> AsyncIterator[bytes]:
        # An iterator object rather than an async generator: no generator hooks and
        # finalizer per response.
        return self

    async def __anext__(self) -> bytes:
        try:
            chunk = await self._response.content.read(_CHUNK_BYTES)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise _httpx_error(exc, self._request, connected=True) from exc
        if not chunk:
            self._complete = True
            raise StopAsyncIteration
        return chunk

    async def aclose(self) -> None:
        if self._complete:
            # Read to its end: the connection is clean and can serve the next request.
            self._response.release()
        else:
            # An unread rest or an error: the connection must not be reused.
            self._response.close()


def _sni_hostname(request: httpx.Request) -> str | None:
    value = request.extensions.get("sni_hostname")
    return value if isinstance(value, str) else None


_PAYLOAD_CUT: Final = "Response payload is not completed: "


def _lost_connection(exc: aiohttp.ClientPayloadError) -> str | None:
    """The connection's error (e.g. ``ConnectionResetError(104, ...)``) when the body
    broke off because the connection failed, ``None`` when the server closed it
    cleanly or framed the body wrongly.

    aiohttp says so only in the message: for a body cut short it is
    ``Response payload is not completed: <cause>``, followed by ``. <error>`` when the
    connection was lost with an error (tests/test_fetch_wire.py checks both).
    """
    cleanly = f"{_PAYLOAD_CUT}{exc.__cause__!r}"
    message = str(exc)
    if message.startswith(cleanly + ". "):
        return message[len(cleanly) + 2 :]
    return None


def _reason(exc: BaseException) -> str:
    """aiohttp's message for ``exc`` on one line, without the status code and URL that
    aiohttp adds to a response error (the fetcher names the URL itself)."""
    if isinstance(exc, aiohttp.ClientResponseError):
        text = exc.message
    elif isinstance(exc, aiohttp.ClientPayloadError) and isinstance(
        exc.__cause__, HttpProcessingError
    ):
        text = f"the body ended early: {exc.__cause__.message}"
    else:
        text = str(exc)
    return " ".join(text.split()) or type(exc).__name__


def _httpx_error(
    exc: BaseException, request: httpx.Request, *, connected: bool
) -> httpx.TransportError:
    """The httpx exception httpx's own transport would raise for ``exc``.

    ``connected`` says whether the response had started (errors while reading the
    body): a socket error then is a read error, before it (sending the request) a
    write error. aiohttp reports timeouts, proxy failures and the body's early end
    through subclasses of :class:`aiohttp.ClientError`, checked most specific first.
    """
    message = _reason(exc)
    kind: type[httpx.TransportError]
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        kind = httpx.ConnectTimeout
    elif isinstance(exc, TimeoutError):
        # SocketTimeoutError (sock_read), and any other timeout aiohttp raises: the only
        # other deadline is the caller's own, which arrives as a cancellation instead.
        kind = httpx.ReadTimeout
    elif isinstance(exc, aiohttp.ClientProxyConnectionError | aiohttp.ClientHttpProxyError):
        kind = httpx.ProxyError
    elif isinstance(exc, aiohttp.ClientConnectorError):
        # Refused, unreachable, DNS failure, TLS handshake or certificate rejected.
        kind = httpx.ConnectError
    elif isinstance(exc, aiohttp.ClientPayloadError):
        # The body ended early: by a reset (a network error) or by the server closing
        # or framing it wrongly (a protocol error), as httpx tells them apart.
        lost = _lost_connection(exc)
        kind = httpx.RemoteProtocolError if lost is None else httpx.ReadError
        if lost is not None:
            message = f"{message} ({lost})"
    elif isinstance(exc, aiohttp.ServerDisconnectedError):
        kind = httpx.RemoteProtocolError
        if not connected:
            message = "Server disconnected without sending a response."
    elif isinstance(exc, aiohttp.ClientResponseError):
        kind = httpx.RemoteProtocolError  # not valid HTTP
    elif isinstance(exc, aiohttp.InvalidURL):
        kind = httpx.UnsupportedProtocol
    elif isinstance(exc, OSError):
        # ClientOSError, ClientConnectionResetError, a raw socket or TLS error.
        kind = httpx.ReadError if connected else httpx.WriteError
    else:
        kind = httpx.NetworkError
    return kind(message, request=request)
