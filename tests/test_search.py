"""Searching the archive end to end, on SQLite and PostgreSQL alike.

The fixture articles below are written for these tests: English, Russian, Kazakh and
Uzbek (Latin) texts, with the spellings people really mix up.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from storage import ArticleInput, Classification, FeedSpec, Store
from storage.search import index, service
from storage.search.results import NoteKind, SearchResults, SearchStatus
from tests.conftest import backend

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)

FEEDS = [
    FeedSpec("astanatimes", "The Astana Times", "https://astanatimes.example/feed", "en", "kz"),
    FeedSpec("kursiv", "Kursiv", "https://kursiv.example/feed", "ru", "kz"),
    FeedSpec("kun", "Kun.uz", "https://kun.example/rss", "uz", "uz"),
    FeedSpec("inform", "Kazinform", "https://inform.example/rss", "kk", "kz"),
    FeedSpec("timesca", "Times of Central Asia", "https://timesca.example/feed", "en", "kz"),
]


@dataclass(frozen=True)
class Doc:
    key: str
    feed: str
    language: str
    title: str
    summary: str
    topics: tuple[str, ...]
    countries: tuple[str, ...]
    age: timedelta = timedelta(hours=6)
    same_story_as: str | None = None
    content: str = ""


DOCS = [
    Doc(
        "hub-almaty",
        "astanatimes",
        "en",
        "Astana Hub opens an Almaty branch for startups",
        "The technology park will host forty startups and run e-government courses.",
        ("it_hubs",),
        ("kz",),
        age=timedelta(hours=5),
    ),
    Doc(
        "hub-almaty-2",
        "timesca",
        "en",
        "Astana Hub launches a branch in Almaty",
        "Kazakhstan's flagship technology park expands south with a new office.",
        ("it_hubs",),
        ("kz",),
        age=timedelta(hours=4),
        same_story_as="hub-almaty",
    ),
    Doc(
        "tashkent-hubs",
        "kursiv",
        "ru",
        "В Ташкенте открылись два новых IT-хаба",
        "IT-хабы будут работать с молодыми разработчиками из регионов.",
        ("it_hubs",),
        ("uz",),
    ),
    Doc(
        "hub-residents",
        "kursiv",
        "ru",
        "Резиденты IT-хабов получат налоговые льготы",
        "Правительство Казахстана продлило льготы для резидентов технопарков.",
        ("it_hubs", "policy"),
        ("kz",),
    ),
    Doc(
        "renewables",
        "timesca",
        "en",
        "Uzbekistan's renewable energies draw new investors",
        "Solar and wind energies should cover a fifth of demand by 2030.",
        ("energy",),
        ("uz",),
    ),
    Doc(
        "kk-solar",
        "inform",
        "kk",
        "Қазақстанда жаңа күн электр станциясы салынды",
        "Қазақстан энергетика министрлігі станцияның қуатын хабарлады.",
        ("energy",),
        ("kz",),
    ),
    Doc(
        "uz-park",
        "kun",
        "uz",
        "Toshkentda yangi IT park ochildi",
        "Oʻzbekiston raqamli texnologiyalar vazirligi park rezidentlari sonini eʼlon qildi.",
        ("it_hubs",),
        ("uz",),
    ),
    Doc(
        "qazaqstan",
        "astanatimes",
        "en",
        "Qazaqstan spelling to appear in official English texts",
        "The Latin spelling will be used on state documents from next year.",
        ("policy",),
        ("kz",),
    ),
    Doc(
        "oil-transit",
        "kursiv",
        "ru",
        "Казахстан и Азербайджан подписали соглашение о транзите нефти",
        "Стороны договорились об объёмах поставок через Каспий.",
        ("energy", "policy"),
        ("kz", "az"),
    ),
    Doc(
        "hydro-old",
        "timesca",
        "en",
        "Tajikistan hydropower exports grow",
        "Rogun and Nurek plants sold more electricity to neighbours.",
        ("energy",),
        ("tj",),
        age=timedelta(days=200),
    ),
    Doc(
        "venture-law",
        "astanatimes",
        "en",
        "Kyrgyzstan drafts a law on venture funds",
        "The draft promises tax breaks for local startups and their investors.",
        ("policy",),
        ("kg",),
        age=timedelta(hours=5),
    ),
    Doc(
        "bread",
        "timesca",
        "en",
        "Bishkek residents worry about bread prices",
        "Flour imports became more expensive this autumn.",
        ("society",),
        ("kg",),
        content="Bakers in Osh say a loaf now costs more; the ministry promises subsidies.",
    ),
]


def _input(doc: Doc) -> ArticleInput:
    return ArticleInput(
        guid=f"urn:test:{doc.key}",
        url=f"https://news.example/{doc.key}",
        title=doc.title,
        summary=doc.summary,
        content=doc.content,
        language=doc.language,
        published_at=NOW - doc.age,
        content_hash=hashlib.sha256(f"{doc.title}{doc.summary}{doc.content}".encode()).hexdigest(),
        classification=Classification(
            topics=dict.fromkeys(doc.topics, 1.0), countries=list(doc.countries)
        ),
    )


def load(store: Store, docs: Sequence[Doc] = DOCS) -> dict[str, int]:
    """Save ``docs``; returns their article ids by key."""
    store.sync_feeds(FEEDS, now=NOW)
    feeds = {state.spec.key: state.id for state in store.feed_states()}
    ids: dict[str, int] = {}
    stories: dict[str, int] = {}
    for doc in docs:
        story = stories[doc.same_story_as] if doc.same_story_as else None
        saved = store.save_articles(feeds[doc.feed], [(_input(doc), story)], [], now=NOW)
        ids[doc.key] = saved[0].id
        stories[doc.key] = saved[0].story_id
    return ids


@pytest.fixture
def archive(store: Store) -> dict[str, int]:
    return load(store)


def keys(results: SearchResults, ids: dict[str, int]) -> list[str]:
    by_id = {article_id: key for key, article_id in ids.items()}
    return [by_id[hit.article_id] for hit in results.hits]


def found(store: Store, ids: dict[str, int], query: str) -> set[str]:
    return set(keys(store.find(query, now=NOW, limit=50), ids))


# -- language ---------------------------------------------------------------------------


def test_hyphenated_word_finds_its_inflected_forms(store: Store, archive: dict[str, int]) -> None:
    assert found(store, archive, "IT-хаб") == {"tashkent-hubs", "hub-residents"}
    assert found(store, archive, "it-хабы") == {"tashkent-hubs", "hub-residents"}


def test_a_part_of_a_hyphenated_word_finds_it(store: Store, archive: dict[str, int]) -> None:
    assert found(store, archive, "хабов") == {"tashkent-hubs", "hub-residents"}
    assert found(store, archive, "government") == {"hub-almaty"}
    assert found(store, archive, "e-government") == {"hub-almaty"}
    assert found(store, archive, "egovernment") == {"hub-almaty"}


def test_english_stemming(store: Store, archive: dict[str, int]) -> None:
    assert found(store, archive, "energy") == {"renewables"}
    assert "renewables" in found(store, archive, "investor")


def test_russian_stemming(store: Store, archive: dict[str, int]) -> None:
    assert found(store, archive, "льгота") == {"hub-residents"}
    assert found(store, archive, "Ташкент") == {"tashkent-hubs"}


def test_kazakh_letters_typed_with_russian_ones(store: Store, archive: dict[str, int]) -> None:
    assert found(store, archive, "Қазақстан") == {"kk-solar"}
    assert found(store, archive, "Казакстан") == {"kk-solar"}


def test_qazaqstan_and_kazakhstan_are_different_words(
    store: Store, archive: dict[str, int]
) -> None:
    assert found(store, archive, "Qazaqstan") == {"qazaqstan"}
    assert found(store, archive, "Казахстан") == {"oil-transit", "hub-residents"}


@pytest.mark.parametrize("spelling", ["O‘zbekiston", "O'zbekiston", "Oʻzbekiston", "ozbekiston"])
def test_uzbek_apostrophes_do_not_matter(
    store: Store, archive: dict[str, int], spelling: str
) -> None:
    assert found(store, archive, spelling) == {"uz-park"}


def test_full_text_is_searched(store: Store, archive: dict[str, int]) -> None:
    results = store.find("subsidies", now=NOW)
    assert keys(results, archive) == ["bread"]
    assert [f.text for f in results.hits[0].snippet if f.match] == ["subsidies"]


# -- syntax -----------------------------------------------------------------------------


def test_all_words_must_match(store: Store, archive: dict[str, int]) -> None:
    assert found(store, archive, "startups Almaty") == {"hub-almaty"}
    assert found(store, archive, "startups Bishkek") == set()


def test_phrase_needs_its_words_in_order(store: Store, archive: dict[str, int]) -> None:
    assert found(store, archive, '"IT park"') == {"uz-park"}
    assert found(store, archive, '"park IT"') == set()


def test_a_phrase_whose_first_plan_runs_over_its_budget_is_still_found(
    store: Store, archive: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    if backend() != "postgresql":
        pytest.skip("PostgreSQL's plan budget for phrases")
    monkeypatch.setattr(index, "_PG_PHRASE_PLAN_MS", 50)
    planned = index.TsvectorIndex._text_sql
    # The planner's own plan made slow: it sleeps on every row it reads, so the
    # statement timeout cancels it and the search reads through the GIN index instead.
    monkeypatch.setattr(
        index.TsvectorIndex,
        "_text_sql",
        lambda self, conditions: planned(self, [*conditions, "pg_sleep(1) IS NOT NULL"]),
    )
    assert found(store, archive, '"IT park"') == {"uz-park"}
    assert found(store, archive, '"park IT"') == set()


def test_excluded_words(store: Store, archive: dict[str, int]) -> None:
    assert found(store, archive, "startups -Almaty") == {"venture-law"}
    assert found(store, archive, 'startups -"venture funds"') == {"hub-almaty"}


def test_filters(store: Store, archive: dict[str, int]) -> None:
    assert found(store, archive, "IT-хаб country:uz") == {"tashkent-hubs"}
    assert found(store, archive, "хаб lang:ru topic:policy") == {"hub-residents"}
    assert found(store, archive, "hydropower") == {"hydro-old"}
    assert found(store, archive, "hydropower since:7d") == set()
    assert found(store, archive, "hydropower since:2026-01-01") == {"hydro-old"}


def test_filters_alone_list_the_newest_matching_stories(
    store: Store, archive: dict[str, int]
) -> None:
    results = store.find("topic:energy -hydropower", now=NOW, limit=10)
    assert results.status is SearchStatus.OK
    assert set(keys(results, archive)) == {"renewables", "kk-solar", "oil-transit"}


def test_unknown_filter_values_are_reported_not_fatal(
    store: Store, archive: dict[str, int]
) -> None:
    results = store.find("topic:sport startups", now=NOW, limit=10)
    assert results.status is SearchStatus.OK
    assert [(note.kind, note.value) for note in results.notes] == [
        (NoteKind.UNKNOWN_TOPIC, "sport")
    ]


# -- ranking and results ----------------------------------------------------------------


def test_a_match_in_the_title_ranks_above_one_in_the_summary(
    store: Store, archive: dict[str, int]
) -> None:
    # Both articles are five hours old; "startups" is in one title, the other summary.
    assert keys(store.find("startups -launches", now=NOW), archive) == [
        "hub-almaty",
        "venture-law",
    ]


def test_equal_relevance_goes_newest_first(store: Store) -> None:
    older = Doc(
        "older", "timesca", "en", "Caspian ferry schedule", "Ferries.", (), (), timedelta(days=3)
    )
    newer = Doc(
        "newer", "timesca", "en", "Caspian ferry schedule", "Ferries.", (), (), timedelta(days=1)
    )
    ids = load(store, [older, newer])
    assert keys(store.find("ferry", now=NOW), ids) == ["newer", "older"]


def test_a_story_shows_once_with_its_other_outlets(store: Store, archive: dict[str, int]) -> None:
    results = store.find("Astana Hub Almaty", now=NOW)
    assert len(results.hits) == 1
    hit = results.hits[0]
    assert hit.article_id in (archive["hub-almaty"], archive["hub-almaty-2"])
    assert len(hit.also) == 1
    assert {hit.outlet, *hit.also} == {"The Astana Times", "Times of Central Asia"}


def test_hit_carries_what_a_reader_needs(store: Store, archive: dict[str, int]) -> None:
    hit = store.find("IT-хабы", now=NOW, limit=1).hits[0]
    assert hit.url.startswith("https://news.example/")
    assert hit.outlet == "Kursiv"
    assert hit.topics
    assert hit.published_at.tzinfo is not None
    marked = [fragment.text for fragment in (*hit.title, *hit.snippet) if fragment.match]
    assert marked
    assert {word.casefold() for word in marked} == {"it-хаба", "it-хабы"}


def test_pages_do_not_overlap(store: Store, archive: dict[str, int]) -> None:
    first = store.find("topic:it_hubs", now=NOW, limit=2)
    second = store.find("topic:it_hubs", now=NOW, limit=2, offset=2)
    assert first.total == second.total == 4  # the Almaty story once
    assert first.has_more
    assert not second.has_more
    assert not {hit.story_id for hit in first.hits} & {hit.story_id for hit in second.hits}


# -- any input --------------------------------------------------------------------------

HOSTILE = [
    '"unclosed phrase',
    "NEAR(hub park, 2)",
    "hub AND park OR NOT x",
    "*",
    "hub*",
    "^hub",
    "title:hub",
    "'; DROP TABLE articles; --",
    "\"'\\",
    "🚀🇰🇿 стартап",
    "hub\x00\x07\u202epark",
    "-",
    '""',
    "topic:",
    "since:",
    ")(",
    "-hub",
    "the of and",
]


@pytest.mark.parametrize("query", HOSTILE)
def test_any_input_gives_results_or_a_clear_status(
    store: Store, archive: dict[str, int], query: str
) -> None:
    results = store.find(query, now=NOW)
    assert results.status in set(SearchStatus)
    assert results.status is not SearchStatus.TOO_LONG
    assert store.article_count() == len(DOCS)


def test_nothing_to_search_for_is_empty(store: Store, archive: dict[str, int]) -> None:
    for query in ("", "   ", "-hub", "🚀", "the of and"):
        assert store.find(query, now=NOW).status is SearchStatus.EMPTY, query


def test_four_kilobytes_is_too_long(store: Store, archive: dict[str, int]) -> None:
    assert store.find("energy " * 600, now=NOW).status is SearchStatus.TOO_LONG


def test_nothing_found(store: Store, archive: dict[str, int]) -> None:
    results = store.find("zanzibar", now=NOW)
    assert results.status is SearchStatus.NOTHING_FOUND
    assert results.hits == ()


# -- the index follows the archive ------------------------------------------------------


def test_an_updated_article_is_found_by_its_new_words_only(
    store: Store, archive: dict[str, int]
) -> None:
    doc = next(doc for doc in DOCS if doc.key == "bread")
    feed = next(state.id for state in store.feed_states() if state.spec.key == doc.feed)
    edited = Doc(doc.key, doc.feed, "en", "Bishkek residents worry about flour", "Mills.", (), ())
    store.save_articles(feed, [], [(archive["bread"], _input(edited))], now=NOW)
    assert found(store, archive, "bread") == set()
    assert found(store, archive, "flour") == {"bread"}


def test_deleted_articles_leave_the_index(store: Store, archive: dict[str, int]) -> None:
    assert store.delete_articles([archive["tashkent-hubs"], 999_999]) == 1
    assert found(store, archive, "IT-хаб") == {"hub-residents"}
    assert store.article_count() == len(DOCS) - 1
    # The index entry is gone too, not merely hidden: a new article may reuse nothing.
    assert found(store, archive, "Ташкент") == set()


def test_deleting_a_storys_last_article_deletes_the_story(
    store: Store, archive: dict[str, int]
) -> None:
    story = store.find("Qazaqstan", now=NOW).hits[0].story_id
    store.delete_articles([archive["qazaqstan"]])
    assert store.story(story) is None


def test_rebuild_gives_the_same_results(store: Store, archive: dict[str, int]) -> None:
    queries = ("startups", "startups topic:it_hubs country:kz", "IT-хаб lang:ru")
    before = [keys(store.find(query, now=NOW, limit=50), archive) for query in queries]
    assert all(before)
    assert store.rebuild_search_index(now=NOW) == len(DOCS)
    assert [keys(store.find(query, now=NOW, limit=50), archive) for query in queries] == before


def test_a_new_classification_moves_an_article_between_filters(
    store: Store, archive: dict[str, int]
) -> None:
    assert "hub-almaty" in found(store, archive, "startups topic:it_hubs country:kz")
    store.set_classifications(
        [(archive["hub-almaty"], Classification(topics={"energy": 0.9}, countries=["uz"]))]
    )
    assert "hub-almaty" not in found(store, archive, "startups topic:it_hubs")
    assert "hub-almaty" not in found(store, archive, "startups country:kz")
    assert "hub-almaty" in found(store, archive, "startups topic:energy country:uz lang:en")
    assert "hub-almaty" in found(store, archive, "startups Almaty")  # its words stay


def test_a_large_rebuild_in_worker_processes_finds_the_same(
    store: Store,
    archive: dict[str, int],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    queries = ("IT-хаб", "e-government", "Казакстан", '"IT park"', "startups -Almaty", "energy")
    before = {query: found(store, archive, query) for query in queries}
    # Small batches over two workers, so that results come back out of order.
    monkeypatch.setattr(service, "PARALLEL_MIN_ARTICLES", 1)
    monkeypatch.setattr(service, "REBUILD_BATCH", 2)
    monkeypatch.setattr(service, "rebuild_workers", lambda: 2)
    assert store.rebuild_search_index(now=NOW) == len(DOCS)
    assert "in-process" not in caplog.text  # the workers did it
    assert {query: found(store, archive, query) for query in queries} == before


def test_opening_rebuilds_an_index_left_by_an_older_analyser(database_url: str) -> None:
    with Store.open(database_url, upgrade=False) as store:
        ids = load(store)
    engine = sa.create_engine(database_url, poolclass=sa.NullPool)
    with engine.begin() as connection:
        connection.exec_driver_sql("UPDATE search_index_state SET analyser_version = 0")
        if engine.dialect.name == "postgresql":
            connection.exec_driver_sql("DELETE FROM article_search")
        else:
            connection.exec_driver_sql(
                "INSERT INTO article_fts (article_fts) VALUES ('delete-all')"
            )
    engine.dispose()
    with Store.open(database_url, upgrade=False) as store:
        assert found(store, ids, "Qazaqstan") == set()  # stale until opened for use
    with Store.open(database_url) as store:
        assert found(store, ids, "Qazaqstan") == {"qazaqstan"}
        assert not store.ensure_search_index()
