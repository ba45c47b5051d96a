"""Collection benchmark: feedparser's default parse vs the project's collection.

Generates N feeds x M items (default 200 x 50; HTML summaries, a third in Cyrillic),
serves them from a loopback HTTP server in a separate process, and measures in one run:

* ``feedparser.parse`` with default options on the same bytes (items/s);
* the first collection into a fresh SQLite archive (fetch + parse + normalise +
  classify + stories + store with its search index; new items/s end to end);
* a second collection with nothing changed (every conditional GET answers 304), run
  as ``steppe run`` runs its scheduled collections: same process, same event loop,
  same worker process; each run opens its own HTTP clients and connections;
* peak memory: max RSS of this process plus the peak (``VmHWM``) of each of its
  child processes but the feed server (the worker, multiprocessing's resource tracker).

Targets (issue 2): first collection >= 3x feedparser's default throughput; unchanged
re-collection >= 50x faster than the first; peak memory < 200 MB.

    python bench/collect.py [--feeds 200] [--items 50] [--json bench/results/collect.json]
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
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import feedparser

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


def serve(bodies: dict[str, bytes], port_queue: Any) -> None:
    """Serve the feeds with ETags (child process, so it does not share our GIL)."""
    etags = {path: f'"{hashlib.sha256(body).hexdigest()[:16]}"' for path, body in bodies.items()}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body are two writes: without TCP_NODELAY, Nagle's algorithm and
        # the client's delayed ACK hold every body back ~40 ms.
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            body = bodies.get(self.path)
            if body is None:
                self.send_error(404)
                return
            if self.headers.get("If-None-Match") == etags[self.path]:
                self.send_response(304)
                self.send_header("ETag", etags[self.path])
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
            self.send_header("ETag", etags[self.path])
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    class Server(ThreadingHTTPServer):
        # socketserver's default listen backlog is 5: the collector opening its 16
        # connections at once overflowed it, and the dropped SYNs were retried after
        # one second, which was nearly all of the "unchanged re-collection" time.
        request_queue_size = 128

    server = Server(("127.0.0.1", 0), Handler)
    port_queue.put(server.server_address[1])
    server.serve_forever()


def time_feedparser(feeds: int, items: int) -> float:
    """Seconds ``feedparser.parse`` with default options takes for the same feeds."""
    bodies = [make_feed(i, items) for i in range(feeds)]
    started = time.perf_counter()
    for body in bodies:
        feedparser.parse(body)
    return time.perf_counter() - started


async def two_runs(
    collector: Collector, *, server_pid: int | None
) -> tuple[CollectionReport, float, float, float, CollectionReport, float]:
    """The first collection and an unchanged one, timed, in one event loop as in
    ``steppe run``. Each run opens its own HTTP client and connections (as a scheduled
    run does: its keep-alive connections do not outlive the interval), so the second
    run pays for its connections too; only the worker processes and the TLS context
    stay from one run to the next. Also returns the first run's CPU time in this
    process (every thread: the event loop and the storing thread) and in the worker
    processes, which a busy machine disturbs far less than the wall-clock time."""
    workers_before = children_cpu_seconds(exclude={server_pid})
    started, cpu_started = time.perf_counter(), time.process_time()
    first = await collector.run(force=True)
    first_seconds = time.perf_counter() - started
    first_cpu = time.process_time() - cpu_started
    workers_cpu = children_cpu_seconds(exclude={server_pid}) - workers_before
    started = time.perf_counter()
    second = await collector.run(force=True)
    second_seconds = time.perf_counter() - started
    return first, first_seconds, first_cpu, workers_cpu, second, second_seconds


def children_peak_mb(*, exclude: set[int | None]) -> dict[int, float]:
    """Peak resident memory (``VmHWM``) of each live child process, by pid (Linux).

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


def children_cpu_seconds(*, exclude: set[int | None]) -> float:
    """CPU time (user + system) used so far by this process's live children (Linux)."""
    me = os.getpid()
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in exclude:
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=200)
    parser.add_argument("--items", type=int, default=50)
    parser.add_argument(
        "--workers", type=int, default=1, help="parse/classify processes (config default: 1)"
    )
    parser.add_argument("--json", type=Path, default=Path("bench/results/collect.json"))
    args = parser.parse_args(argv)

    bodies = {f"/feed/{i}.xml": make_feed(i, args.items) for i in range(args.feeds)}
    total_items = args.feeds * args.items
    total_bytes = sum(len(b) for b in bodies.values())
    print(f"{args.feeds} feeds x {args.items} items, {total_bytes / 1e6:.1f} MB of RSS")

    context = multiprocessing.get_context("spawn")

    ports = context.Queue()
    server = context.Process(target=serve, args=(bodies, ports), daemon=True)
    server.start()
    port = ports.get(timeout=30)
    del bodies  # the server process holds them; the collector must fetch them

    with tempfile.TemporaryDirectory() as scratch:
        store = Store.open(f"sqlite:///{scratch}/bench.db")
        store.sync_feeds(
            [
                FeedSpec(
                    key=f"outlet{i}",
                    name=f"Outlet {i}",
                    url=f"http://127.0.0.1:{port}/feed/{i}.xml",
                    language=None,
                    country="kz",
                )
                for i in range(args.feeds)
            ]
        )
        settings = CollectSettings(
            fetch=FetchSettings(max_connections=16, max_per_host=16), workers=args.workers
        )
        with Collector(store, Classifier(load_rules()), settings, clock=lambda: NOW) as collector:
            # `steppe run` starts its workers once at start-up; time them apart.
            started = time.perf_counter()
            collector.start()
            startup_seconds = time.perf_counter() - started
            heap.settle()  # as ``steppe run`` does once start-up is over
            first, first_seconds, first_cpu, workers_cpu, second, second_seconds = asyncio.run(
                two_runs(collector, server_pid=server.pid)
            )
            # Every child of this process but the feed server: the workers and
            # multiprocessing's resource tracker, read while they are alive.
            helpers = children_peak_mb(exclude={server.pid})
        worker_peak = max(helpers.values(), default=0.0)
        stored = store.article_count()
        store.close()
    server.terminate()
    server.join()
    # The reference runs in a child process (after the workers' peak was read), so
    # its memory is not counted as the collector's.
    with context.Pool(1) as reference:
        feedparser_seconds = reference.apply(time_feedparser, (args.feeds, args.items))
    feedparser_rate = total_items / feedparser_seconds
    print(f"feedparser.parse (defaults):   {feedparser_rate:8.0f} items/s")

    first_rate = first.new / first_seconds
    speedup = first_rate / feedparser_rate
    rerun_ratio = first_seconds / second_seconds
    main_peak = rss_mb()
    peak = main_peak + sum(helpers.values())
    print(
        f"first collection:              {first_rate:8.0f} items/s "
        f"({first.new} new in {first_seconds:.2f} s, {first.failed} failed)"
    )
    print(
        f"  main process CPU:            {first_cpu:8.2f} s "
        f"({first_cpu / max(first.new, 1) * 1e6:.0f} us per item)"
    )
    print(
        f"  worker processes CPU:        {workers_cpu:8.2f} s "
        f"({workers_cpu / max(first.new, 1) * 1e6:.0f} us per item)"
    )
    print(f"  worker start-up (once):      {startup_seconds:8.2f} s")
    print(f"  vs feedparser default:       {speedup:8.2f}x   (target >= 3x)")
    print(
        f"unchanged re-collection:       {second_seconds:8.3f} s "
        f"({rerun_ratio:.0f}x faster; target >= 50x; {second.new} new)"
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
        "feedparser_default_items_per_s": round(feedparser_rate, 1),
        "first_collection_items_per_s": round(first_rate, 1),
        "first_collection_seconds": round(first_seconds, 3),
        "first_collection_main_cpu_seconds": round(first_cpu, 3),
        "first_collection_workers_cpu_seconds": round(workers_cpu, 3),
        "worker_startup_seconds": round(startup_seconds, 3),
        "speedup_vs_feedparser": round(speedup, 2),
        "unchanged_recollection_seconds": round(second_seconds, 4),
        "unchanged_speedup": round(rerun_ratio, 1),
        "peak_rss_mb": round(peak, 1),
        "main_rss_mb": round(main_peak, 1),
        "worker_rss_mb": round(worker_peak, 1),
        "child_processes_rss_mb": [round(mb, 1) for mb in helpers.values()],
        "workers": args.workers,
        "articles_stored": stored,
        "failed_feeds": first.failed,
        "python": sys.version.split()[0],
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.json}")
    ok = speedup >= 3 and rerun_ratio >= 50 and peak < 200 and stored == total_items
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
