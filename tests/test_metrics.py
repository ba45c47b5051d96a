"""The operator's endpoint: /metrics and /healthz over real loopback HTTP, on the test's
database; the figures follow what happens to feeds, articles and digests."""

from __future__ import annotations

import asyncio
import hashlib
import json
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.alerts import after_collection
from bot.config import Settings, load_config
from bot.fake_api import FakeBotApi, Fault
from bot.metrics import build_registry
from bot.ops_server import OpsServer
from bot.telegram.digest_delivery import delivery_bot
from bot.telegram.digest_wiring import build_dispatcher
from jobs.collect import CollectionReport, FeedReport, FeedStatus
from jobs.telemetry import COUNTERS
from storage import ArticleInput, Classification, FeedSpec, FetchRecord, Store
from storage.engine import create_engine_for
from tests.digestharness import FakeClock, add_chat

START = datetime(2026, 11, 20, 0, 30, tzinfo=UTC)
FEEDS = [
    FeedSpec("times", "The Astana Times", "https://t.example/rss", "en", "kz"),
    FeedSpec("kun", "Kun.uz", "https://kun.example/rss", "uz", "uz"),
]

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture(autouse=True)
def _fresh_counters() -> Iterator[None]:
    COUNTERS.reset()
    yield
    COUNTERS.reset()


def scrape(server: OpsServer) -> Samples:
    response = httpx.get(f"{server.url}/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def save_articles(store: Store, titles: list[str]) -> None:
    """Classified articles of the first feed, first seen at START (the feed list kept)."""
    times = next(s for s in store.feed_states() if s.spec.key == "times")
    store.save_articles(
        times.id,
        [
            (
                ArticleInput(
                    guid=title,
                    url=f"https://t.example/{n}",
                    title=title,
                    summary=f"{title}. More words.",
                    content="",
                    language="en",
                    published_at=START - timedelta(minutes=n + 1),
                    content_hash=hashlib.sha256(title.encode()).hexdigest(),
                    classification=Classification(topics={"energy": 0.8}, countries=["kz"]),
                ),
                None,
            )
            for n, title in enumerate(titles)
        ],
        [],
        now=START,
    )


def test_figures_follow_feeds_articles_and_digests(store: Store) -> None:
    clock = FakeClock(START)
    store.sync_feeds(FEEDS, now=START)
    registry = build_registry(store, late_after=timedelta(minutes=15), clock=clock)
    with OpsServer(store, registry, listen="127.0.0.1", port=0) as server:
        health = httpx.get(f"{server.url}/healthz", timeout=10)
        assert (health.status_code, health.text) == (200, "ok\n")
        assert httpx.get(f"{server.url}/nothing", timeout=10).status_code == 404

        first = scrape(server)
        assert value(first, "steppe_database_up") == 1
        assert value(first, "steppe_feeds", state="ok") == 2
        assert value(first, "steppe_feeds", state="failing") == 0
        assert value(first, "steppe_articles") == 0
        assert value(first, "steppe_digests", state="sent") == 0
        assert value(first, "steppe_telegram_errors_total", kind="429") == 0

        # A feed fails: it moves from ok to failing.
        kun = next(s for s in store.feed_states() if s.spec.key == "kun")
        store.record_fetch(
            kun.id,
            FetchRecord(START, False, "HTTP 502", None, START + timedelta(minutes=30)),
        )
        # Articles arrive, and the scheduler's after-collection step counts the run.
        save_articles(store, ["Solar plant opens", "Wind farm", "Grid upgrade"])
        report = CollectionReport(
            START,
            START,
            (
                FeedReport("times", "The Astana Times", FeedStatus.FETCHED, new=3),
                FeedReport("kun", "Kun.uz", FeedStatus.FAILED, error="HTTP 502"),
            ),
            pruned=2,
        )
        hook = after_collection(store, None, failing_for=timedelta(hours=24), clock=clock)
        asyncio.run(hook(report))
        second = scrape(server)
        assert value(second, "steppe_feeds", state="ok") == 1
        assert value(second, "steppe_feeds", state="failing") == 1
        assert value(second, "steppe_articles") == 3
        assert value(second, "steppe_articles_collected_total") == 3
        assert value(second, "steppe_collection_runs_total") == 1
        assert value(second, "steppe_feed_failures_total") == 1
        assert value(second, "steppe_articles_pruned_total") == 2

        # Three chats; at 00:30 UTC their digests (01:00, 02:00 and 02:00 UTC) are planned.
        with FakeBotApi() as api:
            # Asia/Almaty is UTC+5.
            add_chat(api, store, 1001, at=time(6, 0), now=START)  # 01:00 UTC
            add_chat(api, store, 1002, at=time(7, 0), now=START)  # 02:00 UTC
            add_chat(api, store, 1003, at=time(7, 0), now=START)
            bot = delivery_bot(api.token, api.base_url, per_second=30, read_timeout=5)
            dispatcher, _ = build_dispatcher(
                Settings(), store, bot=bot, clock=clock, sleep=clock.sleep
            )

            async def tick() -> None:
                async with bot:
                    await dispatcher.run_once()

            asyncio.run(tick())
            assert value(scrape(server), "steppe_delivery_queue_depth") == 0

            # 02:05: all three are due; the 01:00 one is 65 minutes late. Telegram asks
            # to slow down once, and refuses chat 1003's message.
            clock.now = START + timedelta(minutes=95)
            assert value(scrape(server), "steppe_delivery_queue_depth") == 3
            api.fail(Fault("sendMessage", error_code=429, description="Too Many", retry_after=1))
            api.fail(
                Fault(
                    "sendMessage",
                    error_code=400,
                    description="Bad Request: message is too long",
                    chat_id=1003,
                )
            )
            asyncio.run(tick())

        third = scrape(server)
        assert value(third, "steppe_digests", state="sent") == 2
        assert value(third, "steppe_digests", state="failed") == 1
        assert value(third, "steppe_digests", state="skipped") == 0
        assert value(third, "steppe_digests_late") == 1
        assert value(third, "steppe_delivery_queue_depth") == 0
        assert value(third, "steppe_chats_active") == 3
        assert value(third, "steppe_telegram_errors_total", kind="429") == 1
        assert value(third, "steppe_telegram_errors_total", kind="400_other") == 1
        assert value(third, "steppe_telegram_errors_total", kind="403") == 0


def test_an_unreachable_database_is_unhealthy_and_never_shows_its_password() -> None:
    password = "s3cret-Passw0rd-for-metrics"
    # Nothing listens on port 1: every connection is refused at once.
    store = Store(create_engine_for(f"postgresql+psycopg://steppe:{password}@127.0.0.1:1/steppe"))
    try:
        with OpsServer(store, build_registry(store), listen="127.0.0.1", port=0) as server:
            health = httpx.get(f"{server.url}/healthz", timeout=10)
            assert health.status_code == 503
            metrics = httpx.get(f"{server.url}/metrics", timeout=10)
            assert metrics.status_code == 200
            assert "steppe_database_up 0.0" in metrics.text
            assert "steppe_telegram_errors_total" in metrics.text
            assert password not in health.text + metrics.text
    finally:
        store.close()


def test_the_endpoint_is_off_by_default_and_the_example_shows_the_defaults() -> None:
    assert Settings().metrics.enabled is False
    example = load_config(Path(__file__).parent.parent / "config.example.toml", environ={})
    defaults = Settings()
    assert (example.metrics, example.alerts, example.log_format) == (
        defaults.metrics,
        defaults.alerts,
        defaults.log_format,
    )


def test_steppe_run_serves_the_endpoint_when_enabled(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a free port for the service to take
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = tmp_path / "config.toml"
    config.write_text(
        f'data_dir = "data"\nlog_format = "json"\n'
        f"[collection]\nworkers = 0\n"
        f'[metrics]\nenabled = true\nlisten = "127.0.0.1"\nport = {port}\n',
        encoding="utf-8",
    )
    service = subprocess.Popen(
        [sys.executable, "-m", "bot", "--config", str(config), "run"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        health = None
        deadline = datetime.now(UTC) + timedelta(seconds=60)
        while health is None and datetime.now(UTC) < deadline:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
            except httpx.TransportError:
                service.poll()
                assert service.returncode is None, "steppe run stopped"
                threading.Event().wait(0.2)  # the service is still starting
        assert health is not None
        assert health.status_code == 200
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        assert "steppe_database_up 1.0" in metrics
    finally:
        service.send_signal(signal.SIGTERM)
        _out, err = service.communicate(timeout=60)
    assert service.returncode == 0, err
    events = [json.loads(line) for line in err.splitlines()]
    assert any(e.get("event") == "metrics_listening" and e["port"] == port for e in events)
