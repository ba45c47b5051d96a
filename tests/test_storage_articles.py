"""Articles: saving, de-duplication lookups, classifications and story bookkeeping."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta

import pytest

from storage import (
    ArticleInput,
    Classification,
    ConflictError,
    FeedSpec,
    NotFoundError,
    Store,
)

NOW = datetime(2025, 6, 2, 8, 0, tzinfo=UTC)
MORNING = datetime(2025, 6, 2, 3, 15, tzinfo=UTC)

FEEDS = [
    FeedSpec(
        key="astanatimes",
        name="The Astana Times",
        url="https://astanatimes.com/feed/",
        language="en",
        country="kz",
    ),
    FeedSpec(
        key="gazeta",
        name="Газета.uz",
        url="https://www.gazeta.uz/ru/rss/",
        language="ru",
        country="uz",
    ),
]

ENERGY = Classification(
    topics={"energy": 2.5, "policy": 1.0},
    countries=["uz", "kz"],
    evidence={"energy": ["solar", "мвт"], "policy": ["ministry"], "uz": ["uzbekistan"]},
)
HUBS = Classification(
    topics={"it_hubs": 3.0},
    countries=["kz"],
    evidence={"it_hubs": ["astana hub", "startup"], "kz": ["astana"]},
)


def article(
    slug: str,
    *,
    title: str = "Uzbekistan commissions 500 MW solar plant in Samarkand region",
    published_at: datetime = MORNING,
    guid: str | None = None,
    url: str | None = None,
    classification: Classification = ENERGY,
    language: str = "en",
) -> ArticleInput:
    summary = "The plant will supply electricity to about 250,000 households."
    return ArticleInput(
        guid=guid if guid is not None else f"urn:steppe:{slug}",
        url=url if url is not None else f"https://news.example.uz/{slug}",
        title=title,
        summary=summary,
        content="",
        language=language,
        published_at=published_at,
        content_hash=hashlib.sha256(f"{title}\n{summary}".encode()).hexdigest(),
        classification=classification,
    )


def feed_ids(store: Store) -> tuple[int, int]:
    store.sync_feeds(FEEDS, now=NOW)
    states = {state.spec.key: state.id for state in store.feed_states()}
    return states["astanatimes"], states["gazeta"]


def test_saved_articles_start_stories_and_can_be_found(store: Store) -> None:
    astana, _ = feed_ids(store)
    saved = store.save_articles(
        astana, [(article("solar"), None), (article("hub"), None)], [], now=NOW
    )
    assert [s.inserted for s in saved] == [True, True]
    assert saved[0].story_id != saved[1].story_id
    assert store.article_count() == 2
    assert store.story_of(saved[0].id) == saved[0].story_id
    known = store.known_articles(astana, ["urn:steppe:solar"], [])
    assert [(k.id, k.feed_id, k.url) for k in known] == [
        (saved[0].id, astana, "https://news.example.uz/solar")
    ]
    assert known[0].content_hash == article("solar").content_hash
    assert store.feed_state("astanatimes") is not None
    assert store.feed_states()[0].article_count == 2


def test_known_articles_matches_guid_within_feed_and_url_across_feeds(store: Store) -> None:
    astana, gazeta = feed_ids(store)
    [saved] = store.save_articles(astana, [(article("solar"), None)], [], now=NOW)
    # The same GUID in another feed is a different article...
    assert store.known_articles(gazeta, ["urn:steppe:solar"], []) == []
    # ...but the same canonical URL is the same article, whichever feed asks.
    by_url = store.known_articles(gazeta, [], ["https://news.example.uz/solar"])
    assert [k.id for k in by_url] == [saved.id]
    # Matching by both ways returns the article once.
    both = store.known_articles(astana, ["urn:steppe:solar"], ["https://news.example.uz/solar"])
    assert [k.id for k in both] == [saved.id]


def test_known_articles_handles_more_values_than_one_statement_takes(store: Store) -> None:
    astana, _ = feed_ids(store)
    batch = [(article(f"n{i}"), None) for i in range(1200)]
    store.save_articles(astana, batch, [], now=NOW)
    guids = [f"urn:steppe:n{i}" for i in range(0, 1200, 2)] + [
        f"urn:absent:{i}" for i in range(900)
    ]
    urls = [f"https://news.example.uz/n{i}" for i in range(1, 1200, 2)]
    known = store.known_articles(astana, guids, urls)
    assert len(known) == 1200
    assert [k.id for k in known] == sorted(k.id for k in known)


def test_guid_is_unique_within_a_feed_only(store: Store) -> None:
    astana, gazeta = feed_ids(store)
    store.save_articles(astana, [(article("a", guid="42"), None)], [], now=NOW)
    store.save_articles(gazeta, [(article("b", guid="42"), None)], [], now=NOW)
    with pytest.raises(ConflictError):
        store.save_articles(astana, [(article("c", guid="42"), None)], [], now=NOW)
    assert store.article_count() == 2


def test_url_is_unique_across_feeds_and_a_conflict_writes_nothing(store: Store) -> None:
    astana, gazeta = feed_ids(store)
    store.save_articles(astana, [(article("solar"), None)], [], now=NOW)
    stories_before = store.stats().stories
    with pytest.raises(ConflictError):
        store.save_articles(
            gazeta,
            [
                (article("fresh"), None),
                (article("other", url="https://news.example.uz/solar"), None),
            ],
            [],
            now=NOW,
        )
    assert store.article_count() == 1
    assert store.stats().stories == stories_before
    assert store.known_articles(gazeta, ["urn:steppe:fresh"], []) == []


def test_repeats_within_one_batch_are_refused(store: Store) -> None:
    astana, _ = feed_ids(store)
    with pytest.raises(ConflictError, match="appears twice"):
        store.save_articles(
            astana,
            [(article("x"), None), (article("y", url="https://news.example.uz/x"), None)],
            [],
            now=NOW,
        )
    with pytest.raises(ConflictError, match="GUID 'g' appears twice"):
        store.save_articles(
            astana, [(article("x", guid="g"), None), (article("y", guid="g"), None)], [], now=NOW
        )
    assert store.article_count() == 0
    [saved] = store.save_articles(astana, [(article("x"), None)], [], now=NOW)
    with pytest.raises(ConflictError, match="appears twice among the updated"):
        store.save_articles(
            astana, [], [(saved.id, article("x")), (saved.id, article("x"))], now=NOW
        )


def test_joining_a_story_moves_its_time_to_the_newest_article(store: Store) -> None:
    astana, gazeta = feed_ids(store)
    [first] = store.save_articles(astana, [(article("solar-en"), None)], [], now=NOW)
    story = store.story(first.story_id)
    assert story is not None
    assert story.updated_at == MORNING
    assert story.created_at == NOW

    later = MORNING + timedelta(hours=2)
    russian = article(
        "solar-ru",
        title="В Самаркандской области запустили солнечную электростанцию на 500 МВт",
        published_at=later,
        language="ru",
    )
    [joined] = store.save_articles(gazeta, [(russian, first.story_id)], [], now=NOW)
    assert joined.story_id == first.story_id
    story = store.story(first.story_id)
    assert story is not None
    assert story.updated_at == later
    assert story.article_ids == (first.id, joined.id)

    # An older article joining does not move the story back in time.
    older = article("solar-old", published_at=MORNING - timedelta(days=1))
    store.save_articles(gazeta, [(older, first.story_id)], [], now=NOW)
    story = store.story(first.story_id)
    assert story is not None
    assert story.updated_at == later


def test_joining_a_story_that_does_not_exist_is_a_conflict(store: Store) -> None:
    astana, _ = feed_ids(store)
    with pytest.raises(ConflictError):
        store.save_articles(astana, [(article("orphan"), 999)], [], now=NOW)
    assert store.article_count() == 0


def test_updating_an_article_replaces_content_and_classification(store: Store) -> None:
    astana, _ = feed_ids(store)
    [saved] = store.save_articles(astana, [(article("solar"), None)], [], now=NOW)
    edited = article(
        "solar",
        title="Uzbekistan commissions 500 MW solar plant; Astana Hub startup wins the tender",
        published_at=MORNING + timedelta(minutes=40),
        classification=HUBS,
    )
    edited_at = NOW + timedelta(hours=1)
    [result] = store.save_articles(astana, [], [(saved.id, edited)], now=edited_at)
    assert result.id == saved.id
    assert result.story_id == saved.story_id
    assert result.inserted is False
    assert store.article_count() == 1
    [known] = store.known_articles(astana, ["urn:steppe:solar"], [])
    assert known.content_hash == edited.content_hash
    classification = store.classification_of(saved.id)
    assert classification is not None
    assert dict(classification.topics) == {"it_hubs": 3.0}
    assert list(classification.countries) == ["kz"]
    assert classification.evidence == {"it_hubs": ["astana hub", "startup"], "kz": ["astana"]}
    story = store.story(saved.story_id)
    assert story is not None
    assert story.updated_at == MORNING + timedelta(minutes=40)
    texts = list(store.iter_article_texts())
    assert [t.title for t in texts] == [edited.title]


def test_new_and_updated_in_one_call_return_new_ones_first(store: Store) -> None:
    astana, _ = feed_ids(store)
    first = store.save_articles(astana, [(article("a"), None), (article("b"), None)], [], now=NOW)
    result = store.save_articles(
        astana,
        [(article("c"), None), (article("d"), first[0].story_id)],
        [(first[1].id, article("b", title="Edited")), (first[0].id, article("a", title="Also"))],
        now=NOW,
    )
    assert [(r.inserted, r.story_id) for r in result] == [
        (True, result[0].story_id),
        (True, first[0].story_id),
        (False, first[1].story_id),
        (False, first[0].story_id),
    ]
    assert [r.id for r in result[2:]] == [first[1].id, first[0].id]


def test_updating_an_unknown_article_writes_nothing(store: Store) -> None:
    astana, _ = feed_ids(store)
    with pytest.raises(NotFoundError, match="777"):
        store.save_articles(astana, [(article("new"), None)], [(777, article("x"))], now=NOW)
    assert store.article_count() == 0


def test_saving_for_an_unknown_feed_is_refused(store: Store) -> None:
    with pytest.raises(NotFoundError, match="no feed with id 5"):
        store.save_articles(5, [(article("x"), None)], [], now=NOW)


def test_bad_article_values_are_clear_errors(store: Store) -> None:
    astana, _ = feed_ids(store)
    naive = article("naive", published_at=datetime(2025, 6, 2, 3, 15))  # noqa: DTZ001
    with pytest.raises(
        ValueError, match=re.escape("published_at of https://news.example.uz/naive")
    ):
        store.save_articles(astana, [(naive, None)], [], now=NOW)
    long_url = article("long", url="https://news.example.uz/" + "x" * 2100)
    with pytest.raises(ValueError, match="article URL is 2124 characters long"):
        store.save_articles(astana, [(long_url, None)], [], now=NOW)
    assert store.article_count() == 0


def test_classifications_are_stored_and_replaced(store: Store) -> None:
    astana, _ = feed_ids(store)
    saved = store.save_articles(
        astana, [(article("solar"), None), (article("hub", classification=HUBS), None)], [], now=NOW
    )
    stored = store.classification_of(saved[0].id)
    assert stored is not None
    assert dict(stored.topics) == {"energy": 2.5, "policy": 1.0}
    assert list(stored.countries) == ["uz", "kz"]

    nothing = Classification(topics={}, countries=[], evidence={})
    society = Classification(
        topics={"society": 1.5}, countries=["tj", "kg", "tj"], evidence={"society": ["школа"]}
    )
    store.set_classifications([(saved[0].id, nothing), (saved[1].id, society)])
    cleared = store.classification_of(saved[0].id)
    assert cleared is not None
    assert (dict(cleared.topics), list(cleared.countries), dict(cleared.evidence)) == ({}, [], {})
    replaced = store.classification_of(saved[1].id)
    assert replaced is not None
    assert dict(replaced.topics) == {"society": 1.5}
    assert list(replaced.countries) == ["tj", "kg"]  # repeated country kept once, first rank
    assert store.classification_of(12345) is None


def test_set_classifications_for_unknown_article_writes_nothing(store: Store) -> None:
    astana, _ = feed_ids(store)
    [saved] = store.save_articles(astana, [(article("solar"), None)], [], now=NOW)
    with pytest.raises(NotFoundError, match="888"):
        store.set_classifications([(saved.id, HUBS), (888, HUBS)])
    stored = store.classification_of(saved.id)
    assert stored is not None
    assert dict(stored.topics) == dict(ENERGY.topics)


def test_story_candidates_are_articles_since_a_time_oldest_first(store: Store) -> None:
    astana, gazeta = feed_ids(store)
    times = [MORNING - timedelta(days=3), MORNING, MORNING - timedelta(hours=5)]
    saved = store.save_articles(
        astana,
        [(article(f"t{i}", published_at=t), None) for i, t in enumerate(times)],
        [],
        now=NOW,
    )
    store.save_articles(
        gazeta,
        [(article("ru", published_at=MORNING, language="ru"), saved[1].story_id)],
        [],
        now=NOW,
    )
    candidates = store.story_candidates(MORNING - timedelta(days=1))
    assert [(c.article_id, c.published_at) for c in candidates][:2] == [
        (saved[2].id, times[2]),
        (saved[1].id, MORNING),
    ]
    assert len(candidates) == 3
    last = candidates[2]
    assert (last.feed_id, last.story_id, last.language) == (gazeta, saved[1].story_id, "ru")
    assert all(c.published_at.tzinfo is UTC for c in candidates)
    # "at or after": the boundary is included.
    assert store.story_candidates(times[0])[0].article_id == saved[0].id


def test_iter_article_texts_reads_everything_in_id_order_in_batches(store: Store) -> None:
    astana, _ = feed_ids(store)
    saved = store.save_articles(
        astana, [(article(f"a{i}", title=f"Заголовок {i}"), None) for i in range(7)], [], now=NOW
    )
    texts = list(store.iter_article_texts(batch_size=3))
    assert [t.id for t in texts] == [s.id for s in saved]
    assert texts[4].title == "Заголовок 4"
    assert list(store.iter_article_texts(batch_size=7)) == texts


def test_articles_for_feed_and_stats(store: Store) -> None:
    astana, gazeta = feed_ids(store)
    store.save_articles(astana, [(article("a"), None), (article("b"), None)], [], now=NOW)
    [ru] = store.save_articles(gazeta, [(article("c"), None)], [], now=NOW)
    assert [k.guid for k in store.articles_for_feed(astana)] == ["urn:steppe:a", "urn:steppe:b"]
    assert [k.id for k in store.articles_for_feed(gazeta)] == [ru.id]
    stats = store.stats()
    assert (stats.feeds, stats.enabled_feeds, stats.articles, stats.stories) == (2, 2, 3, 3)


def test_empty_save_does_nothing(store: Store) -> None:
    assert store.save_articles(1, [], [], now=NOW) == []


def test_an_article_writer_sees_its_own_saves_and_commits_them_together(store: Store) -> None:
    astana, gazeta = feed_ids(store)
    with store.article_writer() as writer:
        [first] = writer.save_articles(astana, [(article("solar"), None)], [], now=NOW)
        # The next feed's lookup finds the article saved before it, not yet committed.
        [known] = writer.known_articles(gazeta, [], ["https://news.example.uz/solar"])
        assert (known.id, known.feed_id) == (first.id, astana)
        [second] = writer.save_articles(
            gazeta, [(article("hub", classification=HUBS), first.story_id)], [], now=NOW
        )
        assert store.article_count() == 0  # other connections see nothing yet
    assert store.article_count() == 2
    assert store.story_of(second.id) == first.story_id
    # Both are indexed (one story: the search shows it once).
    assert {hit.story_id for hit in store.find("plant", now=NOW, limit=10).hits} == {first.story_id}


def test_an_article_writer_that_fails_writes_nothing(store: Store) -> None:
    astana, gazeta = feed_ids(store)

    def save_twice() -> None:
        with store.article_writer() as writer:
            writer.save_articles(astana, [(article("solar"), None)], [], now=NOW)
            # The same URL from another feed: the caller should have looked it up first.
            writer.save_articles(gazeta, [(article("solar", guid="other"), None)], [], now=NOW)

    with pytest.raises(ConflictError):
        save_twice()
    assert store.article_count() == 0
    assert store.find("solar", now=NOW).hits == ()


def test_pruning_deletes_what_was_published_before_the_cutoff_with_its_story_and_index(
    store: Store,
) -> None:
    astana, gazeta = feed_ids(store)
    month_ago = MORNING - timedelta(days=30)
    [old_solar, old_hub, recent] = store.save_articles(
        astana,
        [
            (article("old-solar", published_at=month_ago), None),
            (article("old-hub", title="Astana Hub startups", published_at=month_ago), None),
            (article("recent", title="Solar auction in Jizzakh"), None),
        ],
        [],
        now=NOW,
    )
    # A story that keeps a newer article outlives its pruned one.
    [joined] = store.save_articles(
        gazeta, [(article("old-solar-ru", published_at=MORNING), old_hub.story_id)], [], now=NOW
    )
    assert store.find("Astana Hub startups", now=NOW).hits

    cutoff = MORNING - timedelta(days=7)
    assert store.prune_articles(cutoff) == 2
    assert store.article_count() == 2
    assert store.story(old_solar.story_id) is None
    story = store.story(old_hub.story_id)
    assert story is not None
    assert story.article_ids == (joined.id,)
    assert store.classification_of(old_solar.id) is None
    assert not store.find("Astana Hub startups", now=NOW).hits
    assert [hit.article_id for hit in store.find("Jizzakh", now=NOW).hits] == [recent.id]
    assert store.prune_articles(cutoff) == 0


def test_pruning_in_bounded_batches_leaves_the_rest_for_the_next_call(store: Store) -> None:
    astana, _ = feed_ids(store)
    old = MORNING - timedelta(days=30)
    store.save_articles(
        astana, [(article(f"old-{n}", published_at=old), None) for n in range(5)], [], now=NOW
    )
    cutoff = MORNING - timedelta(days=7)
    assert store.prune_articles(cutoff, batch_size=2, max_batches=2) == 4
    assert store.article_count() == 1
    assert store.prune_articles(cutoff, batch_size=2, max_batches=2) == 1
    assert store.article_count() == 0
    with pytest.raises(ValueError, match="timezone-aware"):
        store.prune_articles(datetime(2025, 6, 1))  # noqa: DTZ001 - the naive time refused
    with pytest.raises(ValueError, match="batch_size"):
        store.prune_articles(cutoff, batch_size=0)
