"""The rule-based classifier: topics and countries of an article, with evidence.

Scoring, for each topic, country and veto (a *target*):

* every matched term contributes ``weight * (title_weight * r(t) + r(b))`` where ``t``
  and ``b`` are its occurrences in the title and body and ``r(n) = 1 + d + ... + d^(n-1)``
  with ``d = repeat_decay``: repeating a word adds less and less;
* the raw sum is normalised to 0..1 as ``raw / (raw + half_score)``;
* a veto (sport, weather) whose score reaches its ``min_score`` multiplies the raw
  scores of its topics by its ``factor`` before normalising;
* a topic is assigned when its score is at least its ``min_score``; countries likewise,
  ranked by score (ties in :data:`storage.records.COUNTRIES` order).

Region terms ("Central Asia", "Орталық Азия") count for each member country with
``region.weight`` times their weight: a headline about Central Asian leaders, or
repeated mentions, make an article about every member country, a passing mention
does not reach a country's threshold on its own.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from itertools import groupby
from operator import itemgetter
from types import MappingProxyType

from jobs.classify.matcher import Matcher, TermSpec
from jobs.classify.rules import Rules, Terms, load_rules
from jobs.classify.scanner import Scanner
from storage.records import COUNTRIES, TOPICS, Classification


@dataclass(frozen=True, slots=True)
class Analysis:
    """Everything the classifier found: all scores, not only the assigned ones."""

    topic_scores: Mapping[str, float]
    """Score 0..1 of every topic (after vetoes)."""
    country_scores: Mapping[str, float]
    """Score 0..1 of every country."""
    topics: tuple[str, ...]
    """Assigned topics, highest score first."""
    countries: tuple[str, ...]
    """Countries the article is about, highest score first."""
    evidence: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Matched terms (strongest first) of every topic, country and ``veto:<name>`` hit."""
    vetoes: tuple[str, ...] = ()
    """Vetoes that fired."""

    def classification(self) -> Classification:
        """The storable record: assigned topics and countries, and their evidence."""
        return Classification(
            topics={t: round(self.topic_scores[t], 3) for t in self.topics},
            countries=self.countries,
            evidence={code: self.evidence[code] for code in (*self.topics, *self.countries)},
        )


class Classifier:
    """Classifies articles with compiled :class:`~jobs.classify.rules.Rules`.

    Build one per rule set and reuse it: compiling happens once, here. Classifying is
    pure and deterministic; the only state is a memo of analysed words.
    """

    def __init__(self, rules: Rules | None = None) -> None:
        self.rules = rules if rules is not None else load_rules()
        self.fingerprint = self.rules.fingerprint()
        """Stable hash of the rules (and analyser version) that classified an article."""
        self._veto_names = tuple(self.rules.vetoes)
        self._targets = (*TOPICS, *COUNTRIES, *(f"veto:{v}" for v in self._veto_names))
        self._matcher = Matcher(self._specs())
        self._scanner = Scanner(self._matcher)
        # Entry fields as flat lists: the scoring loop reads them per matched term.
        entries = self._matcher.entries
        self._weights = [e.weight for e in entries]
        self._entry_targets = [e.target for e in entries]
        self._labels = [e.label for e in entries]
        decay = self.rules.scoring.repeat_decay
        sums = [0.0]
        for n in range(1, 64):
            sums.append(sums[-1] + decay ** (n - 1))
        self._repeat = _Repeat(enumerate(sums))
        self._topic_min = [self.rules.topics[t].min_score for t in TOPICS]
        self._country_min = [self.rules.countries[c].min_score for c in COUNTRIES]

    def _specs(self) -> Iterator[TermSpec]:
        def from_terms(
            target: int, terms: Terms, path: str, scale: float = 1.0
        ) -> Iterator[TermSpec]:
            for lang, entries in terms.items():
                for spelling, weight in entries.items():
                    yield TermSpec(target, spelling, weight * scale, f"{path}.{lang}.{spelling}")

        rules = self.rules
        for i, topic in enumerate(TOPICS):
            yield from from_terms(i, rules.topics[topic].terms, f"topics.{topic}.keywords")
        for i, country in enumerate(COUNTRIES, start=len(TOPICS)):
            yield from from_terms(i, rules.countries[country].terms, f"countries.{country}.aliases")
            if country in rules.region.countries:
                yield from from_terms(i, rules.region.terms, "region.terms", rules.region.weight)
        for i, name in enumerate(self._veto_names, start=len(TOPICS) + len(COUNTRIES)):
            yield from from_terms(i, rules.vetoes[name].terms, f"veto.{name}.terms")

    def analyse(self, title: str, text: str, language: str | None = None) -> Analysis:
        """Score every topic and country of an article.

        Only the first ``scoring.max_text_chars`` characters of ``text`` are read.
        ``language`` is accepted as a hint but does not change matching: terms of every
        language are matched in every article, since feeds mix languages and scripts.
        """
        del language  # see the docstring: matching is script-based, not language-based
        raw, contributions, fired = self._raw_scores(title, text)
        topic_scores, country_scores, topics, countries = self._decide(raw)
        evidence = {self._targets[target]: labels for target, labels in _evidence(contributions)}
        return Analysis(
            topic_scores=MappingProxyType(topic_scores),
            country_scores=MappingProxyType(country_scores),
            topics=topics,
            countries=countries,
            evidence=MappingProxyType(evidence),
            vetoes=fired,
        )

    def classify(self, title: str, text: str, language: str | None = None) -> Classification:
        """Topics, countries and evidence of an article (see :meth:`analyse`).

        Equal to ``analyse(...).classification()``, without building what the record
        does not keep (the collector classifies every new article).
        """
        del language  # as in analyse()
        raw, contributions, _ = self._raw_scores(title, text)
        topic_scores, _, topics, countries = self._decide(raw)
        targets = self._targets
        evidence = {targets[target]: labels for target, labels in _evidence(contributions)}
        return Classification(
            topics={t: round(topic_scores[t], 3) for t in topics},
            countries=countries,
            evidence={code: evidence[code] for code in (*topics, *countries)},
        )

    def _raw_scores(
        self, title: str, text: str
    ) -> tuple[list[float], list[tuple[int, float, str]], tuple[str, ...]]:
        """Raw score of every target after vetoes, the ``(target, -amount, label)`` of
        every matched term with a positive amount, and the vetoes that fired."""
        scoring = self.rules.scoring
        title_hits = self._scanner.count(title)
        body_hits = self._scanner.count(text[: scoring.max_text_chars])

        # Each term is worth weight * (title_weight * r(title count) + r(body count)).
        # The order (the set's) and the expression are kept on purpose: float sums
        # depend on them, and results must not change with the implementation.
        title_weight = scoring.title_weight
        decay = self._repeat
        weights = self._weights
        entry_targets = self._entry_targets
        labels = self._labels
        raw = [0.0] * len(self._targets)
        contributions: list[tuple[int, float, str]] = []
        for entry in title_hits.keys() | body_hits.keys():
            amount = weights[entry] * (
                title_weight * decay[title_hits.get(entry, 0)] + decay[body_hits.get(entry, 0)]
            )
            target = entry_targets[entry]
            raw[target] += amount
            if amount > 0:
                contributions.append((target, -amount, labels[entry]))

        half = scoring.half_score
        fired: list[str] = []
        for offset, name in enumerate(self._veto_names):
            veto = self.rules.vetoes[name]
            index = len(TOPICS) + len(COUNTRIES) + offset
            if raw[index] / (raw[index] + half) >= veto.min_score and raw[index] > 0:
                fired.append(name)
                for topic in veto.topics:
                    raw[TOPICS.index(topic)] *= veto.factor
        return raw, contributions, tuple(fired)

    def _decide(
        self, raw: list[float]
    ) -> tuple[dict[str, float], dict[str, float], tuple[str, ...], tuple[str, ...]]:
        """Topic and country scores, and the assigned topics and countries, best first
        (ties in :data:`TOPICS` / :data:`COUNTRIES` order: the sort is stable)."""
        half = self.rules.scoring.half_score
        scores = [r / (r + half) for r in raw[: len(TOPICS) + len(COUNTRIES)]]
        topic_scores = dict(zip(TOPICS, scores, strict=False))
        country_scores = dict(zip(COUNTRIES, scores[len(TOPICS) :], strict=True))
        topics = sorted(
            (
                t
                for t, r, score, least in zip(TOPICS, raw, scores, self._topic_min, strict=False)
                if r > 0 and score >= least
            ),
            key=topic_scores.__getitem__,
            reverse=True,
        )
        countries = sorted(
            (
                c
                for c, score, least in zip(
                    COUNTRIES, scores[len(TOPICS) :], self._country_min, strict=True
                )
                if score > 0 and score >= least
            ),
            key=country_scores.__getitem__,
            reverse=True,
        )
        return topic_scores, country_scores, tuple(topics), tuple(countries)


class _Repeat(dict[int, float]):
    """``n -> r(n) = 1 + d + ... + d^(n-1)`` for n < 64; r(63) beyond (a dict, so that
    lookups run in C and only the rare larger counts reach Python)."""

    def __missing__(self, n: int) -> float:
        return self[63]


def _evidence(
    contributions: list[tuple[int, float, str]],
) -> Iterator[tuple[int, tuple[str, ...]]]:
    """``(target, labels)`` for each target with contributions, in target order; labels
    strongest first, ties by label."""
    for target, group in groupby(sorted(contributions), itemgetter(0)):
        yield target, tuple(map(itemgetter(2), group))
