"""One collection run: the refresh pipeline, read as a recipe.

For every feed that is due: conditional GET -> parse -> de-duplicate -> classify ->
group into stories -> store -> schedule the next attempt. Fetches run concurrently
(bounded by the fetcher); the processing of fetched bodies is serialised, because it
shares the story index and the database writer.

A broken feed is a value, not an exception: it becomes a :class:`FeedReport` with
status ``failed`` and its reason, is written to the feed's health, and the run goes on.
Only a run that cannot happen at all (no database) raises.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from jobs.classify import Classifier
from jobs.errors import JobsError
from jobs.fetch import FeedFetcher, FetchResult, FetchSettings, FetchStatus
from jobs.health import is_due, next_attempt_at
from jobs.parse import ParsedEntry
from jobs.prepare import PreparedFeed, Preparer, PrepareRequest, PreparerError
from jobs.stories import StoryIndex
from jobs.telemetry import log_event
from storage import (
    MAX_URL_LENGTH,
    ArticleInput,
    Classification,
    FeedState,
    FetchRecord,
    KnownArticle,
    Store,
)

log = logging.getLogger(__name__)

#: Candidates older than the story window are loaded with this slack, because a
#: new article may be dated a little before the newest article of a story.
_STORY_SLACK = timedelta(hours=24)
#: Feed health records are written in batches of this many (and at the end of a run):
#: a run of up to this many feeds writes all its health in one transaction, a bigger
#: one still saves its progress as it goes.
_HEALTH_BATCH = 256


class CollectionBusyError(JobsError):
    """A collection is already running in this process; runs never overlap."""


class FeedStatus(StrEnum):
    """What happened to one feed in a run."""

    FETCHED = "fetched"
    """A new body was parsed and its entries stored."""
    NOT_MODIFIED = "not_modified"
    """The server answered 304."""
    UNCHANGED = "unchanged"
    """The body was byte-identical to the last one: not parsed."""
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class FeedReport:
    """One feed's outcome in a collection run."""

    key: str
    name: str
    status: FeedStatus
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    """Entries already stored with the same content, or stored from another feed."""
    skipped: int = 0
    """Entries that cannot be articles (no usable http(s) link, absurdly long address)."""
    error: str | None = None
    warnings: tuple[str, ...] = ()
    next_attempt_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class CollectionReport:
    """Everything one run did, for the CLI, logs and (later) /stats."""

    started_at: datetime
    finished_at: datetime
    feeds: tuple[FeedReport, ...]
    not_due: int = 0
    """Enabled feeds skipped because their next attempt is later (backoff)."""

    @property
    def new(self) -> int:
        return sum(report.new for report in self.feeds)

    @property
    def updated(self) -> int:
        return sum(report.updated for report in self.feeds)

    @property
    def failed(self) -> int:
        return sum(report.status is FeedStatus.FAILED for report in self.feeds)


@dataclass(frozen=True, slots=True)
class CollectSettings:
    """How a collection behaves; built from the ``[collection]`` config table."""

    fetch: FetchSettings = field(default_factory=FetchSettings)
    interval: timedelta = timedelta(minutes=30)
    max_backoff: timedelta = timedelta(hours=6)
    story_window: timedelta = timedelta(hours=48)
    max_entries: int = 500
    workers: int = 0
    """Processes that parse and classify bodies; 0 does it in a thread of this one."""


def utc_now() -> datetime:
    """The real clock; tests pass their own."""
    return datetime.now(UTC)


class _LazyStoryIndex:
    """The story index of recent articles, loaded on first use.

    A run in which every feed answers 304 or an identical body never needs it, and
    loading it (thousands of recent titles) would dominate such a run.
    """

    def __init__(self, store: Store, *, since: datetime, window: timedelta) -> None:
        self._store = store
        self._since = since
        self._window = window
        self._index: StoryIndex | None = None

    def __call__(self) -> StoryIndex:
        if self._index is None:
            candidates = self._store.story_candidates(self._since)
            self._index = StoryIndex.from_candidates(candidates, window=self._window)
        return self._index


@dataclass(slots=True)
class _Tally:
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0


class Collector:
    """Runs collections against one store. Never two at once in one process."""

    def __init__(
        self,
        store: Store,
        classifier: Classifier,
        settings: CollectSettings,
        *,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._store = store
        self._settings = settings
        self._clock = clock
        self._lock = asyncio.Lock()
        self._preparer = Preparer(classifier, workers=settings.workers)

    def start(self) -> None:
        """Start the parse/classify worker processes now (otherwise: on first use)."""
        self._preparer.start()

    def close(self) -> None:
        """Stop the worker processes (if any were started)."""
        self._preparer.close()

    def __enter__(self) -> Collector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def wait_idle(self) -> None:
        """Return once no collection is running (for a clean shutdown)."""
        async with self._lock:
            pass

    async def run(self, *, force: bool = False, only: Sequence[str] = ()) -> CollectionReport:
        """Collect every due feed (every enabled feed with ``force``; only ``only``
        keys when given). Raises :class:`CollectionBusyError` when a run is going on."""
        if self._lock.locked():
            raise CollectionBusyError("a collection is already running")
        async with self._lock:
            return await self._run(force=force, only=frozenset(only))

    async def _run(self, *, force: bool, only: frozenset[str]) -> CollectionReport:
        started = self._clock()
        states = await asyncio.to_thread(self._store.feed_states)
        if only:
            states = [state for state in states if state.spec.key in only]
        due = [s for s in states if force or is_due(s.next_attempt_at, started)]
        if not due:
            return CollectionReport(started, self._clock(), (), not_due=len(states))
        index = _LazyStoryIndex(
            self._store,
            since=started - self._settings.story_window - _STORY_SLACK,
            window=self._settings.story_window,
        )
        # Storing shares the story index and the database writer: one at a time.
        writer = asyncio.Lock()
        reports: list[FeedReport] = []
        health: list[tuple[int, FetchRecord]] = []

        async def flush_health() -> None:
            async with writer:
                batch = health[:]
                del health[:]
                if batch:
                    await asyncio.to_thread(self._store.record_fetches, batch)

        async def one(fetcher: FeedFetcher, state: FeedState) -> None:
            try:
                result = await fetcher.fetch(state.spec.url, state.validators)
                if result.status is FetchStatus.FETCHED:
                    prepared = await self._prepare(state, result)
                    async with writer:
                        report, record = await asyncio.to_thread(
                            self._store_body, state, result, prepared, index
                        )
                else:
                    report, record = self._outcome_without_body(state, result, self._clock())
            except Exception as exc:  # a bug met by one feed must not end the whole run
                log_event(
                    log, "feed_crashed", level=logging.ERROR, exc_info=True, feed=state.spec.key
                )
                reason = f"internal error: {type(exc).__name__}: {exc}"
                report, record = self._fail(state, self._clock(), reason)
            reports.append(report)
            _log_report(report)
            health.append((state.id, record))
            if len(health) >= _HEALTH_BATCH:
                await flush_health()

        try:
            async with FeedFetcher(self._settings.fetch) as fetcher, asyncio.TaskGroup() as group:
                for state in due:
                    group.create_task(one(fetcher, state))
        finally:
            # Written even when the run is cancelled: what was fetched stays recorded.
            await flush_health()

        order = {state.spec.key: position for position, state in enumerate(due)}
        reports.sort(key=lambda report: order[report.key])
        return CollectionReport(
            started_at=started,
            finished_at=self._clock(),
            feeds=tuple(reports),
            not_due=len(states) - len(due),
        )

    async def _prepare(self, state: FeedState, result: FetchResult) -> PreparedFeed | str:
        """Parse and classify a fetched body; a dead worker becomes this feed's error."""
        request = PrepareRequest(
            body=result.body or b"",
            content_type=result.content_type,
            feed_url=result.final_url,
            language=state.spec.language,
            now=self._clock(),
            max_entries=self._settings.max_entries,
        )
        try:
            return await self._preparer.prepare(request)
        except PreparerError as exc:
            log_event(log, "parser_died", level=logging.ERROR, feed=state.spec.key, error=str(exc))
            return str(exc)

    def _outcome_without_body(
        self, state: FeedState, result: FetchResult, now: datetime
    ) -> tuple[FeedReport, FetchRecord]:
        """A failed fetch, a 304 or a byte-identical body: nothing to parse or store."""
        if result.status is FetchStatus.FAILED:
            reason = result.error or "fetch failed"
            return self._fail(state, now, reason, retry_after=result.retry_after)
        status = (
            FeedStatus.NOT_MODIFIED
            if result.status is FetchStatus.NOT_MODIFIED
            else FeedStatus.UNCHANGED
        )
        return self._succeed(
            state=state, now=now, result=result, status=status, tally=_Tally(), warnings=()
        )

    def _store_body(
        self,
        state: FeedState,
        result: FetchResult,
        prepared: PreparedFeed | str,
        index: _LazyStoryIndex,
    ) -> tuple[FeedReport, FetchRecord]:
        """Store a prepared body's articles (sync, in a worker thread). Any failure here
        is this feed's failure, never the run's."""
        now = self._clock()
        if isinstance(prepared, str):
            return self._fail(state, now, prepared)
        parsed = prepared.parsed
        if parsed.error is not None:
            # Validators are not advanced: the next fetch must parse again.
            return self._fail(state, now, parsed.error)
        try:
            tally = self._store_entries(state, prepared, index, now)
        except Exception as exc:  # one feed's surprise must not stop the others
            log_event(log, "store_failed", level=logging.ERROR, exc_info=True, feed=state.spec.key)
            return self._fail(state, now, f"could not store: {type(exc).__name__}: {exc}")
        tally.skipped += parsed.skipped
        return self._succeed(
            state=state,
            now=now,
            result=result,
            status=FeedStatus.FETCHED,
            tally=tally,
            warnings=tuple(parsed.warnings),
        )

    def _store_entries(
        self,
        state: FeedState,
        prepared: PreparedFeed,
        index: _LazyStoryIndex,
        now: datetime,
    ) -> _Tally:
        tally = _Tally()
        entries = prepared.parsed.entries
        known = self._store.known_articles(
            state.id, (entry.guid for entry in entries), (entry.url for entry in entries)
        )
        by_guid = {k.guid: k for k in known if k.feed_id == state.id}
        by_url = {k.url: k for k in known}
        new: list[tuple[ArticleInput, int | None]] = []
        updated: list[tuple[int, ArticleInput]] = []
        seen_urls: set[str] = set()
        seen_ids: set[int] = set()
        for entry, classification in zip(entries, prepared.classifications, strict=True):
            if len(entry.url) > MAX_URL_LENGTH or len(entry.guid) > MAX_URL_LENGTH:
                tally.skipped += 1  # no real article needs a 2 KB address
                continue
            if entry.url in seen_urls:
                tally.unchanged += 1
                continue
            seen_urls.add(entry.url)
            existing = _same_article(entry, by_guid, by_url)
            if existing is None:
                story = index().match(
                    feed_id=state.id,
                    title=entry.title,
                    language=entry.language,
                    published_at=entry.published_at,
                )
                new.append((_article(entry, classification), story))
                continue
            owner = by_url.get(entry.url)
            if (
                existing.feed_id != state.id  # already stored from another outlet
                or existing.id in seen_ids  # two entries of this document are one article
                or existing.content_hash == entry.content_hash
                or (owner is not None and owner.id != existing.id)  # URL taken by another
            ):
                tally.unchanged += 1
                continue
            seen_ids.add(existing.id)
            updated.append((existing.id, _article(entry, classification)))
        if not new and not updated:
            return tally
        saved = self._store.save_articles(state.id, new, updated, now=now)
        for (article, _), row in zip(new, saved, strict=False):
            index().add(
                article_id=row.id,
                story_id=row.story_id,
                feed_id=state.id,
                title=article.title,
                language=article.language,
                published_at=article.published_at,
            )
        tally.new += len(new)
        tally.updated += len(updated)
        return tally

    def _succeed(
        self,
        *,
        state: FeedState,
        now: datetime,
        result: FetchResult,
        status: FeedStatus,
        tally: _Tally,
        warnings: tuple[str, ...],
    ) -> tuple[FeedReport, FetchRecord]:
        upcoming = next_attempt_at(
            now,
            interval=self._settings.interval,
            consecutive_failures=0,
            max_backoff=self._settings.max_backoff,
        )
        record = FetchRecord(
            attempted_at=now,
            succeeded=True,
            error=None,
            validators=result.validators,
            next_attempt_at=upcoming,
        )
        report = FeedReport(
            key=state.spec.key,
            name=state.spec.name,
            status=status,
            new=tally.new,
            updated=tally.updated,
            unchanged=tally.unchanged,
            skipped=tally.skipped,
            warnings=warnings,
            next_attempt_at=upcoming,
        )
        return report, record

    def _fail(
        self, state: FeedState, now: datetime, reason: str, *, retry_after: float | None = None
    ) -> tuple[FeedReport, FetchRecord]:
        upcoming = next_attempt_at(
            now,
            interval=self._settings.interval,
            consecutive_failures=state.consecutive_failures + 1,
            retry_after=retry_after,
            max_backoff=self._settings.max_backoff,
        )
        record = FetchRecord(
            attempted_at=now,
            succeeded=False,
            error=reason,
            validators=None,
            next_attempt_at=upcoming,
        )
        report = FeedReport(
            key=state.spec.key,
            name=state.spec.name,
            status=FeedStatus.FAILED,
            error=reason,
            next_attempt_at=upcoming,
        )
        return report, record


def _article(entry: ParsedEntry, classification: Classification) -> ArticleInput:
    return ArticleInput(
        guid=entry.guid,
        url=entry.url,
        title=entry.title,
        summary=entry.summary,
        content=entry.content,
        language=entry.language,
        published_at=entry.published_at,
        content_hash=entry.content_hash,
        classification=classification,
    )


def _same_article(
    entry: ParsedEntry,
    by_guid: dict[str, KnownArticle],
    by_url: dict[str, KnownArticle],
) -> KnownArticle | None:
    """The stored article this entry is: same guid in this feed, else same URL anywhere.

    A URL match in the same feed is the same article whose guid changed (some feeds
    rewrite guids); a URL match in another feed is the same article syndicated.
    """
    found = by_guid.get(entry.guid)
    if found is not None:
        return found
    return by_url.get(entry.url)


def _log_report(report: FeedReport) -> None:
    """One line per feed: a failure at WARNING, anything else at DEBUG (INFO stays
    quiet; the scheduler logs the run's summary)."""
    if report.status is FeedStatus.FAILED:
        log_event(log, "feed_failed", level=logging.WARNING, feed=report.key, error=report.error)
    else:
        log_event(
            log,
            "feed_collected",
            level=logging.DEBUG,
            feed=report.key,
            status=report.status.value,
            new=report.new,
            updated=report.updated,
            unchanged=report.unchanged,
        )
