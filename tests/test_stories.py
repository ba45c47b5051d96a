"""Story grouping: title signatures, similarity and the :class:`StoryIndex` rules.

Every headline here is written for these tests (Central Asian tech/energy/policy news).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from jobs.stories import StoryIndex, similarity, title_tokens
from jobs.translit import fold, romanise, transliterate
from storage.records import StoryCandidate

T0 = datetime(2026, 3, 10, 8, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Pair:
    first: tuple[str, str]
    """(title, language) of the article already in the index."""
    second: tuple[str, str]
    """(title, language) of the article being matched."""


# Same event, different outlets: these must become one story.
SAME_EVENT: tuple[Pair, ...] = (
    Pair(
        ("Masdar to build 500 MW solar plant in Uzbekistan", "en"),
        ("Masdar построит солнечную электростанцию на 500 МВт в Узбекистане", "ru"),
    ),
    Pair(
        ("Humo and Visa launch cross-border card payments for Uzbek travellers", "en"),
        ("Uzbekistan's Humo partners with Visa on cross-border payments", "en"),
    ),
    Pair(
        ("Tokayev signs law on digital assets", "en"),
        ("Токаев подписал закон о цифровых активах", "ru"),
    ),
    Pair(
        ("Kazakh President Tokayev signs law regulating crypto exchanges", "en"),
        ("Tokayev signs crypto exchange regulation into law", "en"),
    ),
    Pair(
        ("Kazakhstan to raise electricity tariffs by 15% from July", "en"),
        ("В Казахстане с июля тарифы на электроэнергию вырастут на 15%", "ru"),
    ),
    Pair(
        ("Uzbekistan, ADB sign $300 million loan for Tashkent water supply", "en"),
        ("АБР выделит Узбекистану $300 млн на водоснабжение Ташкента", "ru"),
    ),
    Pair(
        ("Astana Hub startups raised $40 million in 2025", "en"),
        ("Стартапы Astana Hub привлекли $40 млн в 2025 году", "ru"),
    ),
    Pair(
        ("Kyrgyzstan starts construction of Kambarata-1 hydropower plant", "en"),
        ("В Кыргызстане началось строительство Камбаратинской ГЭС-1", "ru"),
    ),
    Pair(
        ("Жапаров подписал указ о создании IT-парка в Оше", "ru"),
        ("Japarov signs decree establishing IT park in Osh", "en"),
    ),
    Pair(
        ("Mirziyoyev and Aliyev open joint trade house in Baku", "en"),
        ("Мирзиёев и Алиев открыли совместный торговый дом в Баку", "ru"),
    ),
    Pair(
        ("Turkmenistan and Azerbaijan sign memorandum on Dostluk gas field", "en"),
        ("Туркменистан и Азербайджан подписали меморандум по месторождению Достлук", "ru"),
    ),
    Pair(
        ("Kaspi.kz net income rises 20% to 1.1 trillion tenge", "en"),
        ("Kaspi.kz reports 20% growth in net profit to KZT 1.1 trillion", "en"),
    ),
    Pair(
        ("Rogun hydropower plant in Tajikistan launches third unit", "en"),
        ("На Рогунской ГЭС в Таджикистане запустили третий агрегат", "ru"),
    ),
    Pair(
        ("ACWA Power commissions 1.5 GW wind farm in Karakalpakstan", "en"),
        ("ACWA Power ввела ветровую электростанцию на 1,5 ГВт в Каракалпакстане", "ru"),
    ),
    Pair(
        ("Yandex to invest $100 million in Uzbek data centre", "en"),
        ("Yandex announces $100m data center investment in Uzbekistan", "en"),
    ),
    Pair(
        ("SOCAR and bp sign agreement on Shah Deniz expansion", "en"),
        ("SOCAR и bp подписали соглашение о расширении Шах-Дениз", "ru"),
    ),
    Pair(
        ("Нацбанк Казахстана сохранил базовую ставку на уровне 16,5%", "ru"),
        ("Базовая ставка в Казахстане осталась на уровне 16,5%", "ru"),
    ),
    Pair(
        ("Almaty metro to receive 12 trains from Chinese manufacturer", "en"),
        ("Метро Алматы получит 12 поездов из Китая", "ru"),
    ),
    Pair(
        ("Turkmenistan launches TAPI pipeline section in Afghanistan", "en"),
        ("Туркменистан запустил участок газопровода ТАПИ в Афганистане", "ru"),
    ),
    Pair(
        ("Samruk-Kazyna and TotalEnergies sign 1 GW wind power deal", "en"),
        ("«Самрук-Казына» и TotalEnergies подписали соглашение о ветровой станции на 1 ГВт", "ru"),
    ),
    Pair(
        ("Uzbekistan launches first electric bus factory in Samarkand", "en"),
        ("В Самарканде запущен первый завод электробусов Узбекистана", "ru"),
    ),
    Pair(
        ("Azerbaijan and Kazakhstan agree on Caspian green energy corridor", "en"),
        ("Azerbaijan, Kazakhstan sign deal on green energy corridor across the Caspian", "en"),
    ),
)

# Same place or topic, different events (or not a story at all): must stay apart.
DIFFERENT_EVENTS: tuple[Pair, ...] = (
    Pair(
        ("Masdar to build 220 MW solar plant in Bukhara", "en"),
        ("ACWA Power to build 1 GW solar plant in Bukhara", "en"),
    ),
    Pair(
        ("Kazakhstan raises electricity tariffs", "en"),
        ("Kyrgyzstan raises electricity tariffs", "en"),
    ),
    Pair(
        ("News in brief", "en"),
        ("Business digest", "en"),
    ),
    Pair(
        ("Главное за неделю: новости бизнеса", "ru"),
        ("Дайджест новостей: главное за день", "ru"),
    ),
    Pair(
        ("Tokayev signs law on mass media", "en"),
        ("Tokayev signs law on renewable energy auctions", "en"),
    ),
    Pair(
        ("Uzbekistan raises gasoline prices by 10%", "en"),
        ("Uzbekistan cuts gas prices for households by 25%", "en"),
    ),
    Pair(
        ("Tajikistan receives $50 million World Bank grant for schools", "en"),
        ("Kyrgyzstan receives $50 million World Bank grant for schools", "en"),
    ),
    Pair(
        ("Mirziyoyev meets Chinese investors in Tashkent", "en"),
        ("Mirziyoyev meets German investors in Berlin", "en"),
    ),
    Pair(
        ("Kazakhstan plans to build its first nuclear power plant", "en"),
        ("Uzbekistan plans to build its first nuclear power plant", "en"),
    ),
    Pair(
        ("Kaspi.kz launches payments in Azerbaijan", "en"),
        ("Kaspi.kz launches payments in Uzbekistan", "en"),
    ),
    Pair(
        ("Astana Hub opens office in Silicon Valley", "en"),
        ("Astana Hub launches startup accelerator for women", "en"),
    ),
    Pair(
        ("В Алматы открылся новый IT-хаб", "ru"),
        ("В Шымкенте открылся новый IT-хаб", "ru"),
    ),
    Pair(
        ("Ветровая электростанция на 100 МВт заработала в Жамбылской области", "ru"),
        ("Солнечная электростанция на 50 МВт заработала в Туркестанской области", "ru"),
    ),
    Pair(
        ("Kazakhstan boosts oil exports to China by 8%", "en"),
        ("Kazakhstan boosts oil exports to Russia by 8%", "en"),
    ),
    Pair(
        ("Central Asia: the week in tech", "en"),
        ("Central Asia startup weekly", "en"),
    ),
    Pair(
        ("Toshkentda yangi IT park ochildi", "uz"),
        ("Samarqandda yangi IT park ochildi", "uz"),
    ),
)


def _match_pair(pair: Pair, index: StoryIndex | None = None) -> int | None:
    index = index if index is not None else StoryIndex()
    title, language = pair.first
    index.add(
        article_id=1, story_id=101, feed_id=1, title=title, language=language, published_at=T0
    )
    title, language = pair.second
    return index.match(
        feed_id=2, title=title, language=language, published_at=T0 + timedelta(hours=5)
    )


# ------------------------------------------------------------------------ title tokens


def test_transliteration_makes_names_meet() -> None:
    names = [
        ("токаев", "tokayev"),
        ("казахстан", "kazakhstan"),
        ("астана", "astana"),
        ("мирзиёев", "mirziyoyev"),
        ("масдар", "masdar"),
        ("кыргызстан", "kyrgyzstan"),
        ("азербайджан", "azerbaijan"),
        ("бишкек", "bishkek"),
        ("жапаров", "japarov"),
        ("ерлан", "yerlan"),
    ]
    for cyrillic, english in names:
        assert romanise(cyrillic) == fold(english), (cyrillic, english)
    assert transliterate("қазақстан") == "kazakstan"


def test_tokens_drop_stop_words_and_keep_numbers() -> None:
    tokens = title_tokens("The government of Kazakhstan says 440 MW plant will open in 2026", "en")
    assert {"#440", "#2026", "~mw", "~plant", "@kz"} <= tokens
    assert not {"the", "of", "says", "will", "in"} & tokens


def test_numbers_normalise_across_locales() -> None:
    english = title_tokens("$1.2 billion for 1,200 km of roads", "en")
    russian = title_tokens("1,2 млрд долларов на 1 200 км дорог", "ru")
    assert {"#1.2", "#1200", "~billion", "~usd", "~road"} <= english & russian


def test_digit_groups_read_as_one_number_whatever_was_seen_before() -> None:
    # Titles are tokenised piece by piece with a cache; a number written in groups
    # ("1 200 000") spans pieces, and must not turn into its groups once they are cached.
    title_tokens("Tariff of 200 tenge, 000 sold, 1 left", "ru")
    spaced = title_tokens("Казахстан выделит 1 200 000 тенге на 12 500 МВт", "ru")
    solid = title_tokens("Казахстан выделит 1200000 тенге на 12500 МВт", "ru")
    assert spaced == solid
    assert {"#1200000", "#12500"} <= spaced
    assert not {"#1", "#200", "#000", "#12", "#500"} & spaced


def test_names_match_across_inflection() -> None:
    assert title_tokens("Tokayev", "en") == title_tokens("Токаеву", "ru")
    assert title_tokens("Mirziyoyev", "en") == title_tokens("Мирзиёева", "ru")
    assert title_tokens("Almaty", "en") == title_tokens("Алматы", "ru")


def test_acronyms_survive_stop_words() -> None:
    assert "~it" in title_tokens("Uzbekistan opens new IT park", "en")
    assert "~it" not in title_tokens("Why it matters for Kazakhstan", "en")


def test_uzbek_latin_suffixes_and_apostrophes() -> None:
    tokens = title_tokens("Oʻzbekistonda quyosh elektr stansiyalari qurilmoqda", "uz")
    assert "@uz" in tokens
    assert "~solar" in tokens


@pytest.mark.parametrize("title", ["", "   ", "!!! ???", "—", "\x00\ud7ff"])
def test_degenerate_titles_give_no_tokens_and_never_match(title: str) -> None:
    assert title_tokens(title, "en") == frozenset()
    index = StoryIndex()
    index.add(article_id=1, story_id=1, feed_id=1, title=title, language="en", published_at=T0)
    assert index.match(feed_id=2, title=title, language="xx", published_at=T0) is None


# -------------------------------------------------------------------------- similarity


def test_similarity_is_symmetric_and_bounded() -> None:
    for pair in SAME_EVENT + DIFFERENT_EVENTS:
        a = title_tokens(*pair.first)
        b = title_tokens(*pair.second)
        assert similarity(a, b) == pytest.approx(similarity(b, a))
        assert 0.0 <= similarity(a, b) <= 1.0
    masdar = title_tokens("Masdar to build 500 MW solar plant in Uzbekistan", "en")
    assert similarity(masdar, masdar) == pytest.approx(1.0)


def test_country_veto_and_figure_penalty() -> None:
    kz = title_tokens("Kazakhstan raises electricity tariffs", "en")
    kg = title_tokens("Kyrgyzstan raises electricity tariffs", "en")
    assert similarity(kz, kg) == 0.0
    small = title_tokens("Masdar to build 500 MW solar plant", "en")
    big = title_tokens("Masdar to build 900 MW solar plant", "en")
    same = title_tokens("Masdar to build solar plant", "en")
    assert similarity(small, big) < similarity(small, same) / 1.5


# ------------------------------------------------------------------------- index rules


@pytest.mark.parametrize("pair", SAME_EVENT, ids=lambda pair: pair.second[0][:40])
def test_same_event_from_two_outlets_is_one_story(pair: Pair) -> None:
    assert _match_pair(pair) == 101


@pytest.mark.parametrize("pair", DIFFERENT_EVENTS, ids=lambda pair: pair.second[0][:40])
def test_different_events_stay_apart(pair: Pair) -> None:
    assert _match_pair(pair) is None


def test_whole_corpus_precision_and_recall() -> None:
    """All first titles in one index (realistic IDF, cross-pair confusion possible)."""
    index = StoryIndex()
    pairs = SAME_EVENT + DIFFERENT_EVENTS
    for number, pair in enumerate(pairs):
        title, language = pair.first
        index.add(
            article_id=number,
            story_id=1000 + number,
            feed_id=number,
            title=title,
            language=language,
            published_at=T0,
        )
    wrong = 0
    found = 0
    for number, pair in enumerate(pairs):
        title, language = pair.second
        story = index.match(feed_id=500 + number, title=title, language=language, published_at=T0)
        if number < len(SAME_EVENT) and story == 1000 + number:
            found += 1
        elif story is not None:
            wrong += 1
    assert wrong == 0
    assert found == len(SAME_EVENT)


def test_same_event_four_days_apart_is_a_new_story() -> None:
    index = StoryIndex()
    index.add(
        article_id=1,
        story_id=7,
        feed_id=1,
        title="Tokayev signs law on digital assets",
        language="en",
        published_at=T0,
    )
    later = index.match(
        feed_id=2,
        title="Токаев подписал закон о цифровых активах",
        language="ru",
        published_at=T0 + timedelta(days=4),
    )
    earlier = index.match(
        feed_id=2,
        title="Токаев подписал закон о цифровых активах",
        language="ru",
        published_at=T0 - timedelta(days=4),
    )
    assert later is None
    assert earlier is None
    inside = index.match(
        feed_id=2,
        title="Токаев подписал закон о цифровых активах",
        language="ru",
        published_at=T0 + timedelta(hours=47),
    )
    assert inside == 7


def test_the_same_outlet_twice_is_never_one_story() -> None:
    index = StoryIndex()
    index.add(
        article_id=1,
        story_id=7,
        feed_id=3,
        title="Masdar to build 500 MW solar plant in Uzbekistan",
        language="en",
        published_at=T0,
    )
    same_feed = index.match(
        feed_id=3,
        title="Masdar's 500 MW solar plant in Uzbekistan: what we know",
        language="en",
        published_at=T0 + timedelta(hours=2),
    )
    assert same_feed is None


def test_a_story_holding_this_feed_is_not_a_candidate() -> None:
    index = StoryIndex()
    index.add(
        article_id=1,
        story_id=7,
        feed_id=1,
        title="Masdar to build 500 MW solar plant in Uzbekistan",
        language="en",
        published_at=T0,
    )
    index.add(
        article_id=2,
        story_id=7,
        feed_id=2,
        title="Masdar построит солнечную электростанцию на 500 МВт в Узбекистане",
        language="ru",
        published_at=T0,
    )
    # Feed 2 already covers story 7, even though its new title resembles article 1.
    assert (
        index.match(
            feed_id=2,
            title="Masdar solar plant of 500 MW announced for Uzbekistan",
            language="en",
            published_at=T0,
        )
        is None
    )
    assert (
        index.match(
            feed_id=9,
            title="Masdar solar plant of 500 MW announced for Uzbekistan",
            language="en",
            published_at=T0,
        )
        == 7
    )


def test_best_story_wins() -> None:
    index = StoryIndex()
    index.add(
        article_id=1,
        story_id=1,
        feed_id=1,
        title="Uzbekistan launches solar plant",
        language="en",
        published_at=T0,
    )
    index.add(
        article_id=2,
        story_id=2,
        feed_id=2,
        title="Uzbekistan launches 300 MW Masdar solar plant in Jizzakh",
        language="en",
        published_at=T0,
    )
    story = index.match(
        feed_id=3,
        title="Masdar's 300 MW solar plant in Jizzakh is online",
        language="en",
        published_at=T0,
    )
    assert story == 2


def test_from_candidates_and_discard_before() -> None:
    candidates = [
        StoryCandidate(
            article_id=1,
            story_id=5,
            feed_id=1,
            title="Tokayev signs law on digital assets",
            language="en",
            published_at=T0 - timedelta(hours=60),
        ),
        StoryCandidate(
            article_id=2,
            story_id=6,
            feed_id=1,
            title="Kyrgyzstan starts construction of Kambarata-1 hydropower plant",
            language="en",
            published_at=T0,
        ),
    ]
    index = StoryIndex.from_candidates(candidates)
    assert len(index) == 2
    hydro = "В Кыргызстане началось строительство Камбаратинской ГЭС-1"
    assert index.match(feed_id=2, title=hydro, language="ru", published_at=T0) == 6
    assert index.discard_before(T0 - timedelta(hours=48)) == 1
    assert len(index) == 1
    law = "Токаев подписал закон о цифровых активах"
    assert (
        index.match(feed_id=2, title=law, language="ru", published_at=T0 - timedelta(hours=59))
        is None
    )


def test_re_adding_an_article_replaces_it() -> None:
    index = StoryIndex()
    for title in ("Tokayev signs law on digital assets", "Rogun launches third unit"):
        index.add(article_id=1, story_id=5, feed_id=1, title=title, language="en", published_at=T0)
    assert len(index) == 1
    law = "Токаев подписал закон о цифровых активах"
    assert index.match(feed_id=2, title=law, language="ru", published_at=T0) is None


def test_naive_datetimes_are_refused() -> None:
    index = StoryIndex()
    with pytest.raises(ValueError, match="timezone-aware"):
        index.match(feed_id=1, title="x", language="en", published_at=datetime(2026, 1, 1))  # noqa: DTZ001
    with pytest.raises(ValueError, match="window"):
        StoryIndex(window=timedelta(0))


# --------------------------------------------------------------------------- speed

_WORD_TEXT = (
    "kazakhstan uzbekistan kyrgyzstan tajikistan turkmenistan azerbaijan solar wind plant "
    "tariff bank startup hub fintech government minister law decree investment loan metro "
    "airport railway grid data center ai satellite telecom mobile payments crypto mining "
    "uranium oil gas pipeline export import cotton wheat water road bridge tender auction "
    "agreement memorandum visit summit forum digital platform launch open build expand"
)
_WORDS = _WORD_TEXT.split()


def _name(rng: random.Random) -> str:
    """A made-up company or place name, rare in the index like real proper names."""
    return "".join(rng.choice("bdgklmnprstvz") + rng.choice("aeiou") for _ in range(4))


def _synthetic_title(rng: random.Random) -> str:
    words = [*rng.sample(_WORDS, 5), _name(rng), _name(rng)]
    return f"{' '.join(words)} {rng.randint(1, 2000)} MW"


def test_match_and_add_stay_fast_with_ten_thousand_articles() -> None:
    rng = random.Random(42)
    index = StoryIndex()
    for number in range(10_000):
        index.add(
            article_id=number,
            story_id=number,
            feed_id=number % 60,
            title=_synthetic_title(rng),
            language="en",
            published_at=T0 + timedelta(minutes=number % 2880),
        )
    started = time.perf_counter()
    rounds = 500
    for number in range(rounds):
        moment = T0 + timedelta(minutes=rng.randint(0, 2880))
        title = _synthetic_title(rng)
        index.match(feed_id=99, title=title, language="en", published_at=moment)
        index.add(
            article_id=20_000 + number,
            story_id=20_000 + number,
            feed_id=99,
            title=title,
            language="en",
            published_at=moment,
        )
    per_article = (time.perf_counter() - started) / rounds
    # Generous bound for slow CI machines; measured figures are in the report.
    assert per_article < 0.005
