"""Collection benchmark: feedparser's default parse vs the project's collection.

Generates N feeds x M items (default 200 x 50; HTML summaries, a third in Cyrillic),
serves them from a loopback HTTP server in a separate process, and measures in one run:

* ``feedparser.parse`` with default options on the same bytes (items/s);
* the first collection into a fresh SQLite archive (fetch + parse + normalise +
  classify + store; new items/s end to end);
* a second collection with nothing changed (conditional GET answers 304);
* peak memory (max RSS of this process).

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

from jobs.classify import Classifier, load_rules
from jobs.collect import Collector, CollectSettings
from jobs.fetch import FetchSettings
from storage import FeedSpec, Store

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)

EN_WORDS = [
    "Kazakhstan",
    "Uzbekistan",
    "Kyrgyzstan",
    "Tajikistan",
    "Azerbaijan",
    "Turkmenistan",
    "Astana",
    "Tashkent",
    "Bishkek",
    "Dushanbe",
    "Baku",
    "startup",
    "hub",
    "venture",
    "fund",
    "digital",
    "government",
    "ministry",
    "president",
    "solar",
    "wind",
    "power",
    "plant",
    "electricity",
    "tariff",
    "gas",
    "oil",
    "pipeline",
    "data",
    "centre",
    "artificial",
    "intelligence",
    "fintech",
    "payments",
    "bank",
    "investment",
    "reform",
    "parliament",
    "law",
    "election",
    "court",
    "journalist",
    "migration",
    "health",
    "school",
    "university",
    "students",
    "programme",
    "regional",
    "company",
    "launches",
    "announces",
    "signs",
    "agreement",
    "project",
    "capacity",
    "megawatt",
    "billion",
    "million",
    "exports",
]
RU_WORDS = [
    "Казахстан",
    "Узбекистан",
    "Кыргызстан",
    "Таджикистан",
    "Азербайджан",
    "Астана",
    "Ташкент",
    "Бишкек",
    "Душанбе",
    "стартап",
    "хаб",
    "венчурный",
    "фонд",
    "цифровой",
    "правительство",
    "министерство",
    "президент",
    "солнечная",
    "ветровая",
    "электростанция",
    "электроэнергия",
    "тариф",
    "газ",
    "нефть",
    "трубопровод",
    "дата-центр",
    "искусственный",
    "интеллект",
    "финтех",
    "платежи",
    "банк",
    "инвестиции",
    "реформа",
    "парламент",
    "закон",
    "выборы",
    "суд",
    "журналист",
    "миграция",
    "здравоохранение",
    "школа",
    "университет",
    "студенты",
    "программа",
    "компания",
    "запускает",
    "объявил",
    "подписал",
    "соглашение",
    "проект",
    "мощность",
    "мегаватт",
    "миллиард",
    "миллион",
    "экспорт",
]


def sentence(rng: random.Random, words: list[str], n: int) -> str:
    return " ".join(rng.choice(words) for _ in range(n)).capitalize()


def make_feed(index: int, items: int) -> bytes:
    """One RSS 2.0 document; feeds with index % 3 == 0 are in Russian."""
    rng = random.Random(index)
    cyrillic = index % 3 == 0
    words = RU_WORDS if cyrillic else EN_WORDS
    host = f"outlet{index}.example"
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>'
        f"<title>Outlet {index}</title><link>https://{host}/</link>"
        f"<language>{'ru' if cyrillic else 'en'}</language>"
    ]
    for item in range(items):
        published = NOW - timedelta(minutes=17 * item + index)
        summary = (
            f"<p>{sentence(rng, words, 18)} &amp; {sentence(rng, words, 10)}.</p>"
            f'<p><a href="/news/{item}?utm_source=rss">{sentence(rng, words, 6)}</a> '
            f"<strong>{sentence(rng, words, 5)}</strong> {sentence(rng, words, 22)}.</p>"
            f'<img src="https://{host}/pixel.gif" width="1" height="1"/>'
        )
        parts.append(
            f"<item><title>{sentence(rng, words, 9)}</title>"
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

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port_queue.put(server.server_address[1])
    server.serve_forever()


def rss_mb() -> float:
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=200)
    parser.add_argument("--items", type=int, default=50)
    parser.add_argument("--json", type=Path, default=Path("bench/results/collect.json"))
    args = parser.parse_args(argv)

    bodies = {f"/feed/{i}.xml": make_feed(i, args.items) for i in range(args.feeds)}
    total_items = args.feeds * args.items
    total_bytes = sum(len(b) for b in bodies.values())
    print(f"{args.feeds} feeds x {args.items} items, {total_bytes / 1e6:.1f} MB of RSS")

    started = time.perf_counter()
    for body in bodies.values():
        feedparser.parse(body)
    feedparser_seconds = time.perf_counter() - started
    feedparser_rate = total_items / feedparser_seconds
    print(f"feedparser.parse (defaults):   {feedparser_rate:8.0f} items/s")

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
        settings = CollectSettings(fetch=FetchSettings(max_connections=16, max_per_host=16))
        collector = Collector(store, Classifier(load_rules()), settings, clock=lambda: NOW)

        started = time.perf_counter()
        first = asyncio.run(collector.run(force=True))
        first_seconds = time.perf_counter() - started
        started = time.perf_counter()
        second = asyncio.run(collector.run(force=True))
        second_seconds = time.perf_counter() - started
        stored = store.article_count()
        store.close()
    server.terminate()
    server.join()

    first_rate = first.new / first_seconds
    speedup = first_rate / feedparser_rate
    rerun_ratio = first_seconds / second_seconds
    peak = rss_mb()
    print(
        f"first collection:              {first_rate:8.0f} items/s "
        f"({first.new} new in {first_seconds:.2f} s, {first.failed} failed)"
    )
    print(f"  vs feedparser default:       {speedup:8.2f}x   (target >= 3x)")
    print(
        f"unchanged re-collection:       {second_seconds:8.3f} s "
        f"({rerun_ratio:.0f}x faster; target >= 50x; {second.new} new)"
    )
    print(f"peak memory (max RSS):         {peak:8.1f} MB  (target < 200 MB)")
    print(f"articles stored:               {stored:8d}  (expected {total_items})")

    figures = {
        "feeds": args.feeds,
        "items_per_feed": args.items,
        "feed_bytes": total_bytes,
        "feedparser_default_items_per_s": round(feedparser_rate, 1),
        "first_collection_items_per_s": round(first_rate, 1),
        "first_collection_seconds": round(first_seconds, 3),
        "speedup_vs_feedparser": round(speedup, 2),
        "unchanged_recollection_seconds": round(second_seconds, 4),
        "unchanged_speedup": round(rerun_ratio, 1),
        "peak_rss_mb": round(peak, 1),
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
