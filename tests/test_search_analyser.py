"""The search analyser: a word the user types meets the words of an article exactly when a
reader would call it a match."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from storage.search import analyser
from storage.search.analyser import (
    ANALYSER_VERSION,
    MAX_WORD,
    Token,
    analyse,
    index_terms,
    query_word,
    tokens,
)


def _way_at(terms: list[str], way: tuple[frozenset[str], ...]) -> bool:
    return any(
        all(terms[start + k] in position for k, position in enumerate(way))
        for start in range(len(terms) - len(way) + 1)
    )


def matches(query: str, text: str, language: str) -> bool:
    """True when some way of reading ``query`` lies on consecutive index terms of ``text``
    (what the FTS phrase query does)."""
    terms = index_terms(text, language)
    return any(_way_at(terms, way) for way in query_word(query))


def phrase_matches(query: str, text: str, language: str) -> bool:
    """A quoted phrase: the words' parts, one after the other (stopwords dropped)."""
    way = tuple(
        position for word in query.split() for ways in query_word(word)[:1] for position in ways
    )
    return _way_at(index_terms(text, language), way)


def words(text: str, language: str = "en") -> list[str]:
    """The original spelling of every token."""
    return [text[token.start : token.end] for token in tokens(text, language)]


def test_version_is_an_int() -> None:
    assert isinstance(ANALYSER_VERSION, int)


# --- What users search for ---------------------------------------------------------------


@pytest.mark.parametrize("language", ["ru", "en", ""])
@pytest.mark.parametrize(
    "text",
    [
        "В Алматы открылись IT-хабы для молодых разработчиков",
        "Резиденты IT-хабов получат налоговые льготы",
        "Новый IT-хаб в Бишкеке",
    ],
)
def test_it_hub_finds_its_inflections(text: str, language: str) -> None:
    assert matches("IT-хаб", text, language)
    assert matches("IT-хабы", text, language)
    assert matches("хаб", text, language)


def test_it_hub_needs_both_parts_in_order() -> None:
    assert not matches("IT-хаб", "IT-компании переехали в новый хаб", "ru")
    assert not matches("IT-хаб", "Хаб для IT", "ru")


def test_energy_and_energies() -> None:
    text = "Central Asian energies are shifting to solar"
    assert matches("energy", text, "en")
    assert matches("energies", "Kyrgyzstan's energy deficit", "en")
    # A Latin word in a Russian article is stemmed as English.
    assert matches("energy", "Форум Energies of Central Asia", "ru")


def test_kazakh_letters_meet_their_russian_spelling() -> None:
    assert matches("Казакстан", "Қазақстан Республикасының үкіметі", "kk")
    assert matches("Қазақстан", "Жители Казакстана и Кыргызстана", "ru")
    assert matches("Қазақстан", "Қазақстан экономикасы", "kk")
    assert matches("ҚАЗАҚСТАН", "Казакстан", "ru")


def test_no_transliteration_between_scripts() -> None:
    assert not matches("Qazaqstan", "Правительство Казахстана", "ru")
    assert not matches("Казахстан", "Qazaqstan Respublikasy", "kk")
    assert not matches("Kazakhstan", "Казахстан", "ru")


UZBEKISTAN = [
    "O‘zbekiston",
    "O'zbekiston",
    "Oʻzbekiston",
    "Oʼzbekiston",
    "O’zbekiston",
    "O`zbekiston",
    "O´zbekiston",
    "Ozbekiston",
    "OʻZBEKISTON",
]


@pytest.mark.parametrize("spelling", UZBEKISTAN)
@pytest.mark.parametrize("query", UZBEKISTAN)
def test_uzbek_apostrophes_are_one_spelling(query: str, spelling: str) -> None:
    assert matches(query, f"{spelling} Respublikasi Prezidenti", "uz")
    assert matches(query, f"News from {spelling} today", "en")


def test_apostrophes_inside_uzbek_words_join_them() -> None:
    # The tutuq belgisi: readers type "malumot" as often as "ma'lumot".
    assert matches("malumot", "Rasmiy ma’lumotlarga ko‘ra", "uz") is False  # no uz stemmer
    assert matches("malumotlarga", "Rasmiy ma’lumotlarga ko‘ra", "uz")
    assert matches("ma'lumotlarga", "Rasmiy malumotlarga ko‘ra", "uz")
    assert index_terms("G‘alla Farg‘ona", "uz") == ["galla", "fargona"]


def test_english_possessive_is_the_word() -> None:
    for language in ("en", "kk", "uz"):
        assert index_terms("Kazakhstan's budget", language)[0] == "kazakhstan"
        assert matches("Kazakhstan", "TOKAYEV’S visit to Kazakhstan’s capital", language)
    assert matches("Tokayev's", "Tokayev signed the law", "en")
    # Not after o/g: Uzbek "oʻs" (grow) keeps its s.
    assert index_terms("oʻs", "uz") == ["os"]


def test_other_apostrophes_separate_words() -> None:
    assert index_terms("'Digital Kazakhstan' programme", "uz") == [
        "digital",
        "kazakhstan",
        "programme",
    ]


@pytest.mark.parametrize("language", ["en", "ru", "kk"])
def test_e_government_whole_and_by_part(language: str) -> None:
    text = "The e-government portal eGov.kz was upgraded"
    for query in ("e-government", "E-Government", "government", "egovernment", "e‐government"):
        assert matches(query, text, language), query
    assert matches("e-government", "Launch of the egovernment service", language)
    assert not matches("e-government", "An electronic government service", language)


def test_compound_parts_are_terms_and_joined_forms_come_last() -> None:
    assert index_terms("IT-хабы и e-government растут", "ru") == [
        "it",
        "хаб",
        "e",
        "govern",
        "растут",
        "itхаб",
        "egovern",
    ]
    # A dash between spaced words, or a doubled hyphen, is no compound.
    assert index_terms("Astana - Almaty", "kk") == ["astana", "almaty"]
    assert index_terms("Astana--Almaty", "kk") == ["astana", "almaty"]
    # Stopword parts keep their place in the joined form only.
    assert index_terms("Ростов-на-Дону", "ru") == ["рост", "дон", "ростовнадон"]
    assert matches("Ростов-на-Дону", "Поезд до Ростова-на-Дону", "ru")


def test_stopwords_are_dropped_on_both_sides() -> None:
    assert index_terms("The Ministry of Energy and the grid", "en") == [
        "ministri",
        "energi",
        "grid",
    ]
    assert index_terms("Министерство по делам цифрового развития и в регионах", "ru") == [
        "министерств",
        "дел",
        "цифров",
        "развит",
        "регион",
    ]
    for stopword in ("the", "The", "of", "и", "В", "который"):
        assert query_word(stopword) == ()
    # Phrases skip them alike in the index and the query.
    assert phrase_matches("ministry of energy", "Ministry for the Energy", "en")
    assert phrase_matches("министерство по делам", "Министерство делам", "ru")


@pytest.mark.parametrize("acronym", ["IT", "US", "UN", "AI", "IS", "WHO", "May", "can"])
def test_acronyms_and_names_are_not_stopwords(acronym: str) -> None:
    assert index_terms(acronym, "en") == [acronym.casefold()]
    assert matches(acronym, f"News about {acronym} today", "en")


def test_kazakh_and_uzbek_articles_are_not_stemmed() -> None:
    assert index_terms("хабы energies", "kk") == ["хабы", "energies"]
    assert index_terms("хабы energies", "uz") == ["хабы", "energies"]
    assert index_terms("хабы energies", "ru") == ["хаб", "energi"]
    # The query offers both readings, so it meets either article.
    assert matches("хабы", "хабы", "kk")
    assert matches("хабы", "хабов", "ru")


def test_short_words_and_digits_are_not_stemmed() -> None:
    assert index_terms("ИИ bus 2024 5G COVID-19", "ru") == [
        "ии",
        "bus",
        "2024",
        "5g",
        "covid",
        "19",
        "covid19",
    ]


def test_query_word_shapes() -> None:
    assert query_word("energies") == ((frozenset({"energi", "energies"}),),)
    assert query_word("IT-хаб") == (
        (frozenset({"it"}), frozenset({"хаб"})),
        (frozenset({"itхаб"}),),
    )
    assert query_word("") == ()
    assert query_word("!!!") == ()
    assert query_word("«Astana»,") == ((frozenset({"astana"}),),)
    # Punctuation inside a word: a phrase of its words.
    assert query_word("Astana/Almaty") == (
        (frozenset({"astana"}), frozenset({"almati", "almaty"})),
    )
    # A compound of stopwords still has its joined form.
    assert query_word("из-за") == ((frozenset({"изза", "изз"}),),)


# --- Characters ----------------------------------------------------------------------------


def test_offsets_slice_the_original_text_after_nfkc() -> None:
    text = "ﬁnance Ｋａｚａｋｈｓｔａｎ сло\u0301во cafe\u0301 Tashkent\u00a0№5"
    assert words(text) == [
        "ﬁnance",
        "Ｋａｚａｋｈｓｔａｎ",
        "сло\u0301во",
        "cafe\u0301",
        "Tashkent",
        "№5",
    ]
    assert [t.term for t in tokens(text, "en")] == [
        "financ",
        "kazakhstan",
        "слов",
        "cafe",
        "tashkent",
        "no5",
    ]


def test_offsets_without_normalisation_changes() -> None:
    text = "  Astana, (Almaty) и Шымкент!"
    assert tokens(text, "ru") == [
        Token(2, 8, "astana"),
        Token(11, 17, "almati"),
        Token(19, 20, None),
        Token(21, 28, "шымкент"),
    ]


def test_combining_marks_and_invisible_joiners_stay_in_the_word() -> None:
    assert index_terms("Каза\u0301хстан Казах\u00adстан Ast\u200dana", "kk") == [
        "казахстан",
        "казахстан",
        "astana",
    ]
    assert matches("Казахстан", "Каза\u0301хстана", "ru")
    # Decomposed and composed spellings are one word.
    assert index_terms("Bishke\u0301k Bishkék", "kk") == ["bishkek", "bishkek"]


def test_long_words_are_dropped_digits_kept() -> None:
    assert index_terms("a" * (MAX_WORD + 1) + " x" + "b" * (MAX_WORD - 1), "en") == [
        "x" + "b" * (MAX_WORD - 1)
    ]
    assert tokens("z" * (MAX_WORD + 1), "en") == [Token(0, MAX_WORD + 1, None)]
    assert index_terms("1 000 000 tenge, 12.5%, 2024-2025", "kk") == [
        "1",
        "000",
        "000",
        "tenge",
        "12",
        "5",
        "2024",
        "2025",
        "20242025",
    ]


def test_emoji_and_control_characters_are_ignored() -> None:
    text = "Astana🚀\x00Almaty 👍🏽 \x07 🇰🇿 Bishkek\ufe0f ↑ §"
    assert index_terms(text, "kk") == ["astana", "almaty", "bishkek"]
    assert words(text, "kk") == ["Astana", "Almaty", "Bishkek\ufe0f"]
    assert query_word("🚀") == ()


def test_every_bmp_mark_is_known() -> None:
    marks = {c for c in range(0x10000) if unicodedata.category(chr(c)).startswith("M")}
    assert marks == set(analyser._MARKS)


# --- Properties ------------------------------------------------------------------------------

TRICKY = (
    "aZoOgGsS Ёё ҚқҰүӘә ʻʼ’‘`'′´ -‐‑–_ \u0301\u0307\u00ad\u200d\u200b ﬁＫ½İßǰŉ№¨ \t\n "
    "٣5 🚀\U0001f3fd\ufe0f\x00 가\u1100\u1161 ά"
)
#: Words between punctuation, the chunks index_terms reads without the word grammar.
PUNCTUATED = "abS Жжё қ ʻ’' .,;:!?()\"«»“”„…—–/- ﬁİ\u0301\u00ad"
texts = st.one_of(st.text(), st.text(alphabet=TRICKY), st.text(alphabet=PUNCTUATED))


def _is_term(term: str) -> bool:
    return bool(term) and all(c.isalnum() for c in term) and term == term.casefold()


@given(texts, st.sampled_from(["en", "ru", "kk", "uz", ""]))
def test_terms_are_letters_and_digits(text: str, language: str) -> None:
    terms = index_terms(text, language)
    assert all(_is_term(term) for term in terms), terms


@given(texts, st.sampled_from(["en", "ru", "kk", ""]))
def test_tokens_slice_words_and_agree_with_the_index(text: str, language: str) -> None:
    found, compounds = analyse(text, language)
    previous = 0
    for token in found:
        assert previous <= token.start < token.end <= len(text)
        previous = token.start
        assert text[token.start : token.end].strip()
        assert token.term is None or _is_term(token.term)
    indexed = [token.term for token in found if token.term is not None]
    assert indexed + [c.term for c in compounds] == index_terms(text, language)


@given(texts)
def test_query_word_never_fails(word: str) -> None:
    for way in query_word(word):
        assert way
        for position in way:
            assert position
            assert all(_is_term(term) for term in position)


def test_the_memos_size_never_changes_the_terms(monkeypatch: pytest.MonkeyPatch) -> None:
    # The memos turn over every few words here (a rebuild's workers widen them instead):
    # every text must still give the terms a fresh analysis gives.
    texts = [
        ("IT-хабы Ташкента принимают стартапы; Oʻzbekiston's e-government grows.", "ru"),
        ("Astana Hub's startups and the Kazakhstan energies of 2026", "en"),
        ("Қазақстан мен Өзбекстан IT-хабтары", "kk"),
    ]
    fresh = [index_terms(text, language) for text, language in texts]
    monkeypatch.setattr(analyser, "_memo_limit", analyser.MEMO_LIMIT)  # restored afterwards
    analyser.widen_memo(2)
    # So that every chunk is learnt again, two to a generation.
    for entries in analyser._ENTRIES.values():
        entries.clear()
    for chunks in analyser._CHUNKS.values():
        chunks.clear()
    assert [index_terms(text, language) for text, language in texts * 3] == fresh * 3
    with pytest.raises(ValueError, match="positive"):
        analyser.widen_memo(0)
