"""Parsing and classifying in worker processes gives what the in-process path gives."""

from __future__ import annotations

import asyncio
import pickle
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from jobs.classify import Classifier, load_rules
from jobs.prepare import PreparedFeed, Preparer, PrepareRequest
from jobs.stories import key_weight, title_tokens
from storage import Classification
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


# A program (run as __main__, like `steppe run`) that imports something heavy, records
# every time its module body runs, and prepares one feed in a worker process.
_PROGRAM = """
import asyncio, os, sys
from datetime import UTC, datetime
with open(sys.argv[1], "a") as marks:
    marks.write(f"{os.getpid()}\\n")
import sqlalchemy  # what the bot's main module drags in

from jobs.classify import Classifier, load_rules
from jobs.prepare import Preparer, PrepareRequest

if __name__ == "__main__":
    request = PrepareRequest(
        body=sys.stdin.buffer.read(), content_type="application/rss+xml; charset=utf-8",
        feed_url="https://outlet.example/feed", language=None,
        now=datetime(2026, 11, 20, 9, 0, tzinfo=UTC), max_entries=500,
    )
    with Preparer(Classifier(load_rules()), workers=1) as preparer:
        prepared = asyncio.run(preparer.prepare(request))
    print(len(prepared.parsed.entries))
"""


def test_a_worker_does_not_load_the_program_that_started_it(tmp_path: Path) -> None:
    # A "spawn" worker used to import its parent's main module, i.e. the whole bot and
    # SQLAlchemy, ~50 MB per worker for code it never runs.
    program = tmp_path / "program.py"
    program.write_text(_PROGRAM, encoding="utf-8")
    marks = tmp_path / "marks"
    done = subprocess.run(
        [sys.executable, str(program), str(marks)],
        input=REQUEST.body,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode().split() == ["3"]
    assert len(marks.read_text().split()) == 1  # the program itself, not the worker


def test_the_records_a_worker_needs_come_without_the_database_layer() -> None:
    check = "import sys, jobs.prepare; print('sqlalchemy' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", check], capture_output=True, timeout=60, check=True
    )
    assert done.stdout.decode().strip() == "False"


def test_story_keys_are_what_the_story_index_would_compute() -> None:
    # The worker computes each title's story keys, so the storing thread does not: they
    # must be the keys and weights the story index would find in the title itself.
    prepared = prepare(1, REQUEST)

    assert len(prepared.story_keys) == len(prepared.parsed.entries) == 3
    for entry, keys in zip(prepared.parsed.entries, prepared.story_keys, strict=True):
        assert frozenset(keys) == title_tokens(entry.title, entry.language)
        assert keys == {key: key_weight(key) for key in keys}
    assert {"~solar", "@uz", "#500"} <= prepared.story_keys[1].keys()


def test_a_classification_comes_back_from_a_worker_process_whole() -> None:
    classification = Classification(
        topics={"energy": 0.8}, countries=("uz", "kz"), evidence={"energy": ("solar",)}
    )
    copy = pickle.loads(pickle.dumps(classification))
    assert copy == classification
    assert type(copy) is Classification
