"""The classifier's per-chunk memos never change a result, and phrases are found
wherever their words are (across punctuation-only chunks, after a memo reset)."""

from __future__ import annotations

import pytest

import jobs.classify.scanner as scanner
from jobs.classify import Classifier

ARTICLES = [
    (
        "Astana Hub and IT Park Uzbekistan sign a partnership",
        "The technopark Astana Hub — Kazakhstan's IT hub — will exchange startups with "
        "IT Park Uzbekistan. Central Asia's venture capital market keeps growing.",
    ),
    (
        "Правительство утвердило тарифы на электроэнергию",
        "Министр энергетики сообщил, что тарифы на электроэнергию в Центральной Азии "
        "вырастут, а ТЭЦ Алматы перейдёт на газ.",
    ),
    (
        "Oʻzbekiston sun'iy intellekt strategiyasini qabul qildi",
        "Prezident farmoni bilan sun'iy intellekt texnologiyalarini rivojlantirish "
        "dasturi tasdiqlandi; IT Park rezidentlari soni oshdi.",
    ),
]


def test_results_do_not_depend_on_what_was_classified_before(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fresh = [Classifier().analyse(title, text) for title, text in ARTICLES]
    warm = Classifier()
    for title, text in ARTICLES * 3:
        warm.analyse(text, title)  # fill the memos with the same chunks in other roles
    assert [warm.analyse(title, text) for title, text in ARTICLES] == fresh
    # A memo limit so small that the memos are cleared before nearly every text.
    monkeypatch.setattr(scanner, "MEMO_LIMIT", 3)
    tiny = Classifier()
    assert [tiny.analyse(title, text) for title, text in ARTICLES * 2] == fresh * 2


def test_phrase_spans_a_chunk_without_words() -> None:
    classifier = Classifier()
    dashed = classifier.analyse("News", "Startups at Astana — Hub this week.")
    plain = classifier.analyse("News", "Startups at Astana Hub this week.")
    assert "Astana Hub" in plain.evidence["kz"]
    assert dashed.evidence == plain.evidence
    assert dashed.topic_scores == plain.topic_scores


def test_a_phrase_hides_its_words_only_from_its_own_target() -> None:
    result = Classifier().analyse("Astana Hub", "")
    # "Astana Hub" counts once for Kazakhstan, not again as "Astana".
    assert result.evidence["kz"] == ("Astana Hub",)
    assert "Astana Hub" in result.evidence["it_hubs"]
