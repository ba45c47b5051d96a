"""Polite, bounded HTTP fetching of feeds.

:class:`FeedFetcher` downloads one feed URL per :meth:`FeedFetcher.fetch` call and turns
every network, HTTP and content problem into a :class:`FetchResult` value: it never
raises for a broken feed, only for misuse (calling it outside ``async with``).

What it promises:

* conditional GET from the stored :class:`~storage.records.Validators` (``If-None-Match``,
  ``If-Modified-Since``), and :attr:`FetchStatus.UNCHANGED` for a 200 whose body is
  byte-identical to the last one parsed, so the caller can skip parsing;
* bounded work per feed: connect and read timeouts, a total deadline on the network
  time of the whole fetch (all attempts together), a cap on the *decoded* body
  size checked while streaming (a gzip bomb stops at the cap), a redirect limit;
* bounded concurrency: at most ``max_per_host`` requests to one host and
  ``max_connections`` overall, so a slow host only ever occupies its own slots;
  a connection is kept for the next fetch of its host, and the last fetch of a host
  asks for ``Connection: close``, so no idle connections pile up;
* retries with exponential backoff for transient failures (timeouts, connection and
  protocol errors, 5xx, 408, 429), honouring ``Retry-After`` up to ``max_retry_after``;
  a longer ``Retry-After`` is not waited for: the result carries it so the scheduler
  postpones the feed instead;
* what the outlet says about freshness: a success carries how long its response
  declared itself current (:func:`parse_freshness`), for the scheduler;
* no secrets in messages: URL user-info (``user:pass@``) never appears in errors or in
  :attr:`FetchResult.final_url`.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import math
import re
import ssl
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum
from http import HTTPStatus
from http.cookiejar import CookieJar
from types import TracebackType
from typing import Any, Self

import httpx

from jobs.aiohttp_transport import AiohttpTransport
from storage.records import Validators

__all__ = [
    "ACCEPT",
    "DEFAULT_USER_AGENT",
    "FeedFetcher",
    "FetchErrorKind",
    "FetchResult",
    "FetchSettings",
    "FetchStatus",
    "load_certificates",
    "parse_freshness",
    "parse_retry_after",
    "redact_url",
]

DEFAULT_USER_AGENT = (
    "SteppeDigest/0.1 (+https://github.com/steppe-digest/steppe-digest; RSS collector)"
)
#: Feed types first; anything else is still accepted because many sites serve feeds
#: as ``text/html`` or ``application/octet-stream``.
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.8"
)
#: Upper bound on any ``Retry-After`` we report: keeps absurd values finite and sane.
RETRY_AFTER_CEILING = 7 * 24 * 3600.0

_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d+)", re.IGNORECASE)
_NO_CACHE = re.compile(r"(?:^|,)\s*no-(?:cache|store)\b", re.IGNORECASE)
_RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
_USERINFO = re.compile(r"(?<=://)[^/?#@\s]*@")
#: Host names (IDNA already applied by httpx), IPv4 and bracket-less IPv6 literals.
_HOST = re.compile(r"[A-Za-z0-9_.-]+|[0-9A-Fa-f:.]+")


@dataclass(frozen=True)
class FetchSettings:
    """Limits and manners of the fetcher. Durations are in seconds."""

    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    """Longest silence between two received pieces of data."""
    total_timeout: float = 120.0
    """Hard deadline on one feed's network time, all attempts together, so a server
    trickling one byte a second cannot hold a feed (or a run) beyond it. The waits
    between retries are bounded apart (``backoff_base``, ``max_retry_after``)."""
    max_body_bytes: int = 10_000_000
    """Cap on the decoded body (after gzip/deflate)."""
    max_redirects: int = 5
    user_agent: str = DEFAULT_USER_AGENT
    max_connections: int = 16
    """Concurrent requests overall."""
    max_per_host: int = 2
    """Concurrent requests to one host (``host:port``)."""
    retries: int = 2
    """Extra attempts after the first for transient failures."""
    backoff_base: float = 1.0
    """Delay before the first retry; doubled for each further retry."""
    max_retry_after: float = 60.0
    """Longest ``Retry-After`` waited for within a run; longer ones end the fetch."""
    trust_env: bool = False
    """Read proxy settings (``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY``,
    ``NO_PROXY``) and the CA bundle (``SSL_CERT_FILE``, ``SSL_CERT_DIR``) from the
    environment, as httpx does. Off by default so nothing is sent through a proxy by
    surprise. (httpx 0.28 no longer reads ``.netrc``.)"""

    def __post_init__(self) -> None:
        positive = {
            "connect_timeout": self.connect_timeout,
            "read_timeout": self.read_timeout,
            "total_timeout": self.total_timeout,
            "max_body_bytes": self.max_body_bytes,
            "max_connections": self.max_connections,
            "max_per_host": self.max_per_host,
        }
        for name, value in positive.items():
            if not value > 0:
                raise ValueError(f"FetchSettings.{name} must be positive, got {value!r}")
        non_negative = {
            "max_redirects": self.max_redirects,
            "retries": self.retries,
            "backoff_base": self.backoff_base,
            "max_retry_after": self.max_retry_after,
        }
        for name, value in non_negative.items():
            if not value >= 0:
                raise ValueError(f"FetchSettings.{name} must not be negative, got {value!r}")


class FetchStatus(StrEnum):
    """What one fetch produced."""

    FETCHED = "fetched"
    """A 2xx with a new body: parse :attr:`FetchResult.body`."""
    NOT_MODIFIED = "not_modified"
    """The server answered 304 to the conditional GET."""
    UNCHANGED = "unchanged"
    """A 2xx whose body is byte-identical to the last one parsed: skip parsing."""
    FAILED = "failed"
    """See :attr:`FetchResult.error_kind` and :attr:`FetchResult.error`."""


class FetchErrorKind(StrEnum):
    """Short stable codes for :attr:`FetchResult.error_kind` (plain strings)."""

    TIMEOUT = "timeout"
    CONNECT = "connect"
    NETWORK = "network"
    """The connection broke after it was established."""
    PROTOCOL = "protocol"
    """The server spoke broken HTTP."""
    HTTP_STATUS = "http_status"
    RATE_LIMITED = "rate_limited"
    """HTTP 429."""
    TOO_LARGE = "too_large"
    TOO_MANY_REDIRECTS = "too_many_redirects"
    INVALID_URL = "invalid_url"
    DECODING = "decoding"
    """The body's Content-Encoding could not be decoded."""


@dataclass(frozen=True)
class FetchResult:
    """The outcome of :meth:`FeedFetcher.fetch` (all attempts included)."""

    url: str
    """The URL as requested (what the caller passed in)."""
    final_url: str
    """Where the last response came from after redirects, without user-info."""
    status: FetchStatus
    body: bytes | None
    """The decoded body; only for :attr:`FetchStatus.FETCHED`."""
    content_type: str | None
    validators: Validators | None
    """After a 2xx: the response's ETag/Last-Modified and the body's SHA-256. After a
    304: the previous validators (with ETag/Last-Modified refreshed if the 304 carried
    them). ``None`` after a failure: keep the stored ones."""
    http_status: int | None
    """Status code of the last response, ``None`` when none arrived."""
    error_kind: str | None
    """One of :class:`FetchErrorKind` when :attr:`status` is FAILED, else ``None``."""
    error: str | None
    """Human-readable reason, e.g. ``"HTTP 404 Not Found"``; free of URL secrets."""
    retry_after: float | None
    """Seconds the server asked us to wait (429/503), for the scheduler to honour."""
    attempts: int
    """Requests made, retries included (0 when the URL was refused up front)."""
    fresh_for: float | None = None
    """After a success (200 or 304): seconds the response declared itself current
    (:func:`parse_freshness`); ``None`` when it declared nothing."""
    moved_to: str | None = None
    """After a success: where the feed lives now when it was reached only through
    permanent redirects (301, 308), which ask for the address to be updated; ``None``
    without redirects, or when any of them was temporary."""

    @property
    def ok(self) -> bool:
        """True unless the fetch failed (a 304 and an unchanged body are fine)."""
        return self.status is not FetchStatus.FAILED


def redact_url(url: str) -> str:
    """Return ``url`` (or any text holding URLs) with ``user:pass@`` removed."""
    return _USERINFO.sub("", url) if "@" in url else url


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait according to a ``Retry-After`` header value, or ``None``.

    Accepts delta-seconds (``"120"``) and an HTTP date, which is measured from ``now``
    (the response's ``Date`` when it has one). A date in the past means 0. Values are
    capped at :data:`RETRY_AFTER_CEILING`; unreadable values give ``None``.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text.isascii() and text.isdigit():
        # Compare as text length first: int() of a huge digit string is wasted work.
        if len(text) > 12:
            return RETRY_AFTER_CEILING
        return min(float(int(text)), RETRY_AFTER_CEILING)
    when = _http_date(text)
    if when is None:
        return None
    seconds = (when - now).total_seconds()
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), RETRY_AFTER_CEILING)


def parse_freshness(
    *,
    cache_control: str | None,
    age: str | None,
    expires: str | None,
    date: datetime,
) -> float | None:
    """Seconds a response declares itself current, from its caching headers, or
    ``None`` when it declares nothing.

    ``Cache-Control: max-age`` (less the response's ``Age``) wins over ``Expires``,
    which is measured from ``date`` (the response's ``Date``, else the time it
    arrived), as RFC 9111 computes freshness. ``no-cache`` or ``no-store`` mean the
    server wants to be asked every time: ``None``. An unreadable or past ``Expires``
    gives 0. Values are capped at :data:`RETRY_AFTER_CEILING`.
    """
    if cache_control:
        if _NO_CACHE.search(cache_control):
            return None
        match = _MAX_AGE.search(cache_control)
        if match is not None:
            digits = match.group(1)
            if len(digits) > 12:  # int() of a huge digit string is wasted work
                return RETRY_AFTER_CEILING
            seconds = float(int(digits))
            if age is not None:
                text = age.strip()
                if text.isascii() and text.isdigit() and len(text) <= 12:
                    seconds -= int(text)
            return min(max(seconds, 0.0), RETRY_AFTER_CEILING)
    if expires is None:
        return None
    when = _http_date(expires.strip())
    if when is None:
        return 0.0  # RFC 9111: an invalid Expires (such as "0") is in the past
    seconds = (when - date).total_seconds()
    if not math.isfinite(seconds):
        return 0.0
    return min(max(seconds, 0.0), RETRY_AFTER_CEILING)


@functools.cache
def _tls_context(trust_env: bool) -> ssl.SSLContext:
    """The certificate-verifying TLS context, built once per process (per ``trust_env``,
    which lets ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` choose the CA bundle, as httpx does).

    Loading the CA bundle takes ~35 ms; a client per collection run must not pay it
    each time (that alone was a third of a run in which every feed answered 304).
    Certificates are still always verified.
    """
    return httpx.create_ssl_context(trust_env=trust_env)


def load_certificates(settings: FetchSettings) -> None:
    """Build the TLS context fetchers with ``settings`` use, now: a service calls it at
    start-up, so that its first collection does not wait for the CA bundle."""
    _tls_context(settings.trust_env)


def _environment_proxies() -> bool:
    """Whether the environment names a proxy for http(s) as httpx reads it with
    ``trust_env`` (``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY``; ``NO_PROXY=*`` turns
    them all off).

    The aiohttp transport has no proxy support of its own (aiohttp lacks SOCKS, ALL_PROXY
    and httpx's NO_PROXY patterns): with a proxy configured the fetcher keeps httpx's
    own transport, which does all of it exactly as before.
    """
    found = urllib.request.getproxies()
    if any(host.strip() == "*" for host in found.get("no", "").split(",")):
        return False
    return any(found.get(scheme) for scheme in ("http", "https", "all"))


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _seconds(value: float) -> str:
    return f"{value:g} s"


class _FeedCookies(httpx.Cookies):
    """httpx's cookie store, skipping responses that set no cookie.

    httpx hands every response to :mod:`http.cookiejar` through two urllib adapter
    objects, a tenth of a millisecond a response; nearly no feed sets a cookie.
    """

    def extract_cookies(self, response: httpx.Response) -> None:
        headers = response.headers
        if "set-cookie" in headers or "set-cookie2" in headers:
            super().extract_cookies(response)


class _FeedClient(httpx.AsyncClient):
    """:class:`httpx.AsyncClient` with :class:`_FeedCookies` as its cookie store.

    Cookies still live for the fetcher's session, so a site that sets one and
    redirects (a common bot check) gets it back, as with a plain client.
    """

    def __init__(self, **kwargs: Any) -> None:
        self._feed_cookies = _FeedCookies()
        super().__init__(**kwargs)

    @property
    def cookies(self) -> httpx.Cookies:
        return self._feed_cookies

    @cookies.setter
    def cookies(
        self, cookies: httpx.Cookies | CookieJar | dict[str, str] | list[tuple[str, str]]
    ) -> None:
        self._feed_cookies = _FeedCookies(cookies)


@dataclass(frozen=True)
class _Outcome:
    result: FetchResult
    retryable: bool


class _BodyTooLargeError(Exception):
    """Internal: the decoded body passed the cap while streaming."""


class FeedFetcher:
    """Fetches feeds with one httpx client; use as ``async with``.

    The client's requests go through :class:`~jobs.aiohttp_transport.AiohttpTransport`
    (aiohttp's connection pool and C parser), except where ``trust_env`` finds a
    proxy in the environment: then httpx's own transport is used, proxies and all
    (see :func:`_environment_proxies`).

    ``sleep`` is awaited for every backoff and ``Retry-After`` wait (inject a fake in
    tests); ``transport`` replaces the network (e.g. ``httpx.MockTransport``); ``clock``
    gives the current UTC time for ``Retry-After`` dates when a response has no
    ``Date`` header.
    """

    def __init__(
        self,
        settings: FetchSettings,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.settings = settings
        self._sleep = sleep
        self._transport = transport
        self._clock = clock
        self._client: httpx.AsyncClient | None = None
        self._overall = asyncio.Semaphore(settings.max_connections)
        self._per_host: dict[str, asyncio.Semaphore] = {}
        #: Fetches under way per host (queued, running or waiting to retry): the last
        #: one does not keep its connection, no request to that host follows it.
        self._host_fetches: dict[str, int] = {}

    async def __aenter__(self) -> Self:
        if self._client is not None:
            raise RuntimeError("FeedFetcher is already open")
        s = self.settings
        transport = self._transport
        if transport is None and not (s.trust_env and _environment_proxies()):
            transport = AiohttpTransport(
                ssl_context=_tls_context(s.trust_env), max_connections=s.max_connections
            )
        self._client = _FeedClient(
            transport=transport,
            # Used by httpx's own transports: the proxy ones, or all of them when a
            # proxy is configured (transport=None).
            verify=_tls_context(s.trust_env),
            limits=httpx.Limits(
                max_connections=s.max_connections, max_keepalive_connections=s.max_connections
            ),
            timeout=httpx.Timeout(
                connect=s.connect_timeout,
                read=s.read_timeout,
                write=s.read_timeout,
                # The fetcher's slots leave a connection free for every request; the
                # wait still must not be unbounded.
                pool=s.connect_timeout,
            ),
            follow_redirects=True,
            max_redirects=s.max_redirects,
            headers={"User-Agent": s.user_agent, "Accept": ACCEPT},
            trust_env=s.trust_env,
        )
        # Fresh per session: an asyncio.Semaphore must not outlive its event loop.
        self._overall = asyncio.Semaphore(s.max_connections)
        self._per_host = {}
        self._host_fetches = {}
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()  # closes the transport and its connections too

    async def fetch(self, url: str, validators: Validators) -> FetchResult:
        """Fetch ``url`` conditionally on ``validators``; never raises for bad feeds.

        Transient failures are retried up to ``settings.retries`` times, sleeping
        ``backoff_base * 2**k`` (k = 0, 1, ...) or the server's ``Retry-After`` when
        that is longer. Raises :class:`RuntimeError` only when used outside
        ``async with``.
        """
        client = self._client
        if client is None:
            raise RuntimeError("use FeedFetcher as 'async with FeedFetcher(...) as f'")
        target = _checked_url(url)
        if isinstance(target, str):
            return _failure(url, redact_url(url), FetchErrorKind.INVALID_URL, target, attempts=0)

        host = f"{target.host}:{target.port or ''}"
        fetches = self._host_fetches
        fetches[host] = fetches.get(host, 0) + 1
        try:
            if fetches[host] == 1:
                # Let fetches started together with this one (a run's tasks) count
                # themselves before it decides whether to keep its connection.
                await asyncio.sleep(0)
            return await self._fetch(client, url, target, host, validators)
        finally:
            if fetches[host] == 1:
                del fetches[host]
            else:
                fetches[host] -= 1

    async def _fetch(
        self,
        client: httpx.AsyncClient,
        url: str,
        target: httpx.URL,
        host: str,
        validators: Validators,
    ) -> FetchResult:
        settings = self.settings
        loop = asyncio.get_running_loop()
        deadline: float | None = None
        attempt = 0
        while True:
            attempt += 1
            host_slots = self._per_host.get(host)
            if host_slots is None:
                host_slots = self._per_host[host] = asyncio.Semaphore(settings.max_per_host)
            # The host slot is taken first: a request queued behind a busy host must not
            # sit on one of the overall slots that other hosts could use meanwhile.
            async with host_slots, self._overall:
                # The deadline starts when the first attempt gets its slots: time spent
                # queued behind other feeds of the same host is not this feed's fault.
                if deadline is None:
                    deadline = loop.time() + settings.total_timeout
                remaining = max(deadline - loop.time(), 0.0)
                # Keep the connection only when another fetch for this host is under
                # way; else the request says "Connection: close", so idle connections
                # stay few however many hosts a run visits.
                keep_alive = self._host_fetches[host] > 1
                outcome = await self._attempt(
                    client, url, target, validators, remaining, keep_alive=keep_alive
                )
            result = outcome.result
            if attempt > 1:
                result = replace(result, attempts=attempt)
            if not outcome.retryable or attempt > settings.retries:
                return result
            delay = settings.backoff_base * 2 ** (attempt - 1)
            if result.retry_after is not None:
                if result.retry_after > settings.max_retry_after:
                    # Waiting that long would stall the run: let the scheduler postpone.
                    return result
                delay = max(delay, result.retry_after)
            if deadline - loop.time() <= 0:
                return result  # the network time is spent: no attempt is left
            # The slots are released while we wait, so other feeds can use them. The wait
            # is bounded by itself (backoff, max_retry_after) and not counted.
            waited_from = loop.time()
            await self._sleep(delay)
            deadline += loop.time() - waited_from

    async def _attempt(
        self,
        client: httpx.AsyncClient,
        url: str,
        target: httpx.URL,
        validators: Validators,
        remaining: float,
        *,
        keep_alive: bool,
    ) -> _Outcome:
        settings = self.settings
        headers: dict[bytes, bytes] = {}
        if validators.etag:
            headers[b"If-None-Match"] = _header_bytes(validators.etag)
        if validators.last_modified:
            headers[b"If-Modified-Since"] = _header_bytes(validators.last_modified)
        if not keep_alive:
            headers[b"Connection"] = b"close"
        shown = redact_url(str(target))
        try:
            async with asyncio.timeout(remaining):
                async with client.stream("GET", target, headers=headers) as response:
                    return await self._read(response, url, validators)
        except TimeoutError:
            # The feed's whole deadline is spent: there is no time for a retry.
            message = f"did not finish within {_seconds(settings.total_timeout)}"
            return _final(url, shown, FetchErrorKind.TIMEOUT, message)
        except httpx.ConnectTimeout:
            message = f"timed out after {_seconds(settings.connect_timeout)} connecting"
            return _retryable(url, shown, FetchErrorKind.TIMEOUT, message)
        except httpx.ReadTimeout:
            message = f"timed out after {_seconds(settings.read_timeout)} waiting for data"
            return _retryable(url, shown, FetchErrorKind.TIMEOUT, message)
        except httpx.TimeoutException as exc:
            message = f"timed out ({type(exc).__name__})"
            return _retryable(url, shown, FetchErrorKind.TIMEOUT, message)
        except httpx.TooManyRedirects as exc:
            last = redact_url(str(exc.request.url))
            message = f"more than {settings.max_redirects} redirects"
            return _final(url, last, FetchErrorKind.TOO_MANY_REDIRECTS, message)
        except httpx.UnsupportedProtocol as exc:
            last = redact_url(str(exc.request.url))
            message = f"redirected to a URL that is not http(s): {_ellipsis(last)}"
            return _final(url, last, FetchErrorKind.INVALID_URL, message)
        except httpx.InvalidURL as exc:
            message = f"redirected to an invalid URL: {redact_url(str(exc))}"
            return _final(url, shown, FetchErrorKind.INVALID_URL, message)
        except httpx.ConnectError as exc:
            message = f"cannot connect: {_describe(exc)}"
            return _retryable(url, shown, FetchErrorKind.CONNECT, message)
        except httpx.DecodingError as exc:
            message = f"cannot decode the body: {_describe(exc)}"
            return _final(url, shown, FetchErrorKind.DECODING, message)
        except httpx.ProtocolError as exc:
            message = f"broken HTTP response: {_describe(exc)}"
            return _retryable(url, shown, FetchErrorKind.PROTOCOL, message)
        except (httpx.TransportError, OSError) as exc:
            # Connection reset mid-body, proxy trouble, TLS alerts...: worth a retry.
            message = f"network error: {_describe(exc)}"
            return _retryable(url, shown, FetchErrorKind.NETWORK, message)

    async def _read(self, response: httpx.Response, url: str, validators: Validators) -> _Outcome:
        settings = self.settings
        final_url = redact_url(str(response.url))
        code = response.status_code
        content_type = response.headers.get("content-type")
        etag = response.headers.get("etag")
        last_modified = response.headers.get("last-modified")

        if code == HTTPStatus.NOT_MODIFIED:
            # A 304 has no body, but the connection goes back to the pool only once the
            # response has been read to its end: without this every 304 closed its
            # connection and the next feed paid for a new one.
            await _drain(response)
            fresh_for = self._freshness(response)
            kept = Validators(
                etag=etag or validators.etag,
                last_modified=last_modified or validators.last_modified,
                body_sha256=validators.body_sha256,
            )
            return _Outcome(
                _success(
                    url,
                    final_url,
                    FetchStatus.NOT_MODIFIED,
                    code=code,
                    content_type=content_type,
                    validators=kept,
                    fresh_for=fresh_for,
                    moved_to=_moved_to(response, final_url),
                ),
                False,
            )

        if not 200 <= code < 300:
            return self._status_failure(response, url, final_url)

        declared = _content_length(response)
        if declared is not None and declared > settings.max_body_bytes:
            # Refuse before downloading anything; with Content-Encoding the length is
            # of the compressed bytes, so the decoded body would be larger still.
            return _too_large(url, final_url, code, settings.max_body_bytes)
        try:
            body = await _read_capped(response, settings.max_body_bytes)
        except _BodyTooLargeError:
            return _too_large(url, final_url, code, settings.max_body_bytes)

        digest = hashlib.sha256(body).hexdigest()
        fresh = Validators(etag=etag, last_modified=last_modified, body_sha256=digest)
        fresh_for = self._freshness(response)
        moved_to = _moved_to(response, final_url)
        if digest == validators.body_sha256:
            result = _success(
                url,
                final_url,
                FetchStatus.UNCHANGED,
                code=code,
                content_type=content_type,
                validators=fresh,
                fresh_for=fresh_for,
                moved_to=moved_to,
            )
        else:
            result = _success(
                url,
                final_url,
                FetchStatus.FETCHED,
                code=code,
                content_type=content_type,
                validators=fresh,
                body=body,
                fresh_for=fresh_for,
                moved_to=moved_to,
            )
        return _Outcome(result, False)

    def _freshness(self, response: httpx.Response) -> float | None:
        """:func:`parse_freshness` of ``response``'s headers."""
        headers = response.headers
        cache_control = headers.get("cache-control")
        expires = headers.get("expires")
        if cache_control is None and expires is None:
            return None  # most feeds: two lookups and done
        return parse_freshness(
            cache_control=cache_control,
            age=headers.get("age"),
            expires=expires,
            date=_response_date(response) or self._clock(),
        )

    def _status_failure(self, response: httpx.Response, url: str, final_url: str) -> _Outcome:
        code = response.status_code
        reason = response.reason_phrase or _standard_reason(code)
        message = f"HTTP {code} {reason}".rstrip()
        retry_after: float | None = None
        if code in (HTTPStatus.TOO_MANY_REQUESTS, HTTPStatus.SERVICE_UNAVAILABLE):
            now = _response_date(response) or self._clock()
            retry_after = parse_retry_after(response.headers.get("retry-after"), now)
            if retry_after is not None:
                message += f" (retry after {_seconds(retry_after)})"
        kind = (
            FetchErrorKind.RATE_LIMITED
            if code == HTTPStatus.TOO_MANY_REQUESTS
            else FetchErrorKind.HTTP_STATUS
        )
        result = replace(
            _failure(url, final_url, kind, message, attempts=1),
            http_status=code,
            content_type=response.headers.get("content-type"),
            retry_after=retry_after,
        )
        return _Outcome(result, code in _RETRYABLE_STATUSES)


async def _drain(response: httpx.Response) -> None:
    """Read a 304 to its end (HTTP gives it no body, so this returns at once)."""
    try:
        async for _ in response.aiter_raw():
            pass
    except httpx.HTTPError:
        pass  # only a courtesy to the pool: the outcome is already known


async def _read_capped(response: httpx.Response, limit: int) -> bytes:
    """Read the decoded body, raising :class:`_BodyTooLargeError` past ``limit`` bytes.

    The cap is on decoded bytes, so a small compressed body that inflates enormously
    stops here after one network chunk's worth of inflation.
    """
    parts: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise _BodyTooLargeError
        parts.append(chunk)
    return b"".join(parts)


@functools.lru_cache(maxsize=4096)
def _checked_url(url: str) -> httpx.URL | str:
    """The parsed URL when it is fetchable, else a message saying why not.

    Cached: a feed's URL is the same from run to run, and parsing it (an
    ``ipaddress`` check of the host among others) costs more than its 304 does.
    """
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        return f"invalid URL: {redact_url(str(exc))}"
    if parsed.scheme not in ("http", "https"):
        scheme = parsed.scheme or "none"
        return f"only http and https URLs can be fetched (scheme: {_ellipsis(scheme)})"
    if not parsed.host:
        return "invalid URL: no host"
    if not _HOST.fullmatch(parsed.raw_host.decode("ascii", "replace")):
        # httpx percent-encodes a host like "exa mple.kz" instead of refusing it.
        return "invalid URL: malformed host name"
    return parsed


def _header_bytes(value: str) -> bytes:
    """A validator as sent back. httpx refuses a ``str`` header value that is not
    ASCII, and an ETag read from a server may not be: httpx decodes a response's
    headers as UTF-8 (else Latin-1), so UTF-8 gives back the bytes the server sent
    (a Latin-1 one comes back different: a 200 instead of a 304, never a failure)."""
    return value.encode()


def _content_length(response: httpx.Response) -> int | None:
    raw = response.headers.get("content-length")
    if raw is None:
        return None
    raw = raw.strip()
    return int(raw) if raw.isascii() and raw.isdigit() else None


def _response_date(response: httpx.Response) -> datetime | None:
    raw = response.headers.get("date")
    return _http_date(raw) if raw else None


def _http_date(text: str) -> datetime | None:
    """An HTTP date (``Date``, ``Expires``, ``Retry-After``), aware; ``None`` when
    unreadable. RFC 9110 dates are always GMT: a zone-less one is read as UTC."""
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


_PERMANENT_REDIRECTS = frozenset({HTTPStatus.MOVED_PERMANENTLY, HTTPStatus.PERMANENT_REDIRECT})


def _moved_to(response: httpx.Response, final_url: str) -> str | None:
    """``final_url`` when every redirect that led to ``response`` was permanent."""
    history = response.history
    if history and all(hop.status_code in _PERMANENT_REDIRECTS for hop in history):
        return final_url
    return None


def _standard_reason(code: int) -> str:
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return ""


def _describe(exc: BaseException) -> str:
    text = redact_url(str(exc)).strip()
    return _ellipsis(text) if text else type(exc).__name__


def _ellipsis(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _success(
    url: str,
    final_url: str,
    status: FetchStatus,
    *,
    code: int,
    content_type: str | None,
    validators: Validators,
    body: bytes | None = None,
    fresh_for: float | None = None,
    moved_to: str | None = None,
) -> FetchResult:
    # Built in one go: dataclasses.replace() costs more than a 304's own parsing.
    return FetchResult(
        url=url,
        final_url=final_url,
        status=status,
        body=body,
        content_type=content_type,
        validators=validators,
        http_status=code,
        error_kind=None,
        error=None,
        retry_after=None,
        attempts=1,
        fresh_for=fresh_for,
        moved_to=moved_to,
    )


def _result(url: str, final_url: str, status: FetchStatus, code: int | None) -> FetchResult:
    return FetchResult(
        url=url,
        final_url=final_url,
        status=status,
        body=None,
        content_type=None,
        validators=None,
        http_status=code,
        error_kind=None,
        error=None,
        retry_after=None,
        attempts=1,
    )


def _failure(
    url: str, final_url: str, kind: FetchErrorKind, message: str, *, attempts: int
) -> FetchResult:
    return replace(
        _result(url, final_url, FetchStatus.FAILED, None),
        error_kind=str(kind),
        error=message,
        attempts=attempts,
    )


def _retryable(url: str, final_url: str, kind: FetchErrorKind, message: str) -> _Outcome:
    return _Outcome(_failure(url, final_url, kind, message, attempts=1), retryable=True)


def _final(url: str, final_url: str, kind: FetchErrorKind, message: str) -> _Outcome:
    return _Outcome(_failure(url, final_url, kind, message, attempts=1), retryable=False)


def _too_large(url: str, final_url: str, code: int, limit: int) -> _Outcome:
    result = replace(
        _failure(
            url, final_url, FetchErrorKind.TOO_LARGE, f"body exceeds {limit} bytes", attempts=1
        ),
        http_status=code,
    )
    return _Outcome(result, retryable=False)
