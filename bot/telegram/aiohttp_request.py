"""python-telegram-bot's HTTP requests over aiohttp: the digest's ``sendMessage`` path.

A paid broadcast sends 1,000 messages a second from one process. python-telegram-bot's
own :class:`~telegram.request.HTTPXRequest` costs about 0.5 ms of CPU per request on
loopback in httpx and httpcore (pure-Python HTTP/1.1 and a connection pool that scans
all its connections on every request: encode/httpcore#1035); aiohttp's client, with its
C HTTP parser and a pool keyed by host, about a fifth of that. :class:`AiohttpRequest`
is a :class:`~telegram.request.BaseRequest` on one :class:`aiohttp.ClientSession`:

* a request without files goes as an ``application/json`` body, which the Bot API
  accepts for every method (python-telegram-bot's form encoding percent-encodes a
  digest's 3 KB of Cyrillic HTML byte by byte, ten times the CPU of ``json.dumps``);
  a request with files as ``multipart/form-data``, as python-telegram-bot sends it;
* ``connections`` caps the open connections and the requests out at once (size it with
  :func:`jobs.digest.ratelimit.connections_for`);
* python-telegram-bot's four timeouts keep their meaning: *pool* is the wait for a free
  connection, *connect* for a new connection, *read* for each read of the answer, and
  *write* bounds sending the request (aiohttp has no write timeout of its own: the whole
  exchange is bounded by connect + write + read, see :func:`_timeout`). A timeout raises
  :class:`~telegram.error.TimedOut`, any other failure of the exchange
  :class:`~telegram.error.NetworkError`, as with :class:`~telegram.request.HTTPXRequest`.

The session is created by :meth:`AiohttpRequest.initialize` (inside the running event
loop, as aiohttp requires) and closed by :meth:`AiohttpRequest.shutdown`;
:class:`telegram.Bot` calls both (``async with bot``).
"""

from __future__ import annotations

import asyncio
import json
from typing import Final

import aiohttp
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput  # the abstract method's own parameter type
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

_JSON_HEADERS: Final = {"Content-Type": "application/json"}


class AiohttpRequest(BaseRequest):
    """Bot API requests over aiohttp with at most ``connections`` open at once.

    The timeouts are python-telegram-bot's defaults for this object's requests (seconds,
    ``None``: no limit); a call may pass its own (``bot.send_message(...,
    read_timeout=...)``). ``media_write_timeout`` replaces ``write_timeout`` for requests
    that upload files, as in :class:`~telegram.request.HTTPXRequest`.
    """

    __slots__ = (
        "_connect_timeout",
        "_connections",
        "_defaults",
        "_media_write_timeout",
        "_pool_timeout",
        "_read_timeout",
        "_session",
        "_slots",
        "_write_timeout",
    )

    def __init__(
        self,
        connections: int,
        *,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
        media_write_timeout: float | None = 20.0,
    ) -> None:
        if connections < 1:
            raise ValueError(f"connections must be at least 1, got {connections}")
        self._connections = connections
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._media_write_timeout = media_write_timeout
        # The common case (no timeout passed to the call) builds its ClientTimeout once.
        self._defaults = _timeout(connect_timeout, write_timeout, read_timeout)
        self._session: aiohttp.ClientSession | None = None
        # Requests out at once: waiting for one is the pool timeout. The connector has
        # the same limit, so a request that holds a slot always finds a connection.
        self._slots: asyncio.Semaphore | None = None

    @property
    def connections(self) -> int:
        """Most connections open (and requests out) at once."""
        return self._connections

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        """Open the session (idempotent)."""
        if self._session is not None and not self._session.closed:
            return
        self._slots = asyncio.Semaphore(self._connections)
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self._connections, limit_per_host=0),
            headers={"User-Agent": self.USER_AGENT},
            # The Bot API sets no cookies and the proxy comes from the configuration,
            # not the environment; a dummy jar saves a cookie pass per request.
            cookie_jar=aiohttp.DummyCookieJar(),
            trust_env=False,
            raise_for_status=False,
            timeout=self._defaults,
        )

    async def shutdown(self) -> None:
        """Close the session and its connections (idempotent)."""
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()

    async def do_request(  # noqa: PLR0917 (python-telegram-bot's signature)
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        session, slots = self._session, self._slots
        if session is None or slots is None or session.closed:
            raise RuntimeError("AiohttpRequest is not initialized (or was shut down)")
        files = request_data is not None and request_data.contains_files
        default_write = self._media_write_timeout if files else self._write_timeout
        if (
            isinstance(read_timeout, DefaultValue)
            and isinstance(write_timeout, DefaultValue)
            and isinstance(connect_timeout, DefaultValue)
            and not files
        ):
            timeout = self._defaults
        else:
            timeout = _timeout(
                _given(connect_timeout, self._connect_timeout),
                _given(write_timeout, default_write),
                _given(read_timeout, self._read_timeout),
            )
        body: bytes | aiohttp.FormData | None = None
        headers: dict[str, str] | None = None
        if request_data is not None:
            if files:
                body = _multipart(request_data)
            else:
                body = json.dumps(request_data.parameters, ensure_ascii=False).encode()
                headers = _JSON_HEADERS
        await self._acquire(slots, _given(pool_timeout, self._pool_timeout))
        try:
            async with session.request(
                method, url, data=body, headers=headers, timeout=timeout
            ) as answer:
                return answer.status, await answer.read()
        except TimeoutError as exc:  # aiohttp's ServerTimeoutError is one too
            raise TimedOut(f"Timed out: {exc}" if str(exc) else "Timed out") from exc
        except aiohttp.ClientError as exc:
            raise NetworkError(f"aiohttp.{type(exc).__name__}: {exc}") from exc
        finally:
            slots.release()

    @staticmethod
    async def _acquire(slots: asyncio.Semaphore, pool_timeout: float | None) -> None:
        """A slot for one request, or :class:`TimedOut` after ``pool_timeout``."""
        if not slots.locked() or pool_timeout is None:
            await slots.acquire()
            return
        try:
            async with asyncio.timeout(pool_timeout):
                await slots.acquire()
        except TimeoutError as exc:
            raise TimedOut(
                "Pool timeout: all connections are busy; the request was not sent"
            ) from exc


def _given(value: ODVInput[float], default: float | None) -> float | None:
    """A timeout passed to the call, else this object's own."""
    return default if isinstance(value, DefaultValue) else value


def _timeout(
    connect: float | None, write: float | None, read: float | None
) -> aiohttp.ClientTimeout:
    """aiohttp's timeouts for python-telegram-bot's: ``connect`` for a new connection,
    ``read`` between two reads of the answer, and the whole exchange bounded by their sum
    with ``write`` (aiohttp does not time a write alone; the sum is never shorter than a
    request that keeps every limit). ``None`` anywhere leaves that part unbounded."""
    parts = (connect, write, read)
    total = None if any(part is None for part in parts) else sum(p for p in parts if p)
    return aiohttp.ClientTimeout(total=total, connect=connect, sock_connect=connect, sock_read=read)


def _multipart(request_data: RequestData) -> aiohttp.FormData:
    """The parameters and files as ``multipart/form-data``, as python-telegram-bot sends
    them: JSON-encoded values for the parameters, one part per file."""
    form = aiohttp.FormData()
    for name, value in request_data.json_parameters.items():
        form.add_field(name, value)
    for name, (filename, content, mime_type) in request_data.multipart_data.items():
        form.add_field(name, content, filename=filename, content_type=mime_type)
    return form


__all__ = ["AiohttpRequest"]
