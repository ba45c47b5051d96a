"""Operator overrides of the classifier rules, and their validation."""

from __future__ import annotations

import json
from typing import Any

import pytest

from jobs.classify import Classifier, classify_json_lines, load_rules
from jobs.errors import RulesError

HYDROGEN = ("Green hydrogen electrolyser for Kazakhstan", "An electrolyser project in Mangystau.")
STARTUP = ("Startup raises seed round", "A startup from Almaty raised a seed round.")


def test_add_keywords_makes_a_new_term_count() -> None:
    assert "energy" not in Classifier().classify(*HYDROGEN).topics
    rules = load_rules({"topics": {"energy": {"add_keywords": {"en": {"electrolyser": 3.0}}}}})
    result = Classifier(rules).classify(*HYDROGEN)
    assert "energy" in result.topics
    assert "electrolyser" in result.evidence["energy"]


def test_add_keywords_accepts_a_plain_list() -> None:
    rules = load_rules({"topics": {"energy": {"add_keywords": {"en": ["electrolyser"]}}}})
    assert rules.topics["energy"].terms["en"]["electrolyser"] == 1.0
    assert rules.topics["energy"].terms["en"]["oil"] > 0  # defaults kept


def test_keywords_replace_one_language_only() -> None:
    rules = load_rules({"topics": {"energy": {"keywords": {"en": {"electrolyser": 2}}}}})
    assert dict(rules.topics["energy"].terms["en"]) == {"electrolyser": 2.0}
    assert rules.topics["energy"].terms["ru"]  # Russian defaults untouched


def test_remove_keywords_stops_a_term_counting() -> None:
    assert "it_hubs" in Classifier().classify(*STARTUP).topics
    rules = load_rules({"topics": {"it_hubs": {"remove_keywords": ["startup", "Start-up"]}}})
    assert "it_hubs" not in Classifier(rules).classify(*STARTUP).topics


def test_min_score_changes_the_threshold() -> None:
    strict = Classifier(load_rules({"topics": {"it_hubs": {"min_score": 0.99}}}))
    assert "it_hubs" not in strict.classify(*STARTUP).topics
    lenient = Classifier(load_rules({"topics": {"policy": {"min_score": 0.0}}}))
    assert "policy" not in lenient.classify(*STARTUP).topics  # no evidence, no topic


def test_country_aliases_and_new_veto() -> None:
    rules = load_rules(
        {
            "countries": {"kz": {"add_aliases": {"en": {"Baikonur Cosmodrome": 3}}}},
            "veto": {"markets": {"terms": {"en": {"stock quotes": 3}}, "factor": 0.0}},
        }
    )
    classifier = Classifier(rules)
    assert classifier.classify("Launch at Baikonur Cosmodrome", "").countries == ("kz",)
    quotes = classifier.analyse("Stock quotes", "Stock quotes: Kaspi, Halyk; startup index up.")
    assert quotes.vetoes == ("markets",)
    assert quotes.topics == ()


def test_overrides_change_the_fingerprint() -> None:
    default = Classifier().fingerprint
    assert Classifier(load_rules({})).fingerprint == default
    changed = Classifier(load_rules({"topics": {"energy": {"min_score": 0.6}}})).fingerprint
    assert changed != default


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"topics": {"crypto": {"min_score": 0.5}}}, "topics.crypto"),
        ({"topics": {"energy": {"keywords": {"en": "oil"}}}}, "topics.energy.keywords.en"),
        (
            {"topics": {"energy": {"add_keywords": {"en": {"oil": -1}}}}},
            'topics.energy.add_keywords.en."oil"',
        ),
        (
            {"topics": {"energy": {"add_keywords": {"en": {"oil": "high"}}}}},
            'topics.energy.add_keywords.en."oil"',
        ),
        (
            {"topics": {"energy": {"add_keywords": {"en": {"oil": True}}}}},
            'topics.energy.add_keywords.en."oil"',
        ),
        (
            {"topics": {"energy": {"add_keywords": {"fr": {"pétrole": 1}}}}},
            "topics.energy.add_keywords.fr",
        ),
        ({"topics": {"energy": {"min_score": 2}}}, "topics.energy.min_score"),
        ({"topics": {"energy": {"threshold": 0.5}}}, "topics.energy.threshold"),
        (
            {"topics": {"energy": {"remove_keywords": ["hydrogen"]}}},
            "topics.energy.remove_keywords[0]",
        ),
        ({"countries": {"ru": {"min_score": 0.5}}}, "countries.ru"),
        ({"region": {"countries": ["kz", "xx"]}}, "region.countries[1]"),
        ({"veto": {"sport": {"topics": ["football"]}}}, "veto.sport.topics[0]"),
        ({"scoring": {"half_score": 0}}, "scoring.half_score"),
        ({"scoring": {"max_text_chars": 1.5}}, "scoring.max_text_chars"),
        ({"colour": "blue"}, "colour"),
        (
            {"topics": {"energy": {"add_keywords": {"en": {"Ай*": 1}}}}},
            'topics.energy.add_keywords.en."Ай*"',
        ),
        (
            {"topics": {"energy": {"add_keywords": {"en": {"!!!": 1}}}}},
            'topics.energy.add_keywords.en."!!!"',
        ),
    ],
)
def test_invalid_overrides_name_the_key(overrides: dict[str, Any], key: str) -> None:
    with pytest.raises(RulesError) as caught:
        load_rules(overrides)
    assert caught.value.key == key
    assert key in str(caught.value)


def test_json_lines_valid_and_invalid_lines() -> None:
    lines = [
        json.dumps({"title": "Astana Hub grows", "text": "Forty startups joined the technopark."}),
        "{not json",
        json.dumps({"title": "Only a title"}),
        "",
        json.dumps(["a", "list"]),
        json.dumps({"title": "Погода", "text": "Прогноз погоды: дождь и снег.", "language": "ru"}),
    ]
    out = [json.loads(line) for line in classify_json_lines(lines, Classifier())]
    assert len(out) == 5  # the blank line is skipped
    first = out[0]
    assert first["topics"] == ["it_hubs"]
    assert set(first["scores"]) == {"it_hubs", "energy", "policy", "society"}
    assert first["scores"]["it_hubs"] == round(first["scores"]["it_hubs"], 3)
    assert first["countries"] == ["kz"]
    assert "Astana Hub" in first["evidence"]["kz"]
    assert out[1]["error"].startswith("line 2: not valid JSON")
    assert out[2] == {"error": 'line 3: missing "text"'}
    assert out[3] == {"error": "line 5: expected a JSON object"}
    assert out[4]["topics"] == []
