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

The freeze is process-wide, so everything here runs on the event loop's thread.
"""

from __future__ import annotations

import gc

_settled = False
"""Whether the process froze its long-lived heap (:func:`settle`)."""
_holders = 0
"""Bursts in this process holding a freeze."""


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
