"""What a digest holds and how it reads: selection, ranking, rendering, splitting.

Rendering is compared with golden files under ``tests/fixtures/digests/`` (run with
``STEPPE_UPDATE_GOLDEN=1`` to rewrite them after an intended change, then review the
diff); messages are separated there by a ``----- message N -----`` line.
"""

from __future__ import annotations

import math
import os
import random
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest

from bot.fake_api import parse_html
from bot.i18n import Translator
from bot.telegram.digest_render import (
    MAX_MESSAGE,
    flag,
    one_line,
    pack,
    plain_text,
    render_digest,
    telegram_length,
)
from jobs.digest.selection import Candidates, SelectionSettings, select
from storage.records import COUNTRIES, TOPICS, ChatHistory, ChatSettings, DigestArticle

GOLDEN = Path(__file__).parent / "fixtures" / "digests"
NOW = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)
NOTHING_SENT = ChatHistory(None, frozenset())
T = Translator()


def chat(language: str = "en", **changes: object) -> ChatSettings:
    base = ChatSettings(
        id=1,
        kind="private",
        title=None,
        language=language,
        topics=TOPICS,
        countries=COUNTRIES,
        timezone="Asia/Almaty",
        delivery_time=time(8, 0),
        paused=False,
        active=True,
        created_at=NOW,
        updated_at=NOW,
    )
    return base.__class__(**{**{f: getattr(base, f) for f in base.__slots__}, **changes})


def article(
    article_id: int,
    story: int,
    title: str,
    *,
    outlet: str = "The Astana Times",
    country: str = "kz",
    language: str = "en",
    topics: dict[str, float] | None = None,
    about: tuple[str, ...] = ("kz",),
    hours_ago: float = 2,
    summary: str = "",
) -> DigestArticle:
    moment = NOW - timedelta(hours=hours_ago)
    return DigestArticle(
        id=article_id,
        story_id=story,
        title=title,
        summary=summary or f"{title}. Second sentence.",
        url=f"https://news.example/{article_id}?a=1&b=2",
        outlet=outlet,
        outlet_country=country,
        language=language,
        published_at=moment,
        first_seen_at=moment,
        topics=topics or {"energy": 0.8},
        countries=about,
    )


SAMPLE = [
    article(1, 10, "Solar <plant> & grid in Navoi", outlet="Kun.uz", country="uz", about=("uz",)),
    article(
        2,
        10,
        "Солнечная станция в Навои",
        outlet="Газета.uz",
        country="uz",
        language="ru",
        about=("uz",),
    ),
    article(3, 10, "Navoi solar farm opens", outlet="Trend", country="az", about=("uz",)),
    article(4, 11, "Astana Hub adds 40 startups", topics={"it_hubs": 0.9}, hours_ago=5),
    article(5, 12, "Wind tender in Kyrgyzstan", about=("kg",), hours_ago=20, country="kg"),
    article(6, 13, "Old news", hours_ago=30),
]


def golden(name: str, messages: list[str]) -> None:
    text = "".join(f"----- message {n} -----\n{message}\n" for n, message in enumerate(messages, 1))
    path = GOLDEN / f"{name}.html"
    if os.environ.get("STEPPE_UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"differs from {path}"


# -- selection ---------------------------------------------------------------------------


def test_one_item_per_story_in_the_chats_language_with_the_other_outlets() -> None:
    digest = select(chat("ru"), SAMPLE, NOTHING_SENT, NOW)
    energy = digest.sections[1]
    solar = energy.items[0]
    assert solar.article.title == "Солнечная станция в Навои"
    assert solar.also == ("Kun.uz", "Trend")
    english = select(chat("en"), SAMPLE, NOTHING_SENT, NOW).sections[1].items[0]
    assert english.article.outlet in ("Kun.uz", "Trend")
    assert english.also == tuple(
        o for o in ("Kun.uz", "Газета.uz", "Trend") if o != english.article.outlet
    )


def test_sections_follow_the_chats_topics_and_respect_its_countries() -> None:
    digest = select(chat(countries=("kz", "uz")), SAMPLE, NOTHING_SENT, NOW)
    assert [s.topic for s in digest.sections] == ["it_hubs", "energy"]
    titles = [i.article.title for i in digest.items]
    assert "Wind tender in Kyrgyzstan" not in titles  # about Kyrgyzstan only
    assert "Old news" not in titles  # a first digest covers the last 24 hours


def test_ranking_prefers_coverage_and_freshness_and_caps_each_topic() -> None:
    many = [article(100 + n, 100 + n, f"Story {n}", hours_ago=1 + n) for n in range(8)]
    covered = [
        article(200, 200, "Covered widely", hours_ago=10),
        article(201, 200, "Covered widely too", outlet="Kun.uz", hours_ago=10),
        article(202, 200, "Covered widely three", outlet="Trend", hours_ago=10),
    ]
    digest = select(chat(), many + covered, NOTHING_SENT, NOW, SelectionSettings(max_per_topic=3))
    titles = [i.article.title for i in digest.items]
    assert titles == ["Covered widely", "Story 0", "Story 1"]


def test_nothing_twice_and_only_what_is_new_since_the_last_digest() -> None:
    history = ChatHistory(NOW - timedelta(hours=4), frozenset({10}))
    digest = select(chat(), SAMPLE, history, NOW)
    titles = [i.article.title for i in digest.items]
    assert titles == []  # story 10 was sent; the others were seen before the last digest
    later = select(chat(), SAMPLE, ChatHistory(NOW - timedelta(hours=6), frozenset({10})), NOW)
    assert [i.article.title for i in later.items] == ["Astana Hub adds 40 startups"]


def _reference_select(
    chat_: ChatSettings, articles: list[DigestArticle], history: ChatHistory, per_topic: int
) -> list[tuple[str, int, int, tuple[str, ...]]]:
    """The selection rules spelt out naively, one chat at a time: (topic, story, shown
    article, also) per item, in order."""
    since = NOW - timedelta(hours=24) if history.last_sent_at is None else history.last_sent_at
    oldest = NOW - timedelta(hours=24 if history.last_sent_at is None else 48)
    stories: dict[int, list[DigestArticle]] = {}
    for a in articles:
        if (
            a.story_id not in history.story_ids
            and a.first_seen_at >= since
            and a.published_at >= oldest
            and set(a.topics) & set(chat_.topics)
            and set(a.countries) & set(chat_.countries)
        ):
            stories.setdefault(a.story_id, []).append(a)
    ranked: dict[str, list[tuple[float, int, int, tuple[str, ...]]]] = {}
    for story_id, members in stories.items():
        scores = [max(m.topics.get(t, 0.0) for m in members) for t in chat_.topics]
        topic = chat_.topics[scores.index(max(scores))]
        newest = max(m.published_at for m in members)
        outlets = list(
            dict.fromkeys(m.outlet for m in sorted(members, key=lambda m: (m.published_at, m.id)))
        )
        value = (
            max(scores)
            * 0.5 ** ((NOW - newest) / timedelta(hours=24))
            * (1 + math.log2(len(outlets)))
        )
        pool = [m for m in members if m.language == chat_.language] or members
        shown = min(pool, key=lambda m: (-m.topics.get(topic, 0.0), m.published_at, m.id))
        also = tuple(o for o in outlets if o != shown.outlet)
        ranked.setdefault(topic, []).append((value, story_id, shown.id, also))
    return [
        (topic, story_id, shown, also)
        for topic in chat_.topics
        for _, story_id, shown, also in sorted(ranked.get(topic, []), key=lambda e: (-e[0], e[1]))[
            :per_topic
        ]
    ]


def test_selection_from_a_shared_pool_agrees_with_the_rules_spelt_out_per_chat() -> None:
    # The dispatcher scores stories once for thousands of chats; whatever the mix of
    # stories (several outlets, mixed subjects, articles old and new), every chat must
    # get what the rules give it alone.
    rng = random.Random(5)
    outlets = ["Kun.uz", "Trend", "Kursiv", "Daryo", "24.kg"]
    for _round in range(40):
        articles = []
        for n in range(rng.randint(0, 60)):
            topics = {
                t: round(rng.uniform(0.2, 1.0), 2) for t in rng.sample(TOPICS, rng.randint(1, 2))
            }
            seen = NOW - timedelta(hours=rng.uniform(0, 50))
            articles.append(
                DigestArticle(
                    id=n,
                    story_id=rng.randint(0, 25),
                    title=f"t{n}",
                    summary="s.",
                    url=f"https://x.example/{n}",
                    outlet=rng.choice(outlets),
                    outlet_country="kz",
                    language=rng.choice(["en", "ru"]),
                    published_at=seen - timedelta(hours=rng.uniform(0, 3)),
                    first_seen_at=seen,
                    topics=topics,
                    countries=tuple(rng.sample(COUNTRIES, rng.randint(1, 2))),
                )
            )
        pool = Candidates(articles, NOW)
        for _chat in range(10):
            reader = chat(
                rng.choice(["en", "ru"]),
                topics=tuple(t for t in TOPICS if rng.random() < 0.6) or ("energy",),
                countries=tuple(c for c in COUNTRIES if rng.random() < 0.5) or ("kz",),
            )
            last = None if rng.random() < 0.5 else NOW - timedelta(hours=rng.uniform(1, 60))
            history = ChatHistory(last, frozenset(rng.sample(range(26), rng.randint(0, 5))))
            per_topic = rng.randint(1, 5)
            digest = select(reader, pool, history, NOW, SelectionSettings(max_per_topic=per_topic))
            got = [(i.topic, i.story_id, i.article.id, i.also) for i in digest.items]
            assert got == _reference_select(reader, articles, history, per_topic)


# -- rendering ---------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["en", "ru", "kk"])
def test_rendering_matches_the_golden_files(language: str) -> None:
    digest = select(chat(language), SAMPLE, NOTHING_SENT, NOW)
    messages = render_digest(T, chat(language), digest)
    golden(f"sample-{language}", messages)
    for message in messages:
        parse_html(message)  # valid Telegram HTML (raises otherwise)


def test_a_quiet_day_and_escaping() -> None:
    quiet = render_digest(T, chat(), select(chat(), [], NOTHING_SENT, NOW))
    golden("quiet-en", quiet)
    nasty = [article(1, 1, 'A <b>bold</b> "claim" & more', summary="x < y & z > w. Tail.")]
    [message] = render_digest(T, chat(), select(chat(), nasty, NOTHING_SENT, NOW))
    assert parse_html(message).count('A <b>bold</b> "claim" & more') == 1
    assert "x < y & z > w" in parse_html(message)
    assert "Tail" not in parse_html(message)  # one line: the first sentence


def test_a_long_digest_is_split_between_items_under_the_limit() -> None:
    topics_many = [
        article(
            n, n, f"Story {n} " + "долгий заголовок 🇰🇿 & <b> " * 12, topics={t: 0.5}, hours_ago=1
        )
        for n, t in enumerate([t for t in TOPICS for _ in range(5)], start=1)
    ]
    digest = select(chat(), topics_many, NOTHING_SENT, NOW)
    messages = render_digest(T, chat(), digest, limit=1500)
    golden("split-en", messages)
    assert len(messages) > 1
    assert all(telegram_length(m) <= 1500 for m in messages)
    assert sum(parse_html(m).count("\n1. ") for m in messages) == len(TOPICS)
    rebuilt = "\n\n".join(messages)
    assert rebuilt == "\n\n".join(render_digest(T, chat(), digest, limit=10**6))


def test_packing_is_exact_at_the_limit_and_counts_like_telegram() -> None:
    units = ["a" * 100, "b" * 100]
    assert pack(units, limit=202) == ["a" * 100 + "\n\n" + "b" * 100]
    assert pack(units, limit=201) == ["a" * 100, "b" * 100]
    # A flag is two characters in Python and four UTF-16 units in Telegram's count.
    assert telegram_length(flag("kz")) == 4
    assert telegram_length("<b>&amp;</b>") == 1
    assert len(pack(["🇰🇿" * 1000, "🇰🇿" * 25], limit=MAX_MESSAGE)) == 2


def test_helpers() -> None:
    assert flag("uz") == "🇺🇿"
    assert flag("xyz") == ""
    assert one_line("First.  Second line\nhere.") == "First."
    assert one_line("x" * 500).endswith("…")
    assert plain_text('<b>Hi</b> <a href="https://e.x/?a=1&amp;b=2">there</a> &lt;3') == (
        "Hi there (https://e.x/?a=1&b=2) <3"
    )
