"""One collection run: the refresh pipeline, read as a recipe.

For every feed that is due: conditional GET -> parse -> de-duplicate -> classify ->
group into stories -> store -> schedule the next attempt. Fetches run concurrently
(bounded by the fetcher); the processing of fetched bodies is serialised, because it
shares the story index and the database writer. Bodies that are ready while another
batch is being stored wait and are then stored together, in one transaction: one
commit for many feeds. Should that fail, each feed is stored again in a transaction of
its own, so a feed that cannot be stored never costs the others their articles.

A broken feed is a value, not an exception: it becomes a :class:`FeedReport` with
status ``failed`` and its reason, is written to the feed's health, and the run goes on.
Only a run that cannot happen raises: no database at the start, or the database gone
(or locked past its busy timeout) while storing. That is not the feeds' fault, so it
is not written to their health (no backoff, no false alert to the admins): the run
stops with :class:`~storage.DatabaseUnavailableError`, what it had stored stays, and
the feeds it had not stored are collected again by the next run.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from jobs import heap
from jobs.classify import Classifier
from jobs.errors import JobsError
from jobs.fetch import FeedFetcher, FetchResult, FetchSettings, FetchStatus, load_certificates
from jobs.health import is_due, next_attempt_at, refresh_hint
from jobs.parse import ParsedEntry
from jobs.prepare import PreparedFeed, Preparer, PrepareRequest, PreparerError
from jobs.stories import StoryIndex, TitleKeys
from jobs.telemetry import log_event
from storage import (
    MAX_URL_LENGTH,
    ArticleInput,
    ArticleWriter,
    Classification,
    DatabaseUnavailableError,
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
#: Batches of old articles one run deletes at most (:meth:`Store.prune_articles`): the
#: first run after ``keep_days`` is set on a large archive must not hold collection
#: up for long; the rest goes in the next runs.
_PRUNE_BATCHES = 20
#: Fetched bodies waiting to be stored are stored together, in one transaction, up to
#: about this many entries (a single bigger feed still goes alone): few commits, and a
#: transaction that keeps the database's write lock for a fraction of a second only.
_STORE_BATCH_ENTRIES = 2000
#: While other feeds are still being fetched or parsed, storing waits until bodies
#: with at least this many entries are ready: a commit costs about as much as storing
#: 20-50 articles, and storing as each body came committed once per feed.
_STORE_GATHER_ENTRIES = 500
#: ... but never longer than this: a slow outlet must not hold the others' articles.
_STORE_GATHER_SECONDS = 1.0


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
    expired: int = 0
    """Entries published before the archive keeps articles (:attr:`CollectSettings.keep`):
    not stored, since the archive would delete them again."""
    error: str | None = None
    warnings: tuple[str, ...] = ()
    next_attempt_at: datetime | None = None
    refresh_hint: timedelta | None = None
    """How long the outlet asked for its feed not to be fetched again, when that put
    :attr:`next_attempt_at` past the regular interval (capped: see
    :attr:`CollectSettings.max_refresh_hint`)."""


@dataclass(frozen=True, slots=True)
class CollectionReport:
    """Everything one run did, for the CLI, logs and (later) /stats."""

    started_at: datetime
    finished_at: datetime
    feeds: tuple[FeedReport, ...]
    not_due: int = 0
    """Enabled feeds skipped because their next attempt is later (backoff)."""
    pruned: int = 0
    """Articles deleted as older than the archive keeps (:attr:`CollectSettings.keep`)."""

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
    max_refresh_hint: timedelta = timedelta(hours=2)
    """Longest wait beyond ``interval`` that a feed's own freshness hints (its HTTP
    caching headers, its RSS ``<ttl>``) may ask for; zero ignores them."""
    story_window: timedelta = timedelta(hours=48)
    max_entries: int = 500
    workers: int = 0
    """Processes that parse and classify bodies; 0 does it in a thread of this one."""
    keep: timedelta | None = None
    """How long after its publication the archive keeps an article; ``None``: for ever.
    Each run deletes older articles (a bounded number) and does not store entries older
    than that."""


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

    def reset(self) -> None:
        """Forget the index (it is loaded again on next use): a transaction whose
        articles it holds was rolled back."""
        self._index = None


@dataclass(slots=True)
class _Tally:
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    expired: int = 0


#: A feed's report and the health record it leaves.
_Outcome = tuple["FeedReport", FetchRecord]


@dataclass(slots=True)
class _Fetched:
    """A fetched and prepared body waiting to be stored, and where its outcome goes."""

    state: FeedState
    result: FetchResult
    prepared: PreparedFeed | str
    outcome: asyncio.Future[_Outcome]

    @property
    def entries(self) -> int:
        return 0 if isinstance(self.prepared, str) else len(self.prepared.parsed.entries)


class _Arrivals:
    """How many feeds of a run may still bring a body to store, and a signal when one
    no longer may (it brought its body, or it ended without one)."""

    def __init__(self, feeds: int) -> None:
        self.pending = feeds
        self._changed = asyncio.Event()

    def settle(self) -> None:
        """One feed will bring no (further) body."""
        self.pending -= 1
        self._changed.set()

    async def gather(self, waiting: deque[_Fetched]) -> None:
        """Return once the waiting bodies hold :data:`_STORE_GATHER_ENTRIES` entries,
        no other body can come, or :data:`_STORE_GATHER_SECONDS` have passed."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _STORE_GATHER_SECONDS
        while self.pending > 0 and sum(item.entries for item in waiting) < _STORE_GATHER_ENTRIES:
            left = deadline - loop.time()
            if left <= 0:
                return
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except TimeoutError:
                return


@dataclass(frozen=True, slots=True)
class _Joined:
    """A stored new article the story index must learn about."""

    article_id: int
    story_id: int
    title: str
    language: str
    published_at: datetime
    keys: TitleKeys


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
        """Start the parse/classify worker processes and load the CA certificates now
        (otherwise: on first use, in the first collection)."""
        load_certificates(self._settings.fetch)
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
            # What a run allocates lives until it ends: see jobs.heap.bulk.
            with heap.bulk():
                return await self._run(force=force, only=frozenset(only))

    async def _run(self, *, force: bool, only: frozenset[str]) -> CollectionReport:
        started = self._clock()
        # The article counts are for the CLI's listing; a run does not need them.
        states = await asyncio.to_thread(self._store.feed_states, article_counts=False)
        if only:
            states = [state for state in states if state.spec.key in only]
        due = [s for s in states if force or is_due(s.next_attempt_at, started)]
        if not due:
            pruned = await self._prune(started)
            return CollectionReport(started, self._clock(), (), not_due=len(states), pruned=pruned)
        index = _LazyStoryIndex(
            self._store,
            since=started - self._settings.story_window - _STORY_SLACK,
            window=self._settings.story_window,
        )
        # Storing shares the story index and the database writer: one batch at a time.
        writer = asyncio.Lock()
        waiting: deque[_Fetched] = deque()
        arrivals = _Arrivals(len(due))
        reports: list[FeedReport] = []
        health: list[tuple[int, FetchRecord]] = []

        async def flush_health() -> None:
            async with writer:
                batch = health[:]
                del health[:]
                if batch:
                    await asyncio.to_thread(self._store.record_fetches, batch)

        async def store(fetched: _Fetched) -> _Outcome:
            """Store this body, with whatever else is waiting by the time the writer is
            free (it may have been stored already, in the batch of a body before it)."""
            waiting.append(fetched)
            while not fetched.outcome.done():
                async with writer:
                    if fetched.outcome.done():
                        break
                    # Other feeds cannot be stored meanwhile anyway: wait for some.
                    await arrivals.gather(waiting)
                    batch = _take_batch(waiting)
                    try:
                        outcomes = await asyncio.to_thread(self._store_bodies, batch, index)
                    except BaseException as exc:
                        for item in batch:
                            _settle(item.outcome, exc)
                        raise
                    for item, outcome in zip(batch, outcomes, strict=True):
                        item.outcome.set_result(outcome)
            return fetched.outcome.result()

        async def one(fetcher: FeedFetcher, state: FeedState) -> None:
            try:
                try:
                    result = await fetcher.fetch(state.spec.url, state.validators)
                    fetched = result.status is FetchStatus.FETCHED
                    prepared = await self._prepare(state, result) if fetched else None
                finally:
                    # Before anything else can run: store() queues the body (if any) in
                    # this same step, so a storer waiting for bodies sees it queued.
                    arrivals.settle()
                if prepared is not None:
                    outcome = asyncio.get_running_loop().create_future()
                    report, record = await store(_Fetched(state, result, prepared, outcome))
                else:
                    report, record = self._outcome_without_body(state, result, self._clock())
            except DatabaseUnavailableError:
                raise  # the run's failure, not this feed's: see the module docstring
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
        except BaseExceptionGroup as failures:
            # The first feed that met the database gone ended the run (TaskGroup
            # cancelled the others): raise that alone, as this layer's own error.
            unavailable, _ = failures.split(DatabaseUnavailableError)
            if unavailable is None:
                raise
            leaf = _first_leaf(unavailable)
            raise leaf from leaf.__cause__
        finally:
            # Written even when the run is cancelled: what was fetched stays recorded.
            await flush_health()

        order = {state.spec.key: position for position, state in enumerate(due)}
        reports.sort(key=lambda report: order[report.key])
        pruned = await self._prune(started)
        return CollectionReport(
            started_at=started,
            finished_at=self._clock(),
            feeds=tuple(reports),
            not_due=len(states) - len(due),
            pruned=pruned,
        )

    async def _prune(self, now: datetime) -> int:
        """Delete the articles the archive no longer keeps (at most :data:`_PRUNE_BATCHES`
        batches a run); how many."""
        keep = self._settings.keep
        if keep is None:
            return 0
        pruned = await asyncio.to_thread(
            self._store.prune_articles, now - keep, max_batches=_PRUNE_BATCHES
        )
        if pruned:
            log_event(log, "archive_pruned", articles=pruned, keep_days=keep.days)
        return pruned

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

    def _store_bodies(self, batch: Sequence[_Fetched], index: _LazyStoryIndex) -> list[_Outcome]:
        """Store prepared bodies (sync, in a worker thread); each one's outcome, in
        order. Never raises for a feed.

        All the bodies go in one transaction. If anything fails in it, it is rolled
        back and every feed is stored again alone: the one that cannot be stored (a
        refused row, a bug met by its entries, the database gone) fails by itself.
        Failures are rare, and a savepoint per feed cost more than a whole retry.
        Raises :class:`DatabaseUnavailableError` when a feed stored alone meets the
        database unavailable (a dropped connection is retried by that second attempt,
        on a fresh connection).
        """
        now = self._clock()
        outcomes: list[_Outcome | None] = [None] * len(batch)
        storable: list[tuple[int, FeedState, PreparedFeed]] = []
        for position, item in enumerate(batch):
            prepared = item.prepared
            if isinstance(prepared, str):
                outcomes[position] = self._fail(item.state, now, prepared)
            elif prepared.parsed.error is not None:
                # Validators are not advanced: the next fetch must parse again.
                outcomes[position] = self._fail(item.state, now, prepared.parsed.error)
            else:
                storable.append((position, item.state, prepared))

        def stored(position: int, state: FeedState, prepared: PreparedFeed, tally: _Tally) -> None:
            outcomes[position] = self._succeed(
                state=state,
                now=now,
                result=batch[position].result,
                status=FeedStatus.FETCHED,
                tally=tally,
                warnings=tuple(prepared.parsed.warnings),
                ttl=prepared.parsed.ttl,
            )

        alone = storable
        if len(storable) > 1:
            try:
                tallies = self._store_feeds([(s, p) for _, s, p in storable], index, now)
            except Exception:  # which feed, if any, is to blame is not known: retry alone
                log_event(
                    log,
                    "store_batch_failed",
                    level=logging.WARNING,
                    exc_info=True,
                    feeds=len(storable),
                )
            else:
                for (position, state, prepared), tally in zip(storable, tallies, strict=True):
                    stored(position, state, prepared, tally)
                alone = []
        for position, state, prepared in alone:
            try:
                [tally] = self._store_feeds([(state, prepared)], index, now)
            except DatabaseUnavailableError:
                raise  # not this feed's failure: the run stops (module docstring)
            except Exception as exc:  # one feed's surprise must not stop the others
                log_event(
                    log, "store_failed", level=logging.ERROR, exc_info=True, feed=state.spec.key
                )
                outcomes[position] = self._fail(
                    state, now, f"could not store: {type(exc).__name__}: {exc}"
                )
            else:
                stored(position, state, prepared, tally)
        return [outcome for outcome in outcomes if outcome is not None]

    def _store_feeds(
        self,
        feeds: Sequence[tuple[FeedState, PreparedFeed]],
        index: _LazyStoryIndex,
        now: datetime,
    ) -> list[_Tally]:
        """Store feeds' entries in one transaction; their tallies. Raises (and nothing
        is written) if any of them fails."""
        tallies: list[_Tally] = []
        try:
            with self._store.article_writer() as writer:
                for state, prepared in feeds:
                    tally, joined = self._store_entries(writer, state, prepared, index, now)
                    if joined:
                        # At once: the next feed of the batch may join these stories.
                        stories = index()
                        for article in joined:
                            stories.add(
                                article_id=article.article_id,
                                story_id=article.story_id,
                                feed_id=state.id,
                                title=article.title,
                                language=article.language,
                                published_at=article.published_at,
                                keys=article.keys,
                            )
                    tally.skipped += prepared.parsed.skipped
                    tallies.append(tally)
        except BaseException:
            # The story index may hold articles that were rolled back.
            index.reset()
            raise
        return tallies

    def _store_entries(
        self,
        writer: ArticleWriter,
        state: FeedState,
        prepared: PreparedFeed,
        index: _LazyStoryIndex,
        now: datetime,
    ) -> tuple[_Tally, list[_Joined]]:
        """De-duplicate, group and save one feed's entries; the tally and the new
        articles the story index must learn."""
        tally = _Tally()
        entries = prepared.parsed.entries
        known = writer.known_articles(
            state.id, (entry.guid for entry in entries), (entry.url for entry in entries)
        )
        by_guid = {k.guid: k for k in known if k.feed_id == state.id}
        by_url = {k.url: k for k in known}
        new: list[tuple[ArticleInput, int | None]] = []
        updated: list[tuple[int, ArticleInput]] = []
        seen_urls: set[str] = set()
        seen_ids: set[int] = set()
        new_keys: list[TitleKeys] = []
        keep = self._settings.keep
        oldest = None if keep is None else now - keep
        for entry, classification, keys in zip(
            entries, prepared.classifications, prepared.story_keys, strict=True
        ):
            if len(entry.url) > MAX_URL_LENGTH or len(entry.guid) > MAX_URL_LENGTH:
                tally.skipped += 1  # no real article needs a 2 KB address
                continue
            if oldest is not None and entry.published_at < oldest and not entry.published_estimated:
                tally.expired += 1  # the next run would delete it, the one after store it again
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
                    keys=keys,
                )
                new.append((article_input(entry, classification), story))
                new_keys.append(keys)
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
            updated.append((existing.id, article_input(entry, classification)))
        if not new and not updated:
            return tally, []
        saved = writer.save_articles(state.id, new, updated, now=now)
        joined = [
            _Joined(
                row.id, row.story_id, article.title, article.language, article.published_at, keys
            )
            for (article, _), row, keys in zip(new, saved, new_keys, strict=False)
        ]
        tally.new += len(new)
        tally.updated += len(updated)
        return tally, joined

    def _succeed(
        self,
        *,
        state: FeedState,
        now: datetime,
        result: FetchResult,
        status: FeedStatus,
        tally: _Tally,
        warnings: tuple[str, ...],
        ttl: timedelta | None = None,
    ) -> tuple[FeedReport, FetchRecord]:
        """The report and health record of a successful fetch. ``ttl`` is the parsed
        feed's ``<ttl>`` (none for a 304 or an identical body: not parsed again); with
        the response's own freshness it may put the next attempt past the interval."""
        hint = refresh_hint(
            fresh_for=result.fresh_for, ttl=ttl, ceiling=self._settings.max_refresh_hint
        )
        if result.moved_to is not None:
            # The feeds come from the operator's config, which this process does not
            # rewrite: say so on every run until the address is updated there.
            warnings = (*warnings, f"moved permanently to {result.moved_to}: update its url")
            log_event(
                log, "feed_moved", level=logging.WARNING, feed=state.spec.key, to=result.moved_to
            )
        upcoming = next_attempt_at(
            now,
            interval=self._settings.interval,
            consecutive_failures=0,
            max_backoff=self._settings.max_backoff,
            hint=hint,
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
            expired=tally.expired,
            warnings=warnings,
            next_attempt_at=upcoming,
            refresh_hint=hint if hint is not None and hint > self._settings.interval else None,
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


def _take_batch(waiting: deque[_Fetched]) -> list[_Fetched]:
    """The oldest waiting bodies, up to :data:`_STORE_BATCH_ENTRIES` entries (at least one)."""
    batch = [waiting.popleft()]
    entries = batch[0].entries
    while waiting and entries + waiting[0].entries <= _STORE_BATCH_ENTRIES:
        entries += waiting[0].entries
        batch.append(waiting.popleft())
    return batch


def _first_leaf(group: BaseExceptionGroup[DatabaseUnavailableError]) -> DatabaseUnavailableError:
    """The first exception of a (possibly nested) exception group."""
    first = group.exceptions[0]
    return first if isinstance(first, DatabaseUnavailableError) else _first_leaf(first)


def _settle(outcome: asyncio.Future[_Outcome], exc: BaseException) -> None:
    """Pass a batch's failure on to a body waiting for its outcome."""
    if outcome.done():
        return
    if isinstance(exc, asyncio.CancelledError):
        outcome.cancel()
    else:
        outcome.set_exception(exc)
        # Marked as seen: the storer raises it itself, and a waiter the run's end has
        # cancelled would otherwise have asyncio log it as "never retrieved".
        outcome.exception()


def article_input(entry: ParsedEntry, classification: Classification) -> ArticleInput:
    """What the store is given for a parsed and classified entry."""
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
