"""The CPU floor of an unchanged re-collection, against what issue 2's targets allow.

Issue 2 asks for a first collection at least 3x ``feedparser.parse``'s throughput and an
unchanged re-collection (every feed answers 304) at least 50x faster than the first.
Together they bound the unchanged run: at most ``items / (3 * feedparser rate) / 50``
seconds. This script measures, on the collect benchmark's feeds (200 by default) and its
loopback server, what 200 conditional GETs cost in this process at the least:

* ``socket``: a bare asyncio protocol on 16 open keep-alive connections writing each
  request and waiting for the end of the 304's headers (no HTTP library, no pool, no
  timeouts: the cost of the system calls and the event loop alone);
* ``httpx``: :class:`jobs.fetch.FeedFetcher` (httpx's client and the fetcher's own
  bookkeeping: slots, validators, the result) over a transport that answers 304 at
  once without any I/O;
* ``client``: for comparison, a plain :class:`httpx.AsyncClient` sending the same
  conditional GETs over that transport (no fetcher: the fetcher's leaner use of the
  client costs less than the client's defaults);
* ``fetcher``: the same fetcher over its real transport and the loopback server;
* ``store``: the two store calls every run makes whatever its fetcher, on the same
  SQLite archive: reading the feed list and writing the 200 feeds' health records in
  one transaction;
* ``run``: a whole unchanged :meth:`jobs.collect.Collector.run` (feed list, fetches,
  health records written to SQLite).

Each figure is the CPU time of this process (the server is another process), the best
of ``--repeat`` rounds. ``socket + httpx`` is a floor no httpx-based fetcher can go
under, and ``socket + httpx + store`` one no unchanged run with this store can; the
script prints both next to the budget the two targets leave.

    python -m bench.fetch_floor [--feeds 200] [--repeat 5] [--json bench/results/fetch_floor.json]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import httpx

from bench.collect import (
    FETCH,
    NOW,
    etag_of,
    feed_specs,
    make_feed,
    start_server,
    time_feedparser,
)
from bench.report import write_figures
from jobs import heap
from jobs.classify import Classifier, load_rules
from jobs.collect import Collector, CollectSettings
from jobs.fetch import FeedFetcher, FetchStatus
from storage import Store
from storage.records import FetchRecord, Validators

ITEMS_PER_FEED = 50
CONNECTIONS = FETCH.max_connections
FIRST_TARGET = 3.0
UNCHANGED_TARGET = 50.0
#: The next attempt the store's share writes (any time will do: only the cost counts).
FLOOR_INTERVAL = timedelta(minutes=30)


class _HeadersReader(asyncio.Protocol):
    """One keep-alive connection: resolves :attr:`done` at the end of a response's
    headers (a 304 has nothing after them)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.done: asyncio.Future[None] | None = None
        self._received = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but behave as one.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._received += data
        if b"\r\n\r\n" in self._received and self.done is not None:
            self._received = b""
            self.done.set_result(None)


async def socket_floor(port: int, paths: list[str], etags: dict[str, str]) -> float:
    """CPU seconds of the bare-protocol conditional GETs (connections opened before)."""
    loop = asyncio.get_running_loop()
    idle: asyncio.Queue[_HeadersReader] = asyncio.Queue()
    for _ in range(CONNECTIONS):
        _, protocol = await loop.create_connection(_HeadersReader, "127.0.0.1", port)
        idle.put_nowait(protocol)

    async def one(path: str) -> None:
        protocol = await idle.get()
        assert protocol.transport is not None
        protocol.done = loop.create_future()
        protocol.transport.write(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"If-None-Match: {etags[path]}\r\n\r\n".encode()
        )
        await protocol.done
        idle.put_nowait(protocol)

    started = time.process_time()
    await asyncio.gather(*(one(path) for path in paths))
    spent = time.process_time() - started
    while not idle.empty():
        transport = idle.get_nowait().transport
        assert transport is not None
        transport.close()
    return spent


class _NoBody(httpx.AsyncByteStream):
    async def __aiter__(self) -> AsyncIterator[bytes]:
        return
        yield b""  # an async generator with nothing to give


class _NotModified(httpx.AsyncBaseTransport):
    """Answers every request with a 304 at once, without any I/O."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        etag = request.headers.get("if-none-match", "")
        return httpx.Response(304, headers=[("ETag", etag)], stream=_NoBody())


async def fetcher_cpu(
    urls: list[str], etags: list[str], transport: httpx.AsyncBaseTransport | None
) -> float:
    """CPU seconds of :class:`FeedFetcher` fetching ``urls`` conditionally (all 304)."""
    started = time.process_time()
    async with FeedFetcher(FETCH, transport=transport) as fetcher:
        results = await asyncio.gather(
            *(
                fetcher.fetch(url, Validators(etag=etag, last_modified=None, body_sha256=None))
                for url, etag in zip(urls, etags, strict=True)
            )
        )
    spent = time.process_time() - started
    if any(result.status is not FetchStatus.NOT_MODIFIED for result in results):
        raise RuntimeError("a conditional GET did not answer 304")
    return spent


async def client_cpu(
    urls: list[str], etags: list[str], transport: httpx.AsyncBaseTransport
) -> float:
    """CPU seconds of a default :class:`httpx.AsyncClient` sending the conditional GETs."""
    async with httpx.AsyncClient(transport=transport) as client:
        started = time.process_time()
        responses = await asyncio.gather(
            *(
                client.get(url, headers={"If-None-Match": etag})
                for url, etag in zip(urls, etags, strict=True)
            )
        )
        spent = time.process_time() - started
    if any(response.status_code != httpx.codes.NOT_MODIFIED for response in responses):
        raise RuntimeError("a conditional GET did not answer 304")
    return spent


def store_cpu(store: Store) -> float:
    """CPU seconds of what any unchanged run asks of the store: the feed list, then
    every feed's health record (a success with its validators kept) in one transaction."""
    started = time.process_time()
    states = store.feed_states(article_counts=False)
    store.record_fetches(
        [
            (
                state.id,
                FetchRecord(
                    attempted_at=NOW,
                    succeeded=True,
                    error=None,
                    validators=None,
                    next_attempt_at=NOW + FLOOR_INTERVAL,
                ),
            )
            for state in states
        ]
    )
    return time.process_time() - started


def best_of(repeat: int, measure: Callable[[], Coroutine[Any, Any, float]]) -> float:
    """The least of ``repeat`` measurements, each in a fresh event loop."""
    return min(asyncio.run(measure()) for _ in range(repeat))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", type=Path, default=Path("bench/results/fetch_floor.json"))
    args = parser.parse_args(argv)

    bodies = {f"/feed/{i}.xml": make_feed(i, ITEMS_PER_FEED) for i in range(args.feeds)}
    paths = list(bodies)
    etags = {path: etag_of(body) for path, body in bodies.items()}
    server, port = start_server(bodies)
    urls = [f"http://127.0.0.1:{port}{path}" for path in paths]
    tags = [etags[path] for path in paths]

    feedparser_rate = args.feeds * ITEMS_PER_FEED / time_feedparser(args.feeds, ITEMS_PER_FEED)
    del bodies

    figures: dict[str, Any] = {"feeds": args.feeds, "repeat": args.repeat}
    no_io = _NotModified()
    figures["socket_ms"] = best_of(args.repeat, lambda: socket_floor(port, paths, etags)) * 1e3
    figures["httpx_ms"] = best_of(args.repeat, lambda: fetcher_cpu(urls, tags, no_io)) * 1e3
    figures["client_ms"] = best_of(args.repeat, lambda: client_cpu(urls, tags, no_io)) * 1e3
    figures["fetcher_ms"] = best_of(args.repeat, lambda: fetcher_cpu(urls, tags, None)) * 1e3

    with tempfile.TemporaryDirectory() as scratch:
        store = Store.open(f"sqlite:///{scratch}/floor.db")
        store.sync_feeds(feed_specs(urls))
        settings = CollectSettings(fetch=FETCH)
        with Collector(store, Classifier(load_rules()), settings, clock=lambda: NOW) as collector:
            collector.start()
            heap.settle()

            async def unchanged_run() -> float:
                started = time.process_time()
                report = await collector.run(force=True)
                spent = time.process_time() - started
                if report.new or report.failed:
                    raise RuntimeError("the re-collection was not an unchanged one")
                return spent

            asyncio.run(collector.run(force=True))  # the first collection
            figures["run_ms"] = best_of(args.repeat, unchanged_run) * 1e3
            figures["store_ms"] = min(store_cpu(store) for _ in range(args.repeat)) * 1e3
        store.close()
    server.terminate()
    server.join()

    first_at_target = args.feeds * ITEMS_PER_FEED / (FIRST_TARGET * feedparser_rate)
    budget_ms = first_at_target / UNCHANGED_TARGET * 1e3
    floor_ms = figures["socket_ms"] + figures["httpx_ms"]
    store_floor_ms = floor_ms + figures["store_ms"]
    figures.update(
        feedparser_items_per_s=round(feedparser_rate, 1),
        first_collection_at_3x_s=round(first_at_target, 3),
        unchanged_budget_ms=round(budget_ms, 1),
        httpx_floor_ms=round(floor_ms, 1),
        httpx_store_floor_ms=round(store_floor_ms, 1),
        python=sys.version.split()[0],
    )
    per_feed = 1e3 / args.feeds
    print(
        f"{args.feeds} feeds, {CONNECTIONS} connections, CPU of this process, best of {args.repeat}"
    )
    for key, label in (
        ("socket_ms", "bare socket (no HTTP library)"),
        ("httpx_ms", "FeedFetcher + httpx, no I/O"),
        ("client_ms", "httpx.AsyncClient alone, no I/O"),
        ("fetcher_ms", "FeedFetcher over loopback"),
        ("store_ms", "feed list + 200 health records"),
        ("run_ms", "unchanged Collector.run"),
    ):
        figures[key] = round(figures[key], 1)
        print(f"  {label:<32} {figures[key]:7.1f} ms ({figures[key] * per_feed:5.0f} us a feed)")
    print(f"feedparser.parse (defaults): {feedparser_rate:.0f} items/s")
    print(
        f"a first collection at {FIRST_TARGET:g}x takes {first_at_target:.2f} s: "
        f"{UNCHANGED_TARGET:g}x faster is {budget_ms:.1f} ms for the unchanged run"
    )
    print(f"floor with httpx (bare socket + httpx without I/O): {floor_ms:.1f} ms")
    print(f"floor with httpx and the store (+ feed list and health): {store_floor_ms:.1f} ms")
    write_figures(args.json, figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
