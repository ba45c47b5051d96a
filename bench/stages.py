"""Per-stage cost of a collection, in microseconds per item, on the collect benchmark's feeds.

Where ``bench/collect.py`` measures the pipeline end to end, this script times each
stage alone on the same generated feeds, in this process, so a regression can be
traced to its stage: feedparser (defaults, and without sanitising / URI resolution)
for reference, then what the parse worker does (``parse_feed``, classification, the
titles' story keys) and what the storing thread does (story grouping; storage with
the search index's analysis, on SQLite: one transaction per feed, and ten feeds per
transaction as the collector does when bodies arrive together). Prints the figures
and writes them as JSON.

    python -m bench.stages [--feeds 60] [--items 50] [--json bench/results/stages.json]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import feedparser

from bench.collect import NOW, make_feed
from bench.report import write_figures
from jobs.classify import Classifier, load_rules
from jobs.collect import article_input
from jobs.parse import ParsedFeed, parse_feed
from jobs.prepare import classifier_text
from jobs.stories import StoryIndex, TitleKeys, title_keys
from storage import ArticleInput, Classification, FeedSpec, Store


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=60)
    parser.add_argument("--items", type=int, default=50)
    parser.add_argument("--json", type=Path, default=Path("bench/results/stages.json"))
    args = parser.parse_args(argv)

    bodies = [make_feed(i, args.items) for i in range(args.feeds)]
    items = args.feeds * args.items
    figures: dict[str, float] = {}

    def record(name: str, seconds: float, count: int = items) -> None:
        figures[name] = round(seconds / count * 1e6, 1)
        print(f"{name:<34} {figures[name]:8.1f} us per item")

    record("feedparser.parse (defaults)", timed(lambda: [feedparser.parse(b) for b in bodies]))
    record(
        "feedparser.parse (no sanitising)",
        timed(
            lambda: [
                feedparser.parse(b, sanitize_html=False, resolve_relative_uris=False)
                for b in bodies
            ]
        ),
    )

    parsed: list[ParsedFeed] = []
    record(
        "parse_feed",
        timed(
            lambda: parsed.extend(
                parse_feed(
                    body,
                    content_type="application/rss+xml; charset=utf-8",
                    feed_url=f"https://outlet{i}.example/feed",
                    language=None,
                    now=NOW,
                )
                for i, body in enumerate(bodies)
            )
        ),
    )
    entries = [(feed_no, e) for feed_no, feed in enumerate(parsed) for e in feed.entries]

    classifier = Classifier(load_rules())
    classes: list[Classification] = []
    record(
        "classify",
        timed(
            lambda: classes.extend(
                classifier.classify(e.title, classifier_text(e.summary, e.content), e.language)
                for _, e in entries
            )
        ),
    )

    keys: list[TitleKeys] = []
    record(
        "story keys",
        timed(lambda: keys.extend(title_keys(e.title, e.language) for _, e in entries)),
    )

    def group() -> None:
        index = StoryIndex()
        for article_id, (feed_no, e) in enumerate(entries):
            story = index.match(
                feed_id=feed_no,
                title=e.title,
                language=e.language,
                published_at=e.published_at,
                keys=keys[article_id],
            )
            index.add(
                article_id=article_id,
                story_id=story if story is not None else article_id,
                feed_id=feed_no,
                title=e.title,
                language=e.language,
                published_at=e.published_at,
                keys=keys[article_id],
            )

    record("stories match + add", timed(group))

    def articles(feed: ParsedFeed, position: int) -> list[tuple[ArticleInput, int | None]]:
        return [
            (article_input(e, classes[position + offset]), None)
            for offset, e in enumerate(feed.entries)
        ]

    def fresh_store(scratch: str, name: str) -> tuple[Store, dict[str, int]]:
        store = Store.open(f"sqlite:///{scratch}/{name}.db")
        store.sync_feeds(
            [
                FeedSpec(
                    key=f"o{i}",
                    name="o",
                    url=f"https://o{i}.example/f",
                    language=None,
                    country="kz",
                )
                for i in range(args.feeds)
            ]
        )
        return store, {state.spec.key: state.id for state in store.feed_states()}

    with tempfile.TemporaryDirectory() as scratch:
        store, ids = fresh_store(scratch, "per-feed")

        def save() -> None:
            position = 0
            for i, feed in enumerate(parsed):
                feed_id = ids[f"o{i}"]
                store.known_articles(
                    feed_id, [e.guid for e in feed.entries], [e.url for e in feed.entries]
                )
                store.save_articles(feed_id, articles(feed, position), [], now=NOW)
                position += len(feed.entries)

        record("store known + save (SQLite)", timed(save))
        candidates = store.story_candidates(NOW - timedelta(days=7))
        record(
            "story index build",
            timed(lambda: StoryIndex.from_candidates(candidates)),
            count=max(1, len(candidates)),
        )
        store.close()

        batched, batched_ids = fresh_store(scratch, "batched")

        def save_batched(feeds_per_transaction: int = 10) -> None:
            position = 0
            for first in range(0, len(parsed), feeds_per_transaction):
                with batched.article_writer() as writer:
                    for i in range(first, min(first + feeds_per_transaction, len(parsed))):
                        feed, feed_id = parsed[i], batched_ids[f"o{i}"]
                        writer.known_articles(
                            feed_id, [e.guid for e in feed.entries], [e.url for e in feed.entries]
                        )
                        writer.save_articles(feed_id, articles(feed, position), [], now=NOW)
                        position += len(feed.entries)

        record("store, 10 feeds a transaction", timed(save_batched))
        batched.close()

    pipeline = sum(
        figures[k]
        for k in (
            "parse_feed",
            "classify",
            "story keys",
            "stories match + add",
            "store, 10 feeds a transaction",
        )
    )
    figures["pipeline_total"] = round(pipeline, 1)
    print(
        f"{'sum of our stages':<34} {pipeline:8.1f} us per item "
        f"({figures['feedparser.parse (defaults)'] / pipeline:.2f}x feedparser's default)"
    )
    write_figures(args.json, figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
