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
* retries with exponential backoff for transient failures (timeouts, connection and
  protocol errors, 5xx, 408, 429), honouring ``Retry-After`` up to ``max_retry_after``;
  a longer ``Retry-After`` is not waited for: the result carries it so the scheduler
  postpones the feed instead;
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
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum
from http import HTTPStatus
from types import TracebackType
from typing import Self

import httpx

from storage.records import Validators

__all__ = [
    "ACCEPT",
    "DEFAULT_USER_AGENT",
    "FeedFetcher",
    "FetchErrorKind",
    "FetchResult",
    "FetchSettings",
    "FetchStatus",
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
    """Read proxy settings (``HTTPS_PROXY``, ``NO_PROXY``...) and ``.netrc`` from the
    environment. Off by default so credentials are never sent by surprise."""

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

    @property
    def ok(self) -> bool:
        """True unless the fetch failed (a 304 and an unchanged body are fine)."""
        return self.status is not FetchStatus.FAILED


def redact_url(url: str) -> str:
    """Return ``url`` (or any text holding URLs) with ``user:pass@`` removed."""
    return _USERINFO.sub("", url)


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
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        # RFC 9110 dates are always GMT; a zone-less one is read as UTC.
        when = when.replace(tzinfo=UTC)
    seconds = (when - now).total_seconds()
    if not math.isfinite(seconds):
        return None
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


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _seconds(value: float) -> str:
    return f"{value:g} s"


@dataclass(frozen=True)
class _Outcome:
    result: FetchResult
    retryable: bool


class _BodyTooLargeError(Exception):
    """Internal: the decoded body passed the cap while streaming."""


class FeedFetcher:
    """Fetches feeds over ``max_connections`` HTTP clients (one per concurrent request,
    see ``_client``); use as ``async with``.

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
        self._open = False
        # One client per concurrent request ("lane"), each with a pool of one
        # connection, instead of one client with a pool of ``max_connections``:
        # httpcore scans its whole pool (and polls every idle socket) on every request
        # and every response, which with 16 pooled connections cost about as much CPU
        # again as the request itself. A lane's connection is kept alive for the next
        # request on that lane (same host: reused; another host: replaced), and a
        # request takes a free lane last used for its host when there is one.
        self._lanes: list[httpx.AsyncClient | None] = []
        self._lane_hosts: list[str | None] = []
        self._idle: list[int] = []
        self._overall = asyncio.Semaphore(settings.max_connections)
        self._per_host: dict[str, asyncio.Semaphore] = {}

    async def __aenter__(self) -> Self:
        if self._open:
            raise RuntimeError("FeedFetcher is already open")
        self._open = True
        lanes = self.settings.max_connections
        self._lanes = [None] * lanes
        self._lane_hosts = [None] * lanes
        self._idle = list(range(lanes))
        # Fresh per session: an asyncio.Semaphore must not outlive its event loop.
        self._overall = asyncio.Semaphore(lanes)
        self._per_host = {}
        return self

    def _client(self, lane: int) -> httpx.AsyncClient:
        client = self._lanes[lane]
        if client is None:
            s = self.settings
            client = self._lanes[lane] = httpx.AsyncClient(
                transport=self._transport,
                verify=_tls_context(s.trust_env),
                limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
                timeout=httpx.Timeout(
                    connect=s.connect_timeout,
                    read=s.read_timeout,
                    write=s.read_timeout,
                    # A lane serves one request at a time, so its connection is free
                    # at once; the wait still must not be unbounded.
                    pool=s.connect_timeout,
                ),
                follow_redirects=True,
                max_redirects=s.max_redirects,
                headers={"User-Agent": s.user_agent, "Accept": ACCEPT},
                trust_env=s.trust_env,
            )
        return client

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        lanes, self._lanes = self._lanes, []
        self._open = False
        # Every client is closed even when closing one fails (the stack re-raises).
        async with AsyncExitStack() as closing:
            for client in lanes:
                if client is not None:
                    closing.push_async_callback(client.aclose)

    async def fetch(self, url: str, validators: Validators) -> FetchResult:
        """Fetch ``url`` conditionally on ``validators``; never raises for bad feeds.

        Transient failures are retried up to ``settings.retries`` times, sleeping
        ``backoff_base * 2**k`` (k = 0, 1, ...) or the server's ``Retry-After`` when
        that is longer. Raises :class:`RuntimeError` only when used outside
        ``async with``.
        """
        if not self._open:
            raise RuntimeError("use FeedFetcher as 'async with FeedFetcher(...) as f'")
        target = _checked_url(url)
        if isinstance(target, str):
            return _failure(url, redact_url(url), FetchErrorKind.INVALID_URL, target, attempts=0)

        settings = self.settings
        loop = asyncio.get_running_loop()
        deadline: float | None = None
        attempt = 0
        while True:
            attempt += 1
            async with self._slots(target) as lane:
                # The deadline starts when the first attempt gets its slots: time spent
                # queued behind other feeds of the same host is not this feed's fault.
                if deadline is None:
                    deadline = loop.time() + settings.total_timeout
                remaining = max(deadline - loop.time(), 0.0)
                client = self._client(lane)
                outcome = await self._attempt(client, url, target, validators, remaining)
            result = replace(outcome.result, attempts=attempt)
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

    @asynccontextmanager
    async def _slots(self, target: httpx.URL) -> AsyncIterator[int]:
        """Hold a slot of the host and one of the ``max_connections`` lanes; yields the
        lane."""
        # The host slot is taken first: a request queued behind a busy host must not
        # sit on one of the overall slots that other hosts could use meanwhile.
        key = f"{target.host}:{target.port or ''}"
        host_slots = self._per_host.get(key)
        if host_slots is None:
            host_slots = self._per_host[key] = asyncio.Semaphore(self.settings.max_per_host)
        async with host_slots, self._overall:
            # Holding an overall slot guarantees an idle lane (no await in between).
            lane = self._take_lane(key)
            try:
                yield lane
            finally:
                self._idle.append(lane)

    def _take_lane(self, host: str) -> int:
        """An idle lane: the most recently used one for ``host``, else one never used,
        else the one idle longest (whose connection is the least likely to be wanted
        again). ``_idle`` is in order of release, oldest first."""
        idle = self._idle
        hosts = self._lane_hosts
        for position in range(len(idle) - 1, -1, -1):
            if hosts[idle[position]] == host:
                return idle.pop(position)
        fresh = next((p for p, lane in enumerate(idle) if hosts[lane] is None), 0)
        lane = idle.pop(fresh)
        hosts[lane] = host
        return lane

    async def _attempt(
        self,
        client: httpx.AsyncClient,
        url: str,
        target: httpx.URL,
        validators: Validators,
        remaining: float,
    ) -> _Outcome:
        settings = self.settings
        headers: dict[str, str] = {}
        if validators.etag:
            headers["If-None-Match"] = validators.etag
        if validators.last_modified:
            headers["If-Modified-Since"] = validators.last_modified
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
            kept = replace(
                validators,
                etag=etag or validators.etag,
                last_modified=last_modified or validators.last_modified,
            )
            result = _result(url, final_url, FetchStatus.NOT_MODIFIED, code)
            return _Outcome(replace(result, content_type=content_type, validators=kept), False)

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
        if digest == validators.body_sha256:
            result = _result(url, final_url, FetchStatus.UNCHANGED, code)
        else:
            result = replace(_result(url, final_url, FetchStatus.FETCHED, code), body=body)
        return _Outcome(replace(result, content_type=content_type, validators=fresh), False)

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


def _checked_url(url: str) -> httpx.URL | str:
    """The parsed URL when it is fetchable, else a message saying why not."""
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


def _content_length(response: httpx.Response) -> int | None:
    raw = response.headers.get("content-length")
    if raw is None:
        return None
    raw = raw.strip()
    return int(raw) if raw.isascii() and raw.isdigit() else None


def _response_date(response: httpx.Response) -> datetime | None:
    raw = response.headers.get("date")
    if not raw:
        return None
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


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
