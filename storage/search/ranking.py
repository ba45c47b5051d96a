"""Ordering candidates: relevance with a gentle boost for recency, one hit per story. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from storage.search.index import Candidate

#: Share of the score that comes from recency: enough to order matches of similar
#: relevance newest first, too little to lift a passing mention above a headline.
RECENCY_WEIGHT: Final = 0.25
#: Recency halves every this many days.
HALF_LIFE_DAYS: Final = 7.0


@dataclass(frozen=True, slots=True)
class RankedStory:
    """A story's best candidate, its score, and the other feeds whose articles matched."""

    best: Candidate
    score: float
    other_feed_ids: tuple[int, ...]


def recency(published_at: datetime, now: datetime) -> float:
    """1.0 for now (or the future), halving every :data:`HALF_LIFE_DAYS`."""
    age_days = max(0.0, (now - published_at).total_seconds() / 86400)
    return float(0.5 ** (age_days / HALF_LIFE_DAYS))


def rank(candidates: Sequence[Candidate], now: datetime) -> list[RankedStory]:
    """One entry per story, best first.

    Relevance is scaled to the best candidate's (the backends' scales differ: bm25
    against ts_rank), then ``score = (1 - w) * relevance + w * recency``. Without
    relevance (a filter-only query) the score is recency alone. Ties go to the newer
    article, then the higher id, so the order is total and pages never overlap.
    """
    top = max((candidate.relevance for candidate in candidates), default=0.0)
    stories: dict[int, list[tuple[float, Candidate]]] = {}
    for candidate in candidates:
        fresh = recency(candidate.published_at, now)
        if top > 0:
            score = (1 - RECENCY_WEIGHT) * (candidate.relevance / top) + RECENCY_WEIGHT * fresh
        else:
            score = fresh
        stories.setdefault(candidate.story_id, []).append((score, candidate))
    ranked: list[RankedStory] = []
    for members in stories.values():
        members.sort(key=_order, reverse=True)
        score, best = members[0]
        others = tuple(
            dict.fromkeys(
                candidate.feed_id
                for _, candidate in members[1:]
                if candidate.feed_id != best.feed_id
            )
        )
        ranked.append(RankedStory(best, score, others))
    ranked.sort(key=lambda story: _order((story.score, story.best)), reverse=True)
    return ranked


def _order(item: tuple[float, Candidate]) -> tuple[float, datetime, int]:
    score, candidate = item
    return score, candidate.published_at, candidate.article_id
