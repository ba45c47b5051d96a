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


class _Passes:
    """Counts the cyclic collector's passes over the youngest generation."""

    def __init__(self) -> None:
        self.young = 0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start" and info["generation"] == 0:
            self.young += 1


@pytest.fixture
def passes() -> Iterator[_Passes]:
    counter = _Passes()
    gc.callbacks.append(counter)
    yield counter
    gc.callbacks.remove(counter)


@pytest.fixture
def default_threshold() -> Iterator[None]:
    saved = gc.get_threshold()
    gc.set_threshold(700, 10, 10)  # CPython's default, whatever the test runner set
    yield
    gc.set_threshold(*saved)


def _allocate(count: int) -> list[list[int]]:
    """``count`` container objects that stay alive (as a collection run's entries do)."""
    return [[n] for n in range(count)]


@pytest.mark.usefixtures("default_threshold")
def test_a_bulk_job_does_not_walk_what_it_keeps_alive_again_and_again(passes: _Passes) -> None:
    gc.collect()
    passes.young = 0
    kept = _allocate(20_000)
    outside = passes.young
    assert outside >= 10  # ~28 passes; every tenth is an older generation's, not counted

    passes.young = 0
    with heap.bulk():
        kept += _allocate(20_000)
        inside = passes.young
    assert inside == 0
    assert len(kept) == 40_000


@pytest.mark.usefixtures("default_threshold")
def test_a_bulk_job_restores_the_thresholds_and_its_cycles_are_collected_after() -> None:
    seen: list[tuple[int, int, int]] = []
    garbage: list[weakref.ref[_Node]] = []

    def failing_job() -> None:
        with heap.bulk():
            seen.append(gc.get_threshold())
            garbage.append(_cycle())
            raise RuntimeError("the job failed")

    with pytest.raises(RuntimeError):
        failing_job()
    assert seen == [(heap.BULK_THRESHOLD, 10, 10)]
    assert gc.get_threshold() == (700, 10, 10)
    gc.collect(0)
    assert garbage[0]() is None


@pytest.mark.usefixtures("default_threshold")
def test_overlapping_bulk_jobs_share_the_raise_and_the_last_restores_it() -> None:
    first, second = heap.bulk(), heap.bulk()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)  # ends before the job that started after it
    assert gc.get_threshold()[0] == heap.BULK_THRESHOLD
    second.__exit__(None, None, None)
    assert gc.get_threshold() == (700, 10, 10)


def test_a_bulk_job_leaves_automatic_collection_off_when_it_is_off() -> None:
    saved = gc.get_threshold()
    gc.set_threshold(0, 10, 10)
    try:
        with heap.bulk():
            assert gc.get_threshold()[0] == 0
        assert gc.get_threshold()[0] == 0
    finally:
        gc.set_threshold(*saved)
