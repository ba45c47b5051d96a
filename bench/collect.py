"""Collection benchmark: feedparser's default parse vs the project's collection.

Generates N feeds x M items (default 200 x 50; HTML summaries, a third in Cyrillic),
serves them from a loopback HTTP server in a separate process, and measures, in each
of ``--rounds`` rounds (the figures printed at the end are their medians, each ratio
taken within its round):

* ``feedparser.parse`` with default options on the same bytes (items/s), in a child
  process, just before the round's collections;
* the first collection into a fresh SQLite archive (fetch + parse + normalise +
  classify + stories + store with its search index; new items/s end to end);
* a second collection with nothing changed (every conditional GET answers 304), run
  as ``steppe run`` runs its scheduled collections: same process, same event loop,
  same worker process; each run opens its own HTTP clients and connections;
* peak memory: max RSS of the collecting process (a new one each round) plus the
  peak (``VmHWM``) of each of its child processes (the worker, multiprocessing's
  resource tracker); the worst round is reported.

Targets (issue 2): first collection >= 3x feedparser's default throughput; unchanged
re-collection >= 50x faster than the first; peak memory < 200 MB.

    python bench/collect.py [--feeds 200] [--items 50] [--rounds 3]
                            [--json bench/results/collect.json]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import multiprocessing
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from multiprocessing.context import SpawnProcess
from pathlib import Path
from typing import Any

import feedparser
from aiohttp import web

from jobs import heap
from jobs.classify import Classifier, load_rules
from jobs.collect import CollectionReport, Collector, CollectSettings
from jobs.fetch import FetchSettings
from storage import FeedSpec, Store

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)

# Realistic items: one main country and topic each, ordinary prose around a few
# topic terms, numbers that differ from item to item.
COUNTRIES = {
    "en": ["Kazakhstan", "Uzbekistan", "Kyrgyzstan", "Tajikistan", "Azerbaijan", "Turkmenistan"],
    "ru": ["Казахстан", "Узбекистан", "Кыргызстан", "Таджикистан", "Азербайджан", "Туркменистан"],
}
CITIES = {
    "en": ["Astana", "Almaty", "Tashkent", "Samarkand", "Bishkek", "Dushanbe", "Baku"],
    "ru": ["Астана", "Алматы", "Ташкент", "Самарканд", "Бишкек", "Душанбе", "Баку"],
}
TOPIC_PHRASES = {
    "en": [
        ["IT park", "startups", "venture fund", "software developers", "digital services"],
        ["solar plant", "power grid", "electricity tariffs", "gas pipeline", "wind farm"],
        ["parliament", "new law", "the minister", "government decree", "tax reform"],
        ["labour migrants", "school teachers", "hospital", "pensions", "students"],
    ],
    "ru": [
        ["IT-парк", "стартапы", "венчурный фонд", "разработчики", "цифровые услуги"],
        ["солнечная электростанция", "энергосистема", "тарифы", "газопровод", "ветропарк"],
        ["парламент", "новый закон", "министр", "постановление", "налоговая реформа"],
        ["трудовые мигранты", "учителя", "больница", "пенсии", "студенты"],
    ],
}
FILLER = {
    "en": [
        "the",
        "a",
        "of",
        "in",
        "and",
        "to",
        "for",
        "on",
        "with",
        "by",
        "from",
        "this",
        "that",
        "will",
        "has",
        "have",
        "was",
        "were",
        "said",
        "according",
        "officials",
        "plans",
        "year",
        "new",
        "local",
        "company",
        "region",
        "project",
        "support",
        "first",
        "second",
        "more",
        "than",
        "about",
        "after",
        "during",
        "national",
        "international",
        "share",
        "growth",
        "report",
        "data",
        "month",
        "week",
        "part",
        "also",
        "which",
        "its",
        "their",
        "other",
        "such",
        "over",
        "under",
    ],
    "ru": [
        "в",
        "и",
        "на",
        "по",
        "с",
        "для",
        "из",
        "к",
        "о",
        "что",
        "это",
        "как",
        "также",
        "его",
        "их",
        "был",
        "была",
        "были",
        "будет",
        "году",
        "новый",
        "проект",
        "компания",
        "региона",
        "поддержка",
        "первый",
        "более",
        "около",
        "после",
        "данным",
        "месяца",
        "недели",
        "часть",
        "который",
        "которые",
        "других",
        "рамках",
        "сообщили",
        "власти",
        "планирует",
    ],
}
VERBS = {
    "en": ["launches", "announces", "expands", "approves", "plans", "opens", "discusses"],
    "ru": ["запускает", "объявил", "расширяет", "утвердил", "планирует", "открыл", "обсудил"],
}


def prose(rng: random.Random, lang: str, terms: list[str], words: int) -> str:
    out = [rng.choice(FILLER[lang]) for _ in range(words)]
    for term in terms:
        out.insert(rng.randrange(len(out) + 1), term)
    text = " ".join(out)
    return text[:1].upper() + text[1:]


def make_feed(index: int, items: int) -> bytes:
    """One RSS 2.0 document; feeds with index % 3 == 0 are in Russian."""
    rng = random.Random(index)
    lang = "ru" if index % 3 == 0 else "en"
    host = f"outlet{index}.example"
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
        f"<title>Outlet {index}</title><link>https://{host}/</link><language>{lang}</language>"
    ]
    for item in range(items):
        published = NOW - timedelta(minutes=17 * item + index)
        country = rng.randrange(6)
        phrases = TOPIC_PHRASES[lang][rng.randrange(4)]
        place = rng.choice([COUNTRIES[lang][country], rng.choice(CITIES[lang])])
        title = (
            f"{place} {rng.choice(VERBS[lang])} {rng.choice(phrases)} "
            f"{rng.randint(2, 900)} {' '.join(rng.choice(FILLER[lang]) for _ in range(3))}"
        )
        summary = (
            f"<p>{prose(rng, lang, [COUNTRIES[lang][country], rng.choice(phrases)], 22)} "
            f"&amp; {prose(rng, lang, [], 8)}.</p>"
            f'<p><a href="/news/{item}?utm_source=rss">{prose(rng, lang, [], 5)}</a> '
            f"<strong>{prose(rng, lang, [rng.choice(phrases)], 4)}</strong> "
            f"{prose(rng, lang, [rng.choice(phrases)], 24)}.</p>"
            f'<img src="https://{host}/pixel.gif" width="1" height="1"/>'
        )
        parts.append(
            f"<item><title>{title}</title>"
            f"<link>https://{host}/news/{index}-{item}?utm_source=rss&amp;utm_medium=feed</link>"
            f'<guid isPermaLink="false">{host}-{item}</guid>'
            f"<pubDate>{format_datetime(published)}</pubDate>"
            f"<description><![CDATA[{summary}]]></description></item>"
        )
    parts.append("</channel></rss>")
    return "".join(parts).encode("utf-8")


#: How the benchmark's collections fetch: 16 connections, all to the one loopback host.
FETCH = FetchSettings(max_connections=16, max_per_host=16)


def feed_specs(urls: Sequence[str]) -> list[FeedSpec]:
    """The benchmark's outlets, one per feed URL."""
    return [
        FeedSpec(key=f"outlet{i}", name=f"Outlet {i}", url=url, language=None, country="kz")
        for i, url in enumerate(urls)
    ]


def etag_of(body: bytes) -> str:
    """The ETag :func:`serve` sends with ``body``."""
    return f'"{hashlib.sha256(body).hexdigest()[:16]}"'


def start_server(bodies: dict[str, bytes]) -> tuple[SpawnProcess, int]:
    """:func:`serve` in a spawned child process (a daemon), and the port it listens on."""
    context = multiprocessing.get_context("spawn")
    ports = context.Queue()
    server = context.Process(target=serve, args=(bodies, ports), daemon=True)
    server.start()
    return server, ports.get(timeout=30)


def serve(bodies: dict[str, bytes], port_queue: Any) -> None:
    """Serve the feeds with ETags (child process, so it does not share our GIL).

    The outlets' servers are other machines in production; here they share the two
    cores with the collector, so the server is kept cheap: aiohttp's low-level server
    on one event loop (~0.1 ms of CPU a request). ``http.server``'s
    ``ThreadingHTTPServer``, used before, took ~0.35 ms of CPU a request and handed
    the GIL between its connection threads: an unchanged re-collection's 200 requests
    cost it 60-80 ms of CPU, as much as the collector's own, on the same two cores.
    """
    etags = {path: etag_of(body) for path, body in bodies.items()}
    rss = {"Content-Type": "application/rss+xml; charset=utf-8"}

    async def handle(request: web.BaseRequest) -> web.StreamResponse:
        body = bodies.get(request.path)
        if body is None:
            return web.Response(status=404)
        etag = etags[request.path]
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        return web.Response(body=body, headers={**rss, "ETag": etag})

    async def run() -> None:
        server = web.Server(handle, access_log=None)
        # A backlog well above the collector's 16 simultaneous connections: a full
        # backlog drops SYNs, which the client retries only after a second.
        listener = await asyncio.get_running_loop().create_server(
            server, "127.0.0.1", 0, backlog=1024
        )
        port_queue.put(listener.sockets[0].getsockname()[1])
        await asyncio.Event().wait()  # until the process is terminated

    asyncio.run(run())


def time_feedparser(feeds: int, items: int) -> float:
    """Seconds ``feedparser.parse`` with default options takes for the same feeds."""
    bodies = [make_feed(i, items) for i in range(feeds)]
    started = time.perf_counter()
    for body in bodies:
        feedparser.parse(body)
    return time.perf_counter() - started


async def two_runs(
    collector: Collector,
) -> tuple[CollectionReport, float, float, float, CollectionReport, float]:
    """The first collection and an unchanged one, timed, in one event loop as in
    ``steppe run``. Each run opens its own HTTP client and connections (as a scheduled
    run does: its keep-alive connections do not outlive the interval), so the second
    run pays for its connections too; only the worker processes and the TLS context
    stay from one run to the next. Also returns the first run's CPU time in this
    process (every thread: the event loop and the storing thread) and in the worker
    processes, which a busy machine disturbs far less than the wall-clock time."""
    workers_before = children_cpu_seconds()
    started, cpu_started = time.perf_counter(), time.process_time()
    first = await collector.run(force=True)
    first_seconds = time.perf_counter() - started
    first_cpu = time.process_time() - cpu_started
    workers_cpu = children_cpu_seconds() - workers_before
    started = time.perf_counter()
    second = await collector.run(force=True)
    second_seconds = time.perf_counter() - started
    return first, first_seconds, first_cpu, workers_cpu, second, second_seconds


def children_peak_mb(exclude: Collection[int | None] = ()) -> dict[int, float]:
    """Peak resident memory (``VmHWM``) of each live child process but ``exclude``, by
    pid (Linux).

    Not ``getrusage(RUSAGE_CHILDREN)``: on Linux a child's ``ru_maxrss`` starts from
    the memory of the parent it was forked from (it survives the ``exec`` of a
    "spawn" start), so it reported the main process's size at start-up, not the
    worker's. ``VmHWM`` belongs to the child's own address space.
    """
    me = os.getpid()
    peaks: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in exclude:
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue  # gone meanwhile
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if int(fields.get("PPid", "0")) == me and "VmHWM" in fields:
            peaks[int(entry.name)] = int(fields["VmHWM"].split()[0]) / 1024
    return peaks


def children_cpu_seconds() -> float:
    """CPU time (user + system) used so far by this process's live children (Linux)."""
    me = os.getpid()
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        # The command name (2nd field) may hold spaces: split after its ")".
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == me:  # ppid
            total += (int(fields[11]) + int(fields[12])) / ticks  # utime + stime
    return total


def rss_mb() -> float:
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass(frozen=True)
class Round:
    """The figures of one round: the reference, a first and an unchanged collection."""

    feedparser_rate: float
    new: int
    failed: int
    first_seconds: float
    first_cpu: float
    workers_cpu: float
    startup_seconds: float
    second_seconds: float
    second_new: int
    stored: int
    main_mb: float
    """Peak memory (max RSS) of the process that collected."""
    helpers_mb: dict[int, float]
    """Peak memory of each of its child processes (workers, resource tracker)."""

    @property
    def first_rate(self) -> float:
        return self.new / self.first_seconds

    @property
    def speedup(self) -> float:
        return self.first_rate / self.feedparser_rate

    @property
    def rerun_ratio(self) -> float:
        return self.first_seconds / self.second_seconds

    @property
    def peak_mb(self) -> float:
        return self.main_mb + sum(self.helpers_mb.values())


def collect_round(
    port: int, feeds: int, items: int, workers: int, feedparser_rate: float, results: Any
) -> None:
    """Child process: a first and an unchanged collection into a fresh archive, as a
    freshly started ``steppe run`` would do them; sends its :class:`Round`."""
    with tempfile.TemporaryDirectory() as scratch:
        store = Store.open(f"sqlite:///{scratch}/bench.db")
        store.sync_feeds(
            feed_specs([f"http://127.0.0.1:{port}/feed/{i}.xml" for i in range(feeds)])
        )
        settings = CollectSettings(fetch=FETCH, workers=workers)
        with Collector(store, Classifier(load_rules()), settings, clock=lambda: NOW) as collector:
            # `steppe run` starts its workers (and loads the CA certificates) once at
            # start-up; time that apart.
            started = time.perf_counter()
            collector.start()
            startup_seconds = time.perf_counter() - started
            heap.settle()  # as ``steppe run`` does once start-up is over
            first, first_seconds, first_cpu, workers_cpu, second, second_seconds = asyncio.run(
                two_runs(collector)
            )
            # Every child of this process (the workers and multiprocessing's resource
            # tracker), read while they are alive.
            helpers = children_peak_mb()
        stored = store.article_count()
        store.close()
    results.send(
        Round(
            feedparser_rate=feedparser_rate,
            new=first.new,
            failed=first.failed,
            first_seconds=first_seconds,
            first_cpu=first_cpu,
            workers_cpu=workers_cpu,
            startup_seconds=startup_seconds,
            second_seconds=second_seconds,
            second_new=second.new,
            stored=stored,
            main_mb=rss_mb(),
            helpers_mb=helpers,
        )
    )


def one_round(
    context: Any, port: int, server_pid: int | None, *, feeds: int, items: int, workers: int
) -> Round:
    """``feedparser.parse`` on the feeds, then a first and an unchanged collection, each
    in a process of its own.

    The reference is measured in the same minute as the collection it is compared
    with (a shared machine's speed drifts from minute to minute), in a process that
    has ended before the collection starts. Each round collects in a new process, so
    that its memory is that of one collector, not of every round before it. It shares
    this process's multiprocessing resource tracker, whose memory is added to its own
    (``steppe run`` has a tracker of its own).
    """
    with context.Pool(1) as reference:
        feedparser_rate = feeds * items / reference.apply(time_feedparser, (feeds, items))
    receiving, sending = context.Pipe(duplex=False)
    process = context.Process(
        target=collect_round, args=(port, feeds, items, workers, feedparser_rate, sending)
    )
    process.start()
    sending.close()
    try:
        if not receiving.poll(600):
            raise RuntimeError("the collecting process did not report within 10 minutes")
        measured: Round = receiving.recv()
    finally:
        process.join(timeout=60)
    # The collecting process and the reference's pool have ended: what is left of this
    # process's children but the feed server is the resource tracker.
    tracker = children_peak_mb(exclude={server_pid})
    return replace(measured, helpers_mb={**measured.helpers_mb, **tracker})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=200)
    parser.add_argument("--items", type=int, default=50)
    parser.add_argument(
        "--workers", type=int, default=1, help="parse/classify processes (config default: 1)"
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds measured; the figures are their medians"
    )
    parser.add_argument("--json", type=Path, default=Path("bench/results/collect.json"))
    args = parser.parse_args(argv)

    bodies = {f"/feed/{i}.xml": make_feed(i, args.items) for i in range(args.feeds)}
    total_items = args.feeds * args.items
    total_bytes = sum(len(b) for b in bodies.values())
    print(f"{args.feeds} feeds x {args.items} items, {total_bytes / 1e6:.1f} MB of RSS")

    server, port = start_server(bodies)
    del bodies  # the server process holds them; the collector must fetch them
    context = multiprocessing.get_context("spawn")

    rounds: list[Round] = []
    for number in range(1, args.rounds + 1):
        measured = one_round(
            context, port, server.pid, feeds=args.feeds, items=args.items, workers=args.workers
        )
        rounds.append(measured)
        print(
            f"round {number}: feedparser {measured.feedparser_rate:5.0f} items/s, first "
            f"{measured.first_rate:5.0f} items/s ({measured.speedup:.2f}x), unchanged "
            f"{measured.second_seconds * 1e3:5.1f} ms ({measured.rerun_ratio:.0f}x)"
        )
    server.terminate()
    server.join()

    def median(value: Callable[[Round], float]) -> float:
        return statistics.median(value(r) for r in rounds)

    feedparser_rate = median(lambda r: r.feedparser_rate)
    first_rate = median(lambda r: r.first_rate)
    first_seconds = median(lambda r: r.first_seconds)
    first_cpu = median(lambda r: r.first_cpu)
    workers_cpu = median(lambda r: r.workers_cpu)
    speedup = median(lambda r: r.speedup)
    second_seconds = median(lambda r: r.second_seconds)
    rerun_ratio = median(lambda r: r.rerun_ratio)
    # Memory: the round that used the most.
    worst = max(rounds, key=lambda r: r.peak_mb)
    helpers, main_peak, peak = worst.helpers_mb, worst.main_mb, worst.peak_mb
    worker_peak = max(helpers.values(), default=0.0)
    new = min(r.new for r in rounds)
    stored = min(r.stored for r in rounds)
    failed = max(r.failed for r in rounds)

    print(f"medians of {len(rounds)} rounds (each ratio is taken within its round):")
    print(f"feedparser.parse (defaults):   {feedparser_rate:8.0f} items/s")
    print(
        f"first collection:              {first_rate:8.0f} items/s "
        f"({new} new in {first_seconds:.2f} s, {failed} failed)"
    )
    print(
        f"  main process CPU:            {first_cpu:8.2f} s "
        f"({first_cpu / max(new, 1) * 1e6:.0f} us per item)"
    )
    print(
        f"  worker processes CPU:        {workers_cpu:8.2f} s "
        f"({workers_cpu / max(new, 1) * 1e6:.0f} us per item)"
    )
    startup = median(lambda r: r.startup_seconds)
    print(f"  start-up (once):             {startup:8.2f} s (worker, CA certificates)")
    print(f"  vs feedparser default:       {speedup:8.2f}x   (target >= 3x)")
    print(
        f"unchanged re-collection:       {second_seconds:8.3f} s "
        f"({rerun_ratio:.0f}x faster; target >= 50x; {max(r.second_new for r in rounds)} new)"
    )
    print(
        f"peak memory (max RSS):         {peak:8.1f} MB  (target < 200 MB; main "
        f"{main_peak:.0f} MB + child processes "
        f"{' + '.join(f'{mb:.0f}' for mb in helpers.values()) or '0'} MB)"
    )
    print(f"articles stored:               {stored:8d}  (expected {total_items})")

    figures = {
        "feeds": args.feeds,
        "items_per_feed": args.items,
        "feed_bytes": total_bytes,
        "rounds": len(rounds),
        "feedparser_default_items_per_s": round(feedparser_rate, 1),
        "first_collection_items_per_s": round(first_rate, 1),
        "first_collection_seconds": round(first_seconds, 3),
        "first_collection_main_cpu_seconds": round(first_cpu, 3),
        "first_collection_workers_cpu_seconds": round(workers_cpu, 3),
        "worker_startup_seconds": round(median(lambda r: r.startup_seconds), 3),
        "speedup_vs_feedparser": round(speedup, 2),
        "unchanged_recollection_seconds": round(second_seconds, 4),
        "unchanged_speedup": round(rerun_ratio, 1),
        "peak_rss_mb": round(peak, 1),
        "main_rss_mb": round(main_peak, 1),
        "worker_rss_mb": round(worker_peak, 1),
        "child_processes_rss_mb": [round(mb, 1) for mb in helpers.values()],
        "workers": args.workers,
        "articles_stored": stored,
        "failed_feeds": failed,
        "per_round": [
            {
                "feedparser_default_items_per_s": round(r.feedparser_rate, 1),
                "first_collection_seconds": round(r.first_seconds, 3),
                "speedup_vs_feedparser": round(r.speedup, 2),
                "unchanged_recollection_seconds": round(r.second_seconds, 4),
                "unchanged_speedup": round(r.rerun_ratio, 1),
            }
            for r in rounds
        ],
        "python": sys.version.split()[0],
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.json}")
    ok = speedup >= 3 and rerun_ratio >= 50 and peak < 200 and stored == total_items
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
