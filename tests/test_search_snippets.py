"""Snippets: the part of an article a reader sees under a result, matched words marked."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from storage.search.analyser import index_terms, query_word
from storage.search.snippets import ELLIPSIS, Fragment, Snippet, highlight, snippet


def terms_of(*words: str) -> frozenset[str]:
    """Every term the query words can match (what the search service passes)."""
    return frozenset(
        term for word in words for way in query_word(word) for position in way for term in position
    )


def marked(result: Snippet) -> list[str]:
    return [fragment.text for fragment in result if fragment.match]


def shown(result: Snippet) -> str:
    """The original text shown, without the ellipses."""
    return "".join(fragment.text for fragment in result if fragment is not ELLIPSIS)


ARTICLE = (
    "Almaty, 12 May. The city akimat presented its plans for public transport on Tuesday. "
    "New bus lanes will open on Abay Avenue and Al-Farabi Avenue before the autumn, and the "
    "fleet will be renewed with 200 electric buses. Officials said the energy for the "
    "depots would come from a new solar plant in the Almaty region, and that the solar "
    "plant and two smaller solar farms would supply most of the energy the buses need. "
    "The metro extension is expected to be finished in 2027."
)


def test_empty_or_blank_text() -> None:
    assert snippet("", "en", terms_of("energy")) == ()
    assert snippet(" \n ", "en", terms_of("energy")) == ()
    assert highlight("", "en", terms_of("energy")) == ()


def test_short_text_is_shown_whole_with_matches_marked() -> None:
    text = "Solar energy for Almaty's buses"
    result = snippet(text, "en", terms_of("energy", "buses"))
    assert result == (
        Fragment("Solar ", False),
        Fragment("energy", True),
        Fragment(" for Almaty's ", False),
        Fragment("buses", True),
    )


def test_window_with_the_most_matches() -> None:
    result = snippet(ARTICLE, "en", terms_of("solar", "energy"), width=160)
    assert result[0] == ELLIPSIS
    assert result[-1] == ELLIPSIS
    # The second half has four matches within 160 characters, the first has none.
    assert marked(result) == ["energy", "solar", "solar", "solar"]
    assert shown(result) in ARTICLE
    assert len(shown(result)) <= 160 + 40


def test_ties_go_to_the_earliest_match() -> None:
    text = "Bishkek airport reopens. " + "Filler words here. " * 20 + "Bishkek metro plans."
    result = snippet(text, "en", terms_of("Bishkek"), width=60)
    assert result[0] == Fragment("Bishkek", True)
    assert result[-1] == ELLIPSIS


def test_cuts_fall_between_words() -> None:
    result = snippet(ARTICLE, "en", terms_of("metro"), width=80)
    text = shown(result)
    assert result[0] == ELLIPSIS
    assert marked(result) == ["metro"]
    start = ARTICLE.index(text)
    assert ARTICLE[start - 1].isspace()
    assert start + len(text) == len(ARTICLE)  # reaches the end: no trailing ellipsis
    assert result[-1] != ELLIPSIS


def test_no_match_shows_the_beginning() -> None:
    result = snippet(ARTICLE, "en", terms_of("Tashkent"), width=50)
    assert not marked(result)
    assert result[-1] == ELLIPSIS
    text = shown(result)
    assert ARTICLE.startswith(text)
    assert ARTICLE[len(text)].isspace()
    assert len(text) <= 50 + 20


def test_inflected_words_are_marked_as_written() -> None:
    text = "Число резидентов IT-хабов выросло; новые IT-хабы откроются в Шымкенте."
    # The compound matched through its joined form too: marked whole.
    assert marked(highlight(text, "ru", terms_of("IT-хаб"))) == ["IT-хабов", "IT-хабы"]
    assert marked(highlight(text, "ru", terms_of("хаб"))) == ["хабов", "хабы"]
    assert marked(highlight(text, "ru", terms_of("Шымкент"))) == ["Шымкенте"]


def test_compound_matched_by_its_joined_form_is_marked_whole() -> None:
    text = "The e-government portal (e-Gov) was upgraded"
    assert marked(highlight(text, "en", terms_of("egovernment"))) == ["e-government"]
    assert marked(highlight(text, "en", terms_of("egov"))) == ["e-Gov"]


def test_marks_hold_the_original_characters() -> None:
    text = "Ｋａｚａｋｈｓｔａｎ and Oʻzbekiston sign a ﬁnance deal"
    result = highlight(text, "en", terms_of("Kazakhstan", "Ozbekiston", "finance"))
    assert marked(result) == ["Ｋａｚａｋｈｓｔａｎ", "Oʻzbekiston", "ﬁnance"]
    assert shown(result) == text


def test_kazakh_text_matched_by_russian_letters() -> None:
    text = "Қазақстан мен Өзбекстан арасындағы келісім"
    assert marked(highlight(text, "kk", terms_of("Казакстан", "Озбекстан"))) == [
        "Қазақстан",
        "Өзбекстан",
    ]


def test_a_long_text_without_spaces_is_cut_anyway() -> None:
    text = "x" * 500
    result = snippet(text, "en", frozenset(), width=100)
    assert result == (Fragment("x" * 100, False), ELLIPSIS)


@given(
    st.one_of(st.text(alphabet="ab Астана-ʼ’s ﬁ\u0301.\n🚀", max_size=400), st.text()),
    st.integers(min_value=1, max_value=300),
    st.data(),
)
def test_snippet_shows_a_piece_of_the_text(text: str, width: int, data: st.DataObject) -> None:
    vocabulary = sorted(set(index_terms(text, "ru")))
    terms = frozenset(data.draw(st.lists(st.sampled_from(vocabulary))) if vocabulary else [])
    result = snippet(text, "ru", terms, width=width)
    if not text.strip():
        assert result == ()
        return
    assert all(fragment.text for fragment in result)
    piece = shown(result)
    assert piece in text
    assert piece.strip() == piece
    content = text.strip()
    if result[0] != ELLIPSIS:
        assert content.startswith(piece)
    if result[-1] != ELLIPSIS:
        assert content.endswith(piece)
    assert (ELLIPSIS in result) == (len(piece) < len(content))
    # About ``width``: cuts move at most 20 characters to keep a chunk whole.
    assert len(piece) <= max([width, *map(len, marked(result))]) + 40
    whole = highlight(text, "ru", terms)
    assert shown(whole) == text
    # Everything marked in the snippet is marked in the whole text too.
    assert set(marked(result)) <= set(marked(whole))
