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
    # This runs for every candidate of every query: plain loops, no per-story lists
    # unless a story really has several matching articles.
    scored: dict[int, list[tuple[float, datetime, int, Candidate]]] = {}
    for candidate in candidates:
        fresh = recency(candidate.published_at, now)
        if top > 0:
            # Divide first: a tiny relevance times a weight would round to another value.
            score = (1 - RECENCY_WEIGHT) * (candidate.relevance / top) + RECENCY_WEIGHT * fresh
        else:
            score = fresh
        entry = (score, candidate.published_at, candidate.article_id, candidate)
        members = scored.get(candidate.story_id)
        if members is None:
            scored[candidate.story_id] = [entry]
        else:
            members.append(entry)
    ranked: list[RankedStory] = []
    for members in scored.values():
        if len(members) == 1:
            score, _, _, best = members[0]
            ranked.append(RankedStory(best, score, ()))
            continue
        members.sort(key=_order, reverse=True)
        score, _, _, best = members[0]
        others = tuple(
            dict.fromkeys(
                member[3].feed_id for member in members[1:] if member[3].feed_id != best.feed_id
            )
        )
        ranked.append(RankedStory(best, score, others))
    ranked.sort(key=_story_order, reverse=True)
    return ranked


def _order(entry: tuple[float, datetime, int, Candidate]) -> tuple[float, datetime, int]:
    return entry[0], entry[1], entry[2]


def _story_order(story: RankedStory) -> tuple[float, datetime, int]:
    return story.score, story.best.published_at, story.best.article_id
