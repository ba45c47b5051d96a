"""Every fixture feed, served over real HTTP, collected into a real database.

The parse tests check each fixture's entries field by field; this test checks that the
same files, served with their recorded Content-Type, come through fetch, parse,
classification and storage: each yields its articles or a recorded per-feed error.
"""

from __future__ import annotations

import asyncio
import json

from jobs.classify import Classifier, load_rules
from jobs.collect import Collector, FeedStatus
from storage import FeedSpec, Store
from tests.feedserver import FeedServer
from tests.test_collect import settings
from tests.test_parse import FIXTURES, NOW, fixture_headers, fixture_names


def feed_key(stem: str) -> str:
    return stem.replace("_", "-")


def test_every_fixture_feed_is_collected_or_recorded_as_failed(store: Store) -> None:
    names = fixture_names()
    stems = [name.rsplit(".", 1)[0] for name in names]
    assert len(names) >= 15
    with FeedServer() as server:
        for name, stem in zip(names, stems, strict=True):
            server.route(
                f"/{name}",
                body=(FIXTURES / name).read_bytes(),
                content_type=fixture_headers(stem).get("content-type", "application/xml"),
            )
        store.sync_feeds(
            [
                FeedSpec(
                    key=feed_key(stem),
                    name=stem,
                    url=server.url(f"/{name}"),
                    language=None,
                    country="kz",
                )
                for name, stem in zip(names, stems, strict=True)
            ]
        )
        with Collector(store, Classifier(load_rules()), settings(), clock=lambda: NOW) as c:
            report = asyncio.run(c.run(force=True))

    reports = {r.key: r for r in report.feeds}
    assert len(reports) == len(names)
    for stem in stems:
        expected = json.loads((FIXTURES / f"{stem}.expected.json").read_text(encoding="utf-8"))
        feed = reports[feed_key(stem)]
        if expected["error"]:
            assert feed.status is FeedStatus.FAILED, stem
            assert feed.error == expected["error"], stem
            continue
        assert feed.status is FeedStatus.FETCHED, (stem, feed.error)
        assert feed.new == len(expected["entries"]), stem
        state = store.feed_state(feed.key)
        assert state is not None
        assert state.last_error is None
        stored = {a.guid for a in store.articles_for_feed(state.id)}
        assert stored == {entry["guid"] for entry in expected["entries"]}, stem
