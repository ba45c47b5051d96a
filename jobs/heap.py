"""The process's policy for the cyclic garbage collector: long-lived objects frozen.

A full collection walks every object the process holds. In ``steppe run`` most of
them live as long as the process (modules, message catalogs, classifier rules, the
bot's objects), so walking them again and again only adds latency: tens of
milliseconds to whichever search, reply or message a full pass falls in. Frozen
objects (:func:`gc.freeze`) are never walked; reference counting still frees them
when they become unreachable, so only reference cycles among them wait for the next
:func:`settle`.

* :func:`settle`: collect once, then freeze what is alive as the process's
  long-lived heap. ``steppe run`` calls it when start-up is over.
* :class:`RunHeap`: a burst of work (a digest fan-out) freezes what the process holds
  when the burst starts, and when the last burst in the process ends, the process
  settles again (if it had settled before) or thaws everything (if it never did).
* :func:`bulk`: a collection run makes objects that live until it ends (the parsed
  entries it stores, the story index); the youngest generation's threshold is raised
  meanwhile, so that the collector does not walk them again and again.

The freeze and the thresholds are process-wide: :func:`settle` and :class:`RunHeap`
run on the event loop's thread; :func:`bulk` may be entered from any thread (a test
harness runs bots on loops of their own).
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

#: The youngest generation's threshold while a bulk job runs (:func:`bulk`): how many
#: more container objects may be allocated than freed before a collection (CPython's
#: default is 700). A first collection of 10,000 articles keeps ~150,000 such objects
#: alive until it ends: at 700 the cyclic collector walked them in ~200 passes, 50-90 ms
#: of the collecting process's time (``gc.callbacks`` on bench/collect.py's feeds),
#: freeing nothing. A run of a few hundred articles now collects no cycles until it
#: ends; a huge one still does.
BULK_THRESHOLD: Final = 50_000

_settled = False
"""Whether the process froze its long-lived heap (:func:`settle`)."""
_holders = 0
"""Bursts in this process holding a freeze."""
_bulk_jobs = 0
"""Bulk jobs running in this process (:func:`bulk`)."""
_saved_threshold: tuple[int, int, int] | None = None
"""The thresholds the first of the running bulk jobs found, restored by the last."""
_bulk_lock = threading.Lock()


def settle() -> None:
    """Collect, then freeze every object alive now (see the module docstring)."""
    global _settled  # noqa: PLW0603 (one process-wide state, like the collector's)
    gc.collect()
    gc.freeze()
    _settled = True


class RunHeap:
    """Keeps full collections off the heap the process held when a burst of work
    began, until it ends: :meth:`freeze` when the burst starts allocating, then
    :meth:`thaw` (safe to call when not frozen). Bursts that overlap share one freeze.
    """

    def __init__(self) -> None:
        self._holding = False

    def freeze(self) -> None:
        """Set the heap aside for this burst (the first call; later ones do nothing)."""
        global _holders  # noqa: PLW0603
        if self._holding:
            return
        self._holding = True
        _holders += 1
        if _holders == 1:
            gc.collect()
            gc.freeze()

    def thaw(self) -> None:
        """This burst is over: the last one lifts the freeze, and a settled process
        freezes what is still alive afterwards (its long-lived heap again)."""
        global _holders  # noqa: PLW0603
        if not self._holding:
            return
        self._holding = False
        _holders -= 1
        if _holders == 0:
            gc.unfreeze()
            if _settled:
                settle()


@contextmanager
def bulk() -> Iterator[None]:
    """Run a bulk job (a collection) with the youngest generation's threshold at
    :data:`BULK_THRESHOLD` at least. Jobs that overlap share the raise; when the last
    one ends, the thresholds are back to what the first one found.

    Cyclic garbage made meanwhile waits for the next collection, which comes when the
    job ends and the process allocates on (or, in a job that keeps allocating, after
    :data:`BULK_THRESHOLD` objects): reference counting still frees everything else.
    """
    global _bulk_jobs, _saved_threshold  # noqa: PLW0603
    with _bulk_lock:
        if _bulk_jobs == 0:
            _saved_threshold = gc.get_threshold()
            youngest, *older = _saved_threshold
            if youngest != 0:  # 0: automatic collection is off, and stays off
                gc.set_threshold(max(youngest, BULK_THRESHOLD), *older)
        _bulk_jobs += 1
    try:
        yield
    finally:
        with _bulk_lock:
            _bulk_jobs -= 1
            if _bulk_jobs == 0 and _saved_threshold is not None:
                gc.set_threshold(*_saved_threshold)
                _saved_threshold = None
