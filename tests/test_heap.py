"""The garbage collector's policy (jobs.heap): a settled process stays settled."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from jobs import heap
from jobs.heap import RunHeap


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


@pytest.fixture
def clean_heap() -> Iterator[None]:
    yield
    gc.unfreeze()
    heap._settled = False


def _cycle() -> weakref.ref[_Node]:
    """A reference cycle nothing else holds: only the cyclic collector frees it."""
    first, second = _Node(), _Node()
    first.other, second.other = second, first
    return weakref.ref(first)


@pytest.mark.usefixtures("clean_heap")
def test_a_burst_leaves_a_settled_process_settled() -> None:
    heap.settle()
    assert gc.get_freeze_count() > 0
    burst = RunHeap()
    burst.freeze()
    garbage = _cycle()  # made during the burst, dropped before it ends
    burst.thaw()
    assert gc.get_freeze_count() > 0  # the long-lived heap is frozen again
    assert garbage() is None  # and the burst's cyclic garbage was not kept


@pytest.mark.usefixtures("clean_heap")
def test_overlapping_bursts_share_one_freeze_and_an_unsettled_process_thaws() -> None:
    first, second = RunHeap(), RunHeap()
    first.freeze()
    second.freeze()
    frozen = gc.get_freeze_count()
    assert frozen > 0
    first.thaw()
    assert gc.get_freeze_count() >= frozen  # the other burst still holds it
    second.thaw()
    second.thaw()  # a second thaw is harmless
    assert gc.get_freeze_count() == 0
