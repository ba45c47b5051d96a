"""Per-stage cost of a collection, in microseconds per item, on the collect benchmark's feeds.

Where ``bench/collect.py`` measures the pipeline end to end, this script times each
stage alone on the same generated feeds, in this process, so a regression can be
traced to its stage: feedparser (defaults, and without sanitising / URI resolution)
for reference, then ``parse_feed``, classification, story grouping and storage
(SQLite). Prints the figures and writes them as JSON.

    python bench/stages.py [--feeds 60] [--items 50] [--json bench/results/stages.json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import feedparser

from bench.collect import NOW, make_feed
from jobs.classify import Classifier, load_rules
from jobs.parse import ParsedFeed, parse_feed
from jobs.prepare import classifier_text
from jobs.stories import StoryIndex
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

    def group() -> None:
        index = StoryIndex()
        for article_id, (feed_no, e) in enumerate(entries):
            story = index.match(
                feed_id=feed_no, title=e.title, language=e.language, published_at=e.published_at
            )
            index.add(
                article_id=article_id,
                story_id=story if story is not None else article_id,
                feed_id=feed_no,
                title=e.title,
                language=e.language,
                published_at=e.published_at,
            )

    record("stories match + add", timed(group))

    with tempfile.TemporaryDirectory() as scratch:
        store = Store.open(f"sqlite:///{scratch}/stages.db")
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
        ids = {state.spec.key: state.id for state in store.feed_states()}

        def save() -> None:
            position = 0
            for i, feed in enumerate(parsed):
                feed_id = ids[f"o{i}"]
                store.known_articles(
                    feed_id, [e.guid for e in feed.entries], [e.url for e in feed.entries]
                )
                new: list[tuple[ArticleInput, int | None]] = []
                for e in feed.entries:
                    new.append(
                        (
                            ArticleInput(
                                guid=e.guid,
                                url=e.url,
                                title=e.title,
                                summary=e.summary,
                                content=e.content,
                                language=e.language,
                                published_at=e.published_at,
                                content_hash=e.content_hash,
                                classification=classes[position],
                            ),
                            None,
                        )
                    )
                    position += 1
                store.save_articles(feed_id, new, [], now=NOW)

        record("store known + save (SQLite)", timed(save))
        candidates = store.story_candidates(NOW - timedelta(days=7))
        record(
            "story index build",
            timed(lambda: StoryIndex.from_candidates(candidates)),
            count=max(1, len(candidates)),
        )
        store.close()

    pipeline = sum(
        figures[k]
        for k in ("parse_feed", "classify", "stories match + add", "store known + save (SQLite)")
    )
    figures["pipeline_total"] = round(pipeline, 1)
    print(
        f"{'sum of our stages':<34} {pipeline:8.1f} us per item "
        f"({figures['feedparser.parse (defaults)'] / pipeline:.2f}x feedparser's default)"
    )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
