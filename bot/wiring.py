"""Build the services the commands need from validated settings."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta

from bot.config import ConfigError, Settings
from jobs.classify import Classifier, load_rules
from jobs.collect import CollectSettings
from jobs.errors import RulesError
from jobs.fetch import FetchSettings
from storage import FeedSpec, Store

#: Test-only hook (``tests/test_faults.py``), not a setting: an ISO 8601 instant with a
#: UTC offset. When it is set, ``steppe collect --once`` and ``steppe dispatch --once``
#: start their clock at that instant and let it run on at real speed, so a test can run
#: the real CLI in a subprocess "the next morning" or "after a dead worker's lease"
#: without waiting. Never set it in production.
TEST_CLOCK_VARIABLE = "STEPPE_TEST_NOW"


def process_clock(environ: Mapping[str, str] | None = None) -> Callable[[], datetime]:
    """The clock the one-shot commands use: the real UTC clock unless
    :data:`TEST_CLOCK_VARIABLE` is set; raises :class:`ConfigError` for a value that is
    not a timezone-aware ISO 8601 instant."""
    raw = (os.environ if environ is None else environ).get(TEST_CLOCK_VARIABLE, "").strip()
    if not raw:
        return _utc_now
    try:
        start = datetime.fromisoformat(raw)
    except ValueError:
        start = None
    if start is None or start.utcoffset() is None:
        raise ConfigError("environment", TEST_CLOCK_VARIABLE, "expected an ISO 8601 instant")
    # Monotonic: a wall-clock step during the run must not move the pinned clock back.
    began = time.monotonic()

    def clock() -> datetime:
        return start + timedelta(seconds=time.monotonic() - began)

    return clock


def _utc_now() -> datetime:
    return datetime.now(UTC)


def feed_specs(settings: Settings) -> list[FeedSpec]:
    """The configured ``[[feeds]]`` as the store's records (the fields match by name)."""
    return [FeedSpec(**feed.model_dump()) for feed in settings.feeds]


def collect_settings(settings: Settings) -> CollectSettings:
    c = settings.collection
    return CollectSettings(
        fetch=FetchSettings(
            connect_timeout=c.connect_timeout,
            read_timeout=c.read_timeout,
            total_timeout=c.total_timeout,
            max_body_bytes=c.max_body_bytes,
            max_redirects=c.max_redirects,
            user_agent=c.user_agent,
            max_connections=c.max_connections,
            max_per_host=c.max_per_host,
            retries=c.retries,
            backoff_base=c.backoff_seconds,
            max_retry_after=c.max_retry_after,
        ),
        interval=timedelta(minutes=c.interval_minutes),
        max_backoff=timedelta(hours=c.max_backoff_hours),
        max_refresh_hint=timedelta(hours=c.max_refresh_hint_hours),
        story_window=timedelta(hours=c.story_window_hours),
        max_entries=c.max_entries_per_feed,
        workers=c.workers,
        keep=timedelta(days=c.keep_days) if c.keep_days else None,
    )


def build_classifier(settings: Settings) -> Classifier:
    """The classifier with the shipped rules and the config's ``[classifier]`` overrides.

    Invalid overrides raise :class:`ConfigError` pointing at the config key.
    """
    try:
        return Classifier(load_rules(settings.classifier))
    except RulesError as exc:
        raise ConfigError(settings.source, f"classifier.{exc.key}", exc.reason) from None


def open_store(settings: Settings, *, upgrade: bool = True) -> Store:
    """Open (and by default migrate) the configured database and sync the feed list."""
    store = Store.open(settings.database_url, upgrade=upgrade)
    if upgrade:
        store.sync_feeds(feed_specs(settings))
    return store
