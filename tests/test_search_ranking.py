"""Ranking: relevance first, recency gently, one entry per story."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from storage.search.index import Candidate
from storage.search.ranking import HALF_LIFE_DAYS, rank, recency

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def candidate(
    article_id: int,
    relevance: float,
    *,
    age_days: float = 0.0,
    story_id: int | None = None,
    feed_id: int = 1,
) -> Candidate:
    return Candidate(
        article_id=article_id,
        story_id=story_id if story_id is not None else article_id,
        feed_id=feed_id,
        published_at=NOW - timedelta(days=age_days),
        relevance=relevance,
    )


def test_recency_halves_every_half_life_and_never_exceeds_one() -> None:
    assert recency(NOW, NOW) == 1.0
    assert recency(NOW + timedelta(days=3), NOW) == 1.0
    assert abs(recency(NOW - timedelta(days=HALF_LIFE_DAYS), NOW) - 0.5) < 1e-9


def test_a_much_more_relevant_old_article_beats_a_weak_new_one() -> None:
    ranked = rank([candidate(1, 1.0, age_days=0), candidate(2, 4.0, age_days=60)], NOW)
    assert [story.best.article_id for story in ranked] == [2, 1]


def test_recency_decides_between_similar_relevance() -> None:
    ranked = rank([candidate(1, 3.0, age_days=20), candidate(2, 2.8, age_days=0)], NOW)
    assert [story.best.article_id for story in ranked] == [2, 1]


def test_one_entry_per_story_with_the_other_outlets() -> None:
    ranked = rank(
        [
            candidate(1, 1.0, story_id=7, feed_id=1),
            candidate(2, 3.0, story_id=7, feed_id=2),
            candidate(3, 2.0, story_id=7, feed_id=3),
            candidate(4, 2.0, story_id=7, feed_id=2),
            candidate(5, 2.5, story_id=8, feed_id=1),
        ],
        NOW,
    )
    assert [story.best.article_id for story in ranked] == [2, 5]
    assert ranked[0].other_feed_ids == (3, 1)


def test_without_relevance_newest_first() -> None:
    ranked = rank([candidate(1, 0.0, age_days=2), candidate(2, 0.0, age_days=1)], NOW)
    assert [story.best.article_id for story in ranked] == [2, 1]


@given(
    st.lists(
        st.tuples(
            st.floats(min_value=0, max_value=50),
            st.floats(min_value=0, max_value=800),
            st.integers(min_value=1, max_value=6),
        ),
        max_size=40,
    )
)
def test_order_is_total_and_each_story_appears_once(
    items: list[tuple[float, float, int]],
) -> None:
    candidates = [
        candidate(index, relevance, age_days=age, story_id=story)
        for index, (relevance, age, story) in enumerate(items)
    ]
    ranked = rank(candidates, NOW)
    stories = [story.best.story_id for story in ranked]
    assert sorted(stories) == sorted({c.story_id for c in candidates})
    scores = [story.score for story in ranked]
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 <= score <= 1.0 + 1e-9 for score in scores)
