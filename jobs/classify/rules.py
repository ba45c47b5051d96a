"""Classifier rules: the shipped defaults merged with an operator's overrides.

The defaults live in ``default_rules.toml`` next to this module; an operator's
overrides come from the ``[classifier]`` section of the config file and use the same
shape. Every key path below is relative to that mapping; errors name it in full.

Format (every section and key is optional in an override)::

    [scoring]
    title_weight = 2.0      # a title match counts this many body matches
    repeat_decay = 0.5      # 2nd occurrence of a term counts 0.5, 3rd 0.25, ...
    half_score = 3.0        # raw evidence at which a normalised score reaches 0.5
    max_text_chars = 4000   # only this much of the body is read

    [topics.<topic>]        # topic in it_hubs, energy, policy, society
    min_score = 0.5         # assigned when score >= min_score (0..1)
    keywords.<lang> = { "term" = weight, ... }     # replaces that language's list
    add_keywords.<lang> = { "term" = weight }      # or a list of terms (weight 1.0)
    remove_keywords = ["term", ...]                # from any language; must exist

    [countries.<cc>]        # cc in kz, uz, kg, tj, tm, az
    min_score = 0.25
    aliases.<lang> / add_aliases.<lang> / remove_aliases    # as for keywords

    [region]                # "Central Asia": one mention counts for several countries
    countries = ["kz", "uz", "kg", "tj", "tm"]
    weight = 0.5            # share of a region term's weight each member country gets
    terms.<lang> / add_terms.<lang> / remove_terms

    [veto.<name>]           # negative context, e.g. sport or weather; a new name adds one
    min_score = 0.5         # the veto fires when its own score reaches this
    factor = 0.2            # ...and then multiplies the raw scores of `topics` by this
    topics = ["it_hubs", "energy", "policy", "society"]
    terms.<lang> / add_terms.<lang> / remove_terms

``<lang>`` is one of en, ru, kk, uz; languages only organise the lists, every term is
matched in every article. A term is a word or a phrase (matched as a word sequence,
see :mod:`jobs.classify.analysis`); a word ending in ``*`` matches any word starting
with it (``тариф*``, useful for Kazakh and Uzbek endings); a word in capitals (``IT``)
matches only the capitalised acronym. Weights are numbers from 0 to 5; weight 0 makes
a *shadow* term: it matches and so hides its words from shorter terms of the same
target, but scores nothing ("soft power" under energy hides "power").
"""

from __future__ import annotations

import hashlib
import json
import math
import tomllib
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, fields
from importlib import resources
from typing import Any, Final

from jobs.classify.analysis import ANALYSER_VERSION
from jobs.classify.matcher import TermSpec, check_term
from jobs.errors import RulesError
from storage.records import COUNTRIES, LANGUAGES, TOPICS

MAX_WEIGHT: Final = 5.0

#: A term list: language -> term spelling -> weight.
Terms = Mapping[str, Mapping[str, float]]


@dataclass(frozen=True, slots=True)
class Scoring:
    """How matches become scores."""

    title_weight: float = 2.0
    repeat_decay: float = 0.5
    half_score: float = 3.0
    max_text_chars: int = 4000


@dataclass(frozen=True, slots=True)
class TargetRules:
    """Terms and threshold of one topic or one country."""

    terms: Terms
    min_score: float


@dataclass(frozen=True, slots=True)
class RegionRules:
    """Terms naming the region as a whole, and the countries they count for."""

    terms: Terms
    countries: tuple[str, ...]
    weight: float


@dataclass(frozen=True, slots=True)
class VetoRules:
    """A negative context (sport, weather) that damps topic scores when present."""

    terms: Terms
    min_score: float
    factor: float
    topics: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Rules:
    """The complete, validated rule set a :class:`~jobs.classify.Classifier` compiles."""

    scoring: Scoring
    topics: Mapping[str, TargetRules]
    countries: Mapping[str, TargetRules]
    region: RegionRules
    vetoes: Mapping[str, VetoRules]

    def fingerprint(self) -> str:
        """A stable hash of the rules and the analyser version (16 hex digits)."""
        canonical = json.dumps(
            {"analyser": ANALYSER_VERSION, "rules": _to_plain(self)},
            sort_keys=True,
            ensure_ascii=False,
            separators=(",", ":"),
        )
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def load_rules(overrides: Mapping[str, Any] | None = None) -> Rules:
    """Return the shipped default rules with ``overrides`` applied on top.

    Raises :class:`jobs.errors.RulesError` naming the dotted key path of anything
    invalid: an unknown section, topic, country or language, a wrong type, a weight or
    threshold out of range, or removing a term that is not there.
    """
    state = _empty_state()
    _apply_layer(state, _read_defaults(), "")
    if overrides is not None:
        if not isinstance(overrides, Mapping):
            raise RulesError("classifier", "must be a table")
        _apply_layer(state, overrides, "")
    return _freeze(state)


def _read_defaults() -> dict[str, Any]:
    text = resources.files("jobs.classify").joinpath("default_rules.toml").read_text("utf-8")
    return tomllib.loads(text)


# --- the mutable merge state -------------------------------------------------------------

_TermState = dict[str, dict[str, float]]  # lang -> term -> weight


def _empty_terms() -> _TermState:
    return {lang: {} for lang in LANGUAGES}


def _empty_state() -> dict[str, Any]:
    return {
        "scoring": {
            "title_weight": 2.0,
            "repeat_decay": 0.5,
            "half_score": 3.0,
            "max_text_chars": 4000,
        },
        "topics": {t: {"min_score": 0.5, "terms": _empty_terms()} for t in TOPICS},
        "countries": {c: {"min_score": 0.25, "terms": _empty_terms()} for c in COUNTRIES},
        "region": {
            "countries": ["kz", "uz", "kg", "tj", "tm"],
            "weight": 0.5,
            "terms": _empty_terms(),
        },
        "veto": {},
    }


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _table(value: object, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise RulesError(path, "must be a table")
    return value


def _number(value: object, path: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RulesError(path, f"must be a number, not {type(value).__name__}")
    number = float(value)
    if not math.isfinite(number) or not low <= number <= high:
        raise RulesError(path, f"must be between {low:g} and {high:g}, got {value!r}")
    return number


def _apply_layer(state: dict[str, Any], layer: Mapping[str, Any], path: str) -> None:
    for key, value in layer.items():
        here = _join(path, key)
        if key == "scoring":
            _apply_scoring(state["scoring"], _table(value, here), here)
        elif key in ("topics", "countries"):
            codes = TOPICS if key == "topics" else COUNTRIES
            noun = "topic" if key == "topics" else "country"
            base = "keywords" if key == "topics" else "aliases"
            for code, section in _table(value, here).items():
                sub = _join(here, code)
                if code not in codes:
                    raise RulesError(sub, f"unknown {noun}; expected one of {', '.join(codes)}")
                _apply_target(state[key][code], _table(section, sub), sub, base)
        elif key == "region":
            _apply_region(state["region"], _table(value, here), here)
        elif key == "veto":
            for name, section in _table(value, here).items():
                sub = _join(here, name)
                veto = state["veto"].setdefault(
                    name,
                    {
                        "min_score": 0.5,
                        "factor": 0.2,
                        "topics": list(TOPICS),
                        "terms": _empty_terms(),
                    },
                )
                _apply_veto(veto, _table(section, sub), sub)
        else:
            raise RulesError(
                here, "unknown setting; expected scoring, topics, countries, region or veto"
            )


def _apply_scoring(scoring: dict[str, Any], layer: Mapping[str, Any], path: str) -> None:
    limits = {
        "title_weight": (0.0, 10.0),
        "repeat_decay": (0.0, 1.0),
        "half_score": (0.01, 100.0),
        "max_text_chars": (1.0, 1_000_000.0),
    }
    for key, value in layer.items():
        here = _join(path, key)
        if key not in limits:
            raise RulesError(here, f"unknown setting; expected one of {', '.join(limits)}")
        if key == "max_text_chars":
            if isinstance(value, bool) or not isinstance(value, int):
                raise RulesError(here, "must be an integer")
            scoring[key] = int(_number(value, here, *limits[key]))
        else:
            scoring[key] = _number(value, here, *limits[key])


def _apply_target(target: dict[str, Any], layer: Mapping[str, Any], path: str, base: str) -> None:
    for key, value in layer.items():
        here = _join(path, key)
        if key == "min_score":
            target["min_score"] = _number(value, here, 0.0, 1.0)
        elif not _apply_terms(target["terms"], key, value, here, base):
            raise RulesError(
                here, f"unknown setting; expected min_score, {base}, add_{base} or remove_{base}"
            )


def _apply_region(region: dict[str, Any], layer: Mapping[str, Any], path: str) -> None:
    for key, value in layer.items():
        here = _join(path, key)
        if key == "weight":
            region["weight"] = _number(value, here, 0.0, MAX_WEIGHT)
        elif key == "countries":
            region["countries"] = _codes(value, here, COUNTRIES, "country")
        elif not _apply_terms(region["terms"], key, value, here, "terms"):
            raise RulesError(
                here,
                "unknown setting; expected countries, weight, terms, add_terms or remove_terms",
            )


def _apply_veto(veto: dict[str, Any], layer: Mapping[str, Any], path: str) -> None:
    for key, value in layer.items():
        here = _join(path, key)
        if key == "min_score":
            veto["min_score"] = _number(value, here, 0.0, 1.0)
        elif key == "factor":
            veto["factor"] = _number(value, here, 0.0, 1.0)
        elif key == "topics":
            veto["topics"] = _codes(value, here, TOPICS, "topic")
        elif not _apply_terms(veto["terms"], key, value, here, "terms"):
            raise RulesError(
                here,
                "unknown setting; expected min_score, factor, topics, "
                "terms, add_terms or remove_terms",
            )


def _codes(value: object, path: str, allowed: tuple[str, ...], noun: str) -> list[str]:
    if not isinstance(value, list):
        raise RulesError(path, f"must be a list of {noun} codes")
    for i, code in enumerate(value):
        if code not in allowed:
            raise RulesError(f"{path}[{i}]", f"unknown {noun} {code!r}")
    return list(dict.fromkeys(value))


def _apply_terms(terms: _TermState, key: str, value: object, path: str, base: str) -> bool:
    """Apply ``<base>``, ``add_<base>`` or ``remove_<base>``; False if ``key`` is neither."""
    if key in (base, f"add_{base}"):
        for lang, entries in _table(value, path).items():
            here = _join(path, lang)
            if lang not in LANGUAGES:
                raise RulesError(here, f"unknown language; expected one of {', '.join(LANGUAGES)}")
            parsed = _term_weights(entries, here)
            if key == base:
                terms[lang] = parsed
            else:
                terms[lang].update(parsed)
        return True
    if key == f"remove_{base}":
        if not isinstance(value, list):
            raise RulesError(path, "must be a list of terms")
        for i, term in enumerate(value):
            here = f"{path}[{i}]"
            if not isinstance(term, str):
                raise RulesError(here, "must be a string")
            wanted = _spelling_key(term)
            found = False
            for entries in terms.values():
                for existing in [t for t in entries if _spelling_key(t) == wanted]:
                    del entries[existing]
                    found = True
            if not found:
                raise RulesError(here, f"{term!r} is not in the rules")
        return True
    return False


def _term_weights(entries: object, path: str) -> dict[str, float]:
    if isinstance(entries, list):
        for i, term in enumerate(entries):
            if not isinstance(term, str):
                raise RulesError(f"{path}[{i}]", "must be a string")
        entries = dict.fromkeys(entries, 1.0)
    parsed: dict[str, float] = {}
    for term, weight in _table(entries, path).items():
        here = _join(path, json.dumps(term, ensure_ascii=False))
        if not isinstance(term, str) or not term.strip():
            raise RulesError(here, "a term must be a non-empty string")
        parsed[term.strip()] = _number(weight, here, 0.0, MAX_WEIGHT)
        # Analyse it now, so a term that can never match fails with its own key path.
        check_term(TermSpec(0, term, parsed[term.strip()], here))
    return parsed


def _spelling_key(term: str) -> str:
    return unicodedata.normalize("NFKC", term).strip().casefold()


# --- freezing --------------------------------------------------------------------------


def _freeze_terms(terms: _TermState) -> Terms:
    return {lang: dict(sorted(entries.items())) for lang, entries in terms.items()}


def _freeze(state: dict[str, Any]) -> Rules:
    return Rules(
        scoring=Scoring(**state["scoring"]),
        topics={
            code: TargetRules(_freeze_terms(t["terms"]), t["min_score"])
            for code, t in state["topics"].items()
        },
        countries={
            code: TargetRules(_freeze_terms(c["terms"]), c["min_score"])
            for code, c in state["countries"].items()
        },
        region=RegionRules(
            _freeze_terms(state["region"]["terms"]),
            tuple(state["region"]["countries"]),
            state["region"]["weight"],
        ),
        vetoes={
            name: VetoRules(
                _freeze_terms(v["terms"]), v["min_score"], v["factor"], tuple(v["topics"])
            )
            for name, v in sorted(state["veto"].items())
        },
    )


def _to_plain(value: object) -> object:
    if isinstance(value, Rules | Scoring | TargetRules | RegionRules | VetoRules):
        return {f.name: _to_plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _to_plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_to_plain(v) for v in value]
    return value
