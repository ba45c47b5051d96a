"""Many HTTP connections to the Bot API without the cost of one big pool.

A paid broadcast (1,000 messages a second) needs hundreds of connections open at once
(:func:`jobs.digest.ratelimit.connections_for`). httpcore's connection pool does work
proportional to its connections on every request and every response (it scans them
all to hand out the next one: encode/httpcore#1035), which at that size costs more CPU
than the request itself. :class:`ShardedRequest` keeps python-telegram-bot's own
:class:`~telegram.request.HTTPXRequest` but splits the connections into small pools and
sends each request through the pool with the fewest requests out.

Each pool sends a request without files as a JSON body (:class:`JsonRequest`), which
the Bot API accepts for every method, instead of python-telegram-bot's form encoding:
percent-encoding a digest's 3 KB of Cyrillic HTML byte by byte costs ~0.2 ms of CPU a
message, JSON a tenth of that.
"""

from __future__ import annotations

import json
import math
from typing import Final

import httpx
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput  # the abstract method's own parameter type
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, HTTPXRequest, RequestData

#: Connections per pool: small enough for cheap bookkeeping, large enough that a few
#: pools serve the usual rates (30/s needs 12 connections: one pool).
SHARD_SIZE: Final = 32


class JsonRequest(HTTPXRequest):
    """:class:`~telegram.request.HTTPXRequest` sending parameters as ``application/json``
    (requests with files still go as ``multipart/form-data``). Timeouts and errors
    become python-telegram-bot's :class:`~telegram.error.TimedOut` and
    :class:`~telegram.error.NetworkError`, as in the parent class."""

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
        if request_data is None or request_data.contains_files:
            return await super().do_request(
                url,
                method,
                request_data,
                read_timeout=read_timeout,
                write_timeout=write_timeout,
                connect_timeout=connect_timeout,
                pool_timeout=pool_timeout,
            )
        defaults = self._client.timeout
        timeout = httpx.Timeout(
            connect=_given(connect_timeout, defaults.connect),
            read=_given(read_timeout, defaults.read),
            write=_given(write_timeout, defaults.write),
            pool=_given(pool_timeout, defaults.pool),
        )
        body = json.dumps(request_data.parameters, ensure_ascii=False).encode()
        try:
            answer = await self._client.request(
                method=method,
                url=url,
                headers={"User-Agent": self.USER_AGENT, "Content-Type": "application/json"},
                timeout=timeout,
                content=body,
            )
        except httpx.TimeoutException as exc:
            if isinstance(exc, httpx.PoolTimeout):
                raise TimedOut(
                    "Pool timeout: all connections are busy; the request was not sent"
                ) from exc
            raise TimedOut from exc
        except httpx.HTTPError as exc:
            raise NetworkError(f"httpx.{type(exc).__name__}: {exc}") from exc
        return answer.status_code, answer.content


def _given(value: ODVInput[float], default: float | None) -> float | None:
    """A timeout passed to the call, else the client's own."""
    return default if isinstance(value, DefaultValue) else value


class ShardedRequest(BaseRequest):
    """``connections`` in pools of at most :data:`SHARD_SIZE`, least-busy first."""

    def __init__(
        self,
        connections: int,
        *,
        read_timeout: float,
        write_timeout: float,
        connect_timeout: float,
        pool_timeout: float,
    ) -> None:
        if connections < 1:
            raise ValueError(f"connections must be at least 1, got {connections}")
        count = math.ceil(connections / SHARD_SIZE)
        size = math.ceil(connections / count)
        self._shards = [
            JsonRequest(
                connection_pool_size=size,
                read_timeout=read_timeout,
                write_timeout=write_timeout,
                connect_timeout=connect_timeout,
                pool_timeout=pool_timeout,
            )
            for _ in range(count)
        ]
        self._out = [0] * count
        self._read_timeout = read_timeout

    @property
    def shards(self) -> int:
        """How many pools the connections are split into."""
        return len(self._shards)

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        for shard in self._shards:
            await shard.initialize()

    async def shutdown(self) -> None:
        for shard in self._shards:
            await shard.shutdown()

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
        index = self._out.index(min(self._out))
        self._out[index] += 1
        try:
            return await self._shards[index].do_request(
                url,
                method,
                request_data,
                read_timeout=read_timeout,
                write_timeout=write_timeout,
                connect_timeout=connect_timeout,
                pool_timeout=pool_timeout,
            )
        finally:
            self._out[index] -= 1
