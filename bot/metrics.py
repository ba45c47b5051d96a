"""The operator's metrics, in Prometheus text format (served by :mod:`bot.ops_server`).

Most figures are read from the database at scrape time by :class:`SteppeCollector`
(a custom collector: a few aggregate queries, :func:`storage.ops.snapshot`), so every
process of a deployment reports the same truth and nothing is lost on a restart:

* ``steppe_feeds{state="ok"|"failing"|"disabled"}`` — feed health;
* ``steppe_articles`` — articles stored;
* ``steppe_digests{state=...}`` — the delivery ledger's rows by state (``sent``,
  ``empty``, ``failed``, ``skipped``, ``blocked``, ``pending``, ``sending``);
* ``steppe_digests_late`` — digests due in the last day sent later than
  ``metrics.late_after_minutes`` after their time;
* ``steppe_delivery_queue_depth`` — digests due now and not delivered yet;
* ``steppe_chats_active``; ``steppe_database_up`` (0 when the scrape could not read).

What the database does not record is counted in this process
(:data:`jobs.telemetry.COUNTERS`): ``steppe_telegram_errors_total{kind}`` (429, 403,
400_parse, 400_other, 5xx, timeout: Telegram's answers to digest messages, each
attempt), ``steppe_collection_runs_total``, ``steppe_articles_collected_total`` and
``steppe_articles_updated_total``, ``steppe_feed_failures_total`` and
``steppe_articles_pruned_total``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from jobs.digest.policy import Outcome, OutcomeKind, Sender
from jobs.telemetry import (
    ARTICLES_COLLECTED,
    ARTICLES_PRUNED,
    ARTICLES_UPDATED,
    COLLECTION_RUNS,
    COUNTERS,
    FEED_FAILURES,
    TELEGRAM_ERROR_KINDS,
    TELEGRAM_ERRORS,
    Counters,
    count_telegram_error,
    log_event,
)
from storage import StorageError, Store, ops
from storage.records import FINAL_DELIVERY_STATES

log = logging.getLogger(__name__)

#: Every ledger state, so a state with no rows is exported as 0 rather than missing.
DIGEST_STATES = ("pending", "sending", *FINAL_DELIVERY_STATES)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class SteppeCollector(Collector):
    """Reads the store at each scrape; adds the process counters."""

    def __init__(
        self,
        store: Store,
        *,
        late_after: timedelta = timedelta(minutes=15),
        clock: Callable[[], datetime] = _utc_now,
        counters: Counters = COUNTERS,
    ) -> None:
        self._store = store
        self._late_after = late_after
        self._clock = clock
        self._counters = counters

    def collect(self) -> Iterable[Metric]:
        try:
            snap: ops.OpsSnapshot | None = ops.snapshot(
                self._store, now=self._clock(), late_after=self._late_after
            )
        except StorageError as exc:
            log_event(log, "metrics_scrape_failed", level=logging.WARNING, error=str(exc))
            snap = None
        yield GaugeMetricFamily(
            "steppe_database_up",
            "1 when this scrape could read the database, else 0",
            value=1 if snap is not None else 0,
        )
        if snap is not None:
            yield from _store_metrics(snap)
        yield from self._process_metrics()

    def _process_metrics(self) -> Iterable[Metric]:
        errors = CounterMetricFamily(
            "steppe_telegram_errors",
            "Telegram error answers to digest messages in this process, by kind",
            labels=["kind"],
        )
        for kind in TELEGRAM_ERROR_KINDS:
            errors.add_metric([kind], self._counters.get(TELEGRAM_ERRORS, kind=kind))
        yield errors
        for name, key, text in (
            (
                "steppe_collection_runs",
                COLLECTION_RUNS,
                "Collection runs finished in this process",
            ),
            (
                "steppe_articles_collected",
                ARTICLES_COLLECTED,
                "New articles stored by this process's collection runs",
            ),
            (
                "steppe_articles_updated",
                ARTICLES_UPDATED,
                "Stored articles updated by this process's collection runs",
            ),
            (
                "steppe_articles_pruned",
                ARTICLES_PRUNED,
                "Articles deleted as older than collection.keep_days by this process's runs",
            ),
            (
                "steppe_feed_failures",
                FEED_FAILURES,
                "Failed feed fetches in this process's collection runs",
            ),
        ):
            yield CounterMetricFamily(name, text, value=self._counters.get(key))


def _store_metrics(snap: ops.OpsSnapshot) -> Iterable[Metric]:
    feeds = GaugeMetricFamily("steppe_feeds", "Feeds by health", labels=["state"])
    feeds.add_metric(["ok"], snap.feeds_ok)
    feeds.add_metric(["failing"], snap.feeds_failing)
    feeds.add_metric(["disabled"], snap.feeds_disabled)
    yield feeds
    yield GaugeMetricFamily("steppe_articles", "Articles stored", value=snap.articles)
    digests = GaugeMetricFamily(
        "steppe_digests", "Rows of the digest delivery ledger by state", labels=["state"]
    )
    for state in sorted({*DIGEST_STATES, *snap.digests}):
        digests.add_metric([state], snap.digests.get(state, 0))
    yield digests
    yield GaugeMetricFamily(
        "steppe_digests_late",
        "Digests due in the last day that were sent later than metrics.late_after_minutes",
        value=snap.digests_late,
    )
    yield GaugeMetricFamily(
        "steppe_delivery_queue_depth",
        "Digests due now and not delivered yet (pending, sending, or not yet planned)",
        value=snap.queue_depth,
    )
    yield GaugeMetricFamily("steppe_chats_active", "Chats the bot serves", value=snap.chats_active)


def build_registry(
    store: Store,
    *,
    late_after: timedelta = timedelta(minutes=15),
    clock: Callable[[], datetime] = _utc_now,
    counters: Counters = COUNTERS,
) -> CollectorRegistry:
    """A registry with :class:`SteppeCollector` only (no global state, no duplicates)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SteppeCollector(store, late_after=late_after, clock=clock, counters=counters))
    return registry


def telegram_error_kind(outcome: Outcome) -> str | None:
    """The metric's ``kind`` of a Telegram answer; ``None`` for a message that went out."""
    match outcome.kind:
        case OutcomeKind.SENT:
            return None
        case OutcomeKind.FLOOD:
            return "429"
        case OutcomeKind.UNREACHABLE:
            return "403"
        case OutcomeKind.BAD_MARKUP:
            return "400_parse"
        case OutcomeKind.REJECTED | OutcomeKind.MIGRATED:
            return "400_other"
        case OutcomeKind.TRANSIENT:
            # python-telegram-bot's TimedOut says "Timed out"; other network errors and
            # 5xx answers carry the server's or the transport's description.
            return "timeout" if "timed out" in outcome.detail.lower() else "5xx"
    return None  # pragma: no cover


class CountingSender:
    """A digest :class:`~jobs.digest.policy.Sender` that counts Telegram's error answers
    (``steppe_telegram_errors_total``) and passes everything through unchanged."""

    def __init__(self, inner: Sender) -> None:
        self._inner = inner

    async def send(
        self, chat_id: int, text: str, *, plain: bool, footer_language: str | None
    ) -> Outcome:
        outcome = await self._inner.send(
            chat_id, text, plain=plain, footer_language=footer_language
        )
        kind = telegram_error_kind(outcome)
        if kind is not None:
            count_telegram_error(kind)
            log_event(log, "telegram_error", level=logging.DEBUG, chat=chat_id, kind=kind)
        return outcome


__all__ = [
    "DIGEST_STATES",
    "CountingSender",
    "SteppeCollector",
    "build_registry",
    "telegram_error_kind",
]
