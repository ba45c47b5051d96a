"""Parse and classify fetched feed bodies, optionally in worker processes.

Parsing and classifying are pure and CPU-bound. Run in the collector's own process
they hold the GIL, so a large collection would slow everything else that process
does (the bot answering users) and leave the second core idle. :class:`Preparer`
therefore hands each body to a small pool of worker processes (``workers >= 1``), or
does the work in a thread of this process (``workers = 0``, handy for tests and
tiny deployments). Either way the result is the same :class:`PreparedFeed` value.

A worker that dies (killed, out of memory) breaks only the feed it was preparing:
that feed gets an error and the pool is replaced for the next one.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import datetime
from multiprocessing.context import SpawnContext, SpawnProcess
from multiprocessing.process import BaseProcess
from typing import Any

from jobs.classify import Classifier
from jobs.parse import ParsedFeed, parse_feed
from jobs.stories import TitleKeys, title_keys
from storage import Classification


@dataclass(frozen=True, slots=True)
class PrepareRequest:
    """One fetched body and what parsing it needs to know."""

    body: bytes
    content_type: str | None
    feed_url: str
    language: str | None
    now: datetime
    max_entries: int


@dataclass(frozen=True, slots=True)
class PreparedFeed:
    """A parsed feed with, per entry (same order), its classification and its title's
    story keys.

    The search index's terms are not here: the process that stores the articles
    analyses them, for the entries it stores only (most entries of a feed fetched again
    are in the archive already). Where each step runs is a matter of balance: in a
    first collection the parse worker and the storing thread each take about half the
    work.
    """

    parsed: ParsedFeed
    classifications: tuple[Classification, ...]
    story_keys: tuple[TitleKeys, ...]
    """Each title's :func:`jobs.stories.title_keys`: cheap, and it spares the storing
    thread, which matches and adds every new article's title to the story index."""


def prepare_feed(request: PrepareRequest, classifier: Classifier) -> PreparedFeed:
    """Parse ``request.body``, classify every entry and compute its title's story keys.
    Pure; never raises for bad input (a body that is not a feed comes back with
    ``parsed.error`` set)."""
    parsed = parse_feed(
        request.body,
        content_type=request.content_type,
        feed_url=request.feed_url,
        language=request.language,
        now=request.now,
        max_entries=request.max_entries,
    )
    # Every entry is classified, even those the store already has: which ones are new
    # is known only in the main process, and a second round trip to the worker would
    # cost more than classifying the few dozen entries of a changed feed.
    classifications = tuple(
        classifier.classify(
            entry.title, classifier_text(entry.summary, entry.content), entry.language
        )
        for entry in parsed.entries
    )
    story_keys = tuple(title_keys(entry.title, entry.language) for entry in parsed.entries)
    return PreparedFeed(parsed, classifications, story_keys)


def classifier_text(summary: str, content: str) -> str:
    """What the classifier reads besides the title: the summary, then the full text."""
    return f"{summary}\n{content}" if content else summary


# -- worker processes -----------------------------------------------------------------

#: How often a worker looks whether its parent process is still there.
_PARENT_CHECK_SECONDS = 1.0

_worker_classifier: Classifier | None = None


def _init_worker(classifier: Classifier, parent: int) -> None:
    global _worker_classifier  # noqa: PLW0603  (one classifier per worker process)
    _worker_classifier = classifier
    threading.Thread(
        target=_exit_with_parent, args=(parent,), name="parent-watch", daemon=True
    ).start()


def _exit_with_parent(parent: int) -> None:
    """End this worker once its parent is gone. A parent killed with SIGKILL cannot stop
    its pool, and an orphaned worker (with multiprocessing's resource tracker, which
    waits for it) would otherwise live on after every crash and restart."""
    while os.getppid() == parent:
        time.sleep(_PARENT_CHECK_SECONDS)
    os._exit(0)


def _ready() -> bool:
    return _worker_classifier is not None


def _prepare_in_worker(request: PrepareRequest) -> PreparedFeed:
    assert _worker_classifier is not None, "worker started without its initializer"
    return prepare_feed(request, _worker_classifier)


@contextlib.contextmanager
def _main_module_hidden() -> Iterator[None]:
    """While a worker is being started, hide where ``__main__`` came from.

    A "spawn" child imports its parent's main module first, so that functions defined
    there can be unpickled. The worker needs nothing from it (everything it runs lives
    in this module), and the main module is whatever started the process: for
    ``steppe run`` the whole bot (SQLAlchemy, Alembic, the Telegram library, httpx...),
    ~50 MB per worker spent on code it never calls. Without ``__spec__`` and
    ``__file__`` multiprocessing sends no main module, and the child imports only what
    unpickling the worker's task needs.
    """
    main = sys.modules["__main__"]
    missing = object()
    saved = {name: getattr(main, name, missing) for name in ("__spec__", "__file__")}
    main.__spec__ = None
    if saved["__file__"] is not missing:
        del main.__file__
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is not missing:
                setattr(main, name, value)


class _LeanSpawnProcess(SpawnProcess):
    @staticmethod
    def _Popen(process_obj: BaseProcess) -> Any:
        # Starting happens in the thread that submits work (the event loop's), once
        # per worker; nothing else reads __main__'s origin meanwhile.
        with _main_module_hidden():
            return SpawnProcess._Popen(process_obj)


class _LeanSpawnContext(SpawnContext):
    """The "spawn" start method, without re-importing the parent's main module."""

    Process = _LeanSpawnProcess


class PreparerError(RuntimeError):
    """A worker process died while preparing a body."""


class Preparer:
    """Prepares bodies in ``workers`` processes (started on first use), or in a
    thread when ``workers`` is 0. Close it with :meth:`close` (or ``with``)."""

    def __init__(self, classifier: Classifier, *, workers: int) -> None:
        if workers < 0:
            raise ValueError(f"workers must be >= 0, got {workers}")
        self._classifier = classifier
        self._workers = workers
        self._pool: ProcessPoolExecutor | None = None

    async def prepare(self, request: PrepareRequest) -> PreparedFeed:
        """Raises :class:`PreparerError` when the worker died; the next call gets a
        fresh pool."""
        if self._workers == 0:
            return await asyncio.to_thread(prepare_feed, request, self._classifier)
        pool = self._pool_or_start()
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(pool, _prepare_in_worker, request)
        except BrokenProcessPool:
            if self._pool is pool:
                self._pool = None
                pool.shutdown(wait=False, cancel_futures=True)
            raise PreparerError("the parser process died while parsing this feed") from None

    def start(self) -> None:
        """Start the worker processes now rather than on the first body.

        A worker needs about a second to import the parser and the classifier; a
        long-running service pays that at start-up instead of in its first collection.
        """
        if self._workers == 0:
            return
        pool = self._pool_or_start()
        for ready in [pool.submit(_ready) for _ in range(self._workers)]:
            ready.result()

    def _pool_or_start(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # "spawn": forking a process that runs threads (asyncio, the database
            # pool) can deadlock the child. Lean: see _LeanSpawnContext.
            self._pool = ProcessPoolExecutor(
                max_workers=self._workers,
                mp_context=_LeanSpawnContext(),
                initializer=_init_worker,
                initargs=(self._classifier, os.getpid()),
            )
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> Preparer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
