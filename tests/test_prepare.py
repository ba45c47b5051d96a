"""Parsing and classifying in worker processes gives what the in-process path gives."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from jobs.classify import Classifier, load_rules
from jobs.prepare import PreparedFeed, Preparer, PrepareRequest
from tests.test_collect import HUB_EN, MIGRANTS_RU, SOLAR_EN, rss

REQUEST = PrepareRequest(
    body=rss([HUB_EN, SOLAR_EN, MIGRANTS_RU]),
    content_type="application/rss+xml; charset=utf-8",
    feed_url="https://outlet.example/feed",
    language=None,
    now=datetime(2026, 11, 20, 9, 0, tzinfo=UTC),
    max_entries=500,
)


def prepare(workers: int, request: PrepareRequest) -> PreparedFeed:
    with Preparer(Classifier(load_rules()), workers=workers) as preparer:
        return asyncio.run(preparer.prepare(request))


def test_a_worker_process_prepares_exactly_what_a_thread_does() -> None:
    in_thread = prepare(0, REQUEST)
    in_worker = prepare(1, REQUEST)

    assert in_worker == in_thread
    assert [e.guid for e in in_worker.parsed.entries] == ["hub-1", "solar-1", "ru-migr-1"]
    topics = [set(c.topics) for c in in_worker.classifications]
    assert "it_hubs" in topics[0]
    assert "energy" in topics[1]


def test_a_body_that_is_not_a_feed_comes_back_as_an_error_value() -> None:
    request = PrepareRequest(
        body=b"<html><body>Maintenance</body></html>",
        content_type="text/html",
        feed_url="https://outlet.example/feed",
        language="en",
        now=REQUEST.now,
        max_entries=500,
    )
    prepared = prepare(1, request)
    assert prepared.parsed.error is not None
    assert prepared.classifications == ()


def test_negative_worker_count_is_refused() -> None:
    with pytest.raises(ValueError, match="workers"):
        Preparer(Classifier(load_rules()), workers=-1)
