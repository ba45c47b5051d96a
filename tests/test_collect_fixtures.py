"""Every fixture feed, served over real HTTP, collected into a real database.

The parse tests check each fixture's entries field by field; this test checks that the
same files, served with their recorded Content-Type, come through fetch, parse,
classification and storage: each yields its articles or a recorded per-feed error.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jobs.classify import Classifier, load_rules
from jobs.collect import Collector, FeedStatus
from storage import FeedSpec, Store
from tests.feedserver import FeedServer
from tests.test_collect import settings

FIXTURES = Path(__file__).parent / "fixtures" / "feeds"
NOW = datetime(2025, 6, 10, 12, 0, tzinfo=UTC)  # as in test_parse


def fixtures() -> list[tuple[str, Path, dict[str, Any]]]:
    found = []
    for expected in sorted(FIXTURES.glob("*.expected.json")):
        name = expected.name.removesuffix(".expected.json")
        (body,) = [
            p
            for p in FIXTURES.glob(f"{name}.*")
            if ".expected" not in p.name and not p.name.endswith(".headers.json")
        ]
        found.append((name, body, json.loads(expected.read_text(encoding="utf-8"))))
    return found


def test_every_fixture_feed_is_collected_or_recorded_as_failed(store: Store) -> None:
    cases = fixtures()
    assert len(cases) >= 15
    with FeedServer() as server:
        for name, body, _ in cases:
            headers_file = FIXTURES / f"{name}.headers.json"
            headers = json.loads(headers_file.read_text()) if headers_file.exists() else {}
            server.route(
                f"/{body.name}",
                body=body.read_bytes(),
                content_type=headers.get("content-type", "application/xml"),
            )
        store.sync_feeds(
            [
                FeedSpec(
                    key=name.replace("_", "-"),
                    name=name,
                    url=server.url(f"/{body.name}"),
                    language=None,
                    country="kz",
                )
                for name, body, _ in cases
            ]
        )
        with Collector(store, Classifier(load_rules()), settings(), clock=lambda: NOW) as c:
            report = asyncio.run(c.run(force=True))

    reports = {r.key: r for r in report.feeds}
    assert len(reports) == len(cases)
    for name, _, expected in cases:
        feed = reports[name.replace("_", "-")]
        if expected["error"]:
            assert feed.status is FeedStatus.FAILED, name
            assert feed.error == expected["error"], name
            continue
        assert feed.status is FeedStatus.FETCHED, (name, feed.error)
        assert feed.new == len(expected["entries"]), name
        state = store.feed_state(feed.key)
        assert state is not None
        assert state.last_error is None
        stored = {a.guid for a in store.articles_for_feed(state.id)}
        assert stored == {entry["guid"] for entry in expected["entries"]}, name
