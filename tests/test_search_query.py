"""The query syntax: words, phrases, exclusions and filters, and what happens to odd input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from storage.search.query import MAX_QUERY_CHARS, MAX_TERMS, is_too_long, parse_query
from storage.search.results import NoteKind, QueryNote

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def test_plain_words_are_each_required() -> None:
    query = parse_query("Astana  hub startups", now=NOW)
    assert query.required == (("Astana",), ("hub",), ("startups",))
    assert query.excluded == ()
    assert not query.has_filters


def test_quoted_phrase_keeps_its_words_together_in_any_quote_style() -> None:
    for text in ('"IT park" Tashkent', "«IT park» Tashkent", "“IT park” Tashkent"):
        assert parse_query(text, now=NOW).required == (("IT", "park"), ("Tashkent",))


def test_an_unclosed_quote_runs_to_the_end() -> None:
    assert parse_query('solar "power plant', now=NOW).required == (
        ("solar",),
        ("power", "plant"),
    )


def test_minus_excludes_a_word_or_a_phrase() -> None:
    query = parse_query('startups -Almaty -"venture fund" e-government', now=NOW)
    assert query.required == (("startups",), ("e-government",))
    assert query.excluded == (("Almaty",), ("venture", "fund"))


def test_a_lone_minus_or_a_hyphen_inside_a_word_excludes_nothing() -> None:
    query = parse_query("IT-хаб - energy", now=NOW)
    assert query.required == (("IT-хаб",), ("energy",))
    assert query.excluded == ()


def test_filters_are_read_with_aliases_commas_and_repeats() -> None:
    query = parse_query("solar topic:Energy,policy country:uz COUNTRY:Kazakhstan lang:ru", now=NOW)
    assert query.required == (("solar",),)
    assert query.topics == {"energy", "policy"}
    assert query.countries == {"uz", "kz"}
    assert query.languages == {"ru"}
    assert query.notes == ()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("7d", NOW - timedelta(days=7)),
        ("24h", NOW - timedelta(hours=24)),
        ("2w", NOW - timedelta(days=14)),
        ("2026-01-01", datetime(2026, 1, 1, tzinfo=UTC)),
    ],
)
def test_since_takes_an_age_or_a_date(value: str, expected: datetime) -> None:
    assert parse_query(f"since:{value} hub", now=NOW).since == expected


def test_unknown_filter_values_become_notes_and_do_not_filter() -> None:
    query = parse_query("topic:sport country:mars lang:xx since:yesterday hub", now=NOW)
    assert query.required == (("hub",),)
    assert not query.has_filters
    assert query.notes == (
        QueryNote(NoteKind.UNKNOWN_TOPIC, "sport"),
        QueryNote(NoteKind.UNKNOWN_COUNTRY, "mars"),
        QueryNote(NoteKind.UNKNOWN_LANGUAGE, "xx"),
        QueryNote(NoteKind.BAD_SINCE, "yesterday"),
    )


def test_unknown_keys_and_fts_syntax_are_just_text() -> None:
    query = parse_query("title:Astana NEAR(hub park) AND x*", now=NOW)
    words = [word for phrase in query.required for word in phrase]
    assert words == ["title", "Astana", "NEAR", "hub", "park", "AND", "x"]
    assert not query.has_filters


def test_sql_and_control_characters_are_only_words() -> None:
    query = parse_query("'; DROP TABLE articles;--\x00\u200b energy", now=NOW)
    words = [word for phrase in query.required for word in phrase]
    assert words == ["DROP", "TABLE", "articles", "energy"]


def test_words_beyond_the_limit_are_dropped_with_a_note() -> None:
    words = [f"w{index}" for index in range(MAX_TERMS + 3)]
    query = parse_query(" ".join(words), now=NOW)
    assert len(query.required) == MAX_TERMS
    assert query.notes[0].kind is NoteKind.TOO_MANY_WORDS
    assert query.notes[0].value == " ".join(words[MAX_TERMS:])


def test_length_limit() -> None:
    assert not is_too_long("x" * MAX_QUERY_CHARS)
    assert is_too_long("x" * (MAX_QUERY_CHARS + 1))
    assert not is_too_long(" " * 5000 + "energy")


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        parse_query("x", now=datetime(2026, 1, 1))  # noqa: DTZ001 - the point of the test


@given(st.text(max_size=600))
def test_any_text_parses(text: str) -> None:
    query = parse_query(text, now=NOW)
    assert len(query.required) + len(query.excluded) <= MAX_TERMS
    for phrase in (*query.required, *query.excluded):
        assert phrase
        assert all(word and not any(char.isspace() for char in word) for word in phrase)
