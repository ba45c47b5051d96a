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
from types import MappingProxyType

from jobs.classify.analysis import analyse_word, chunk_words, normalise
from jobs.classify.matcher import Matcher, Slot, TermSpec
from jobs.classify.rules import Rules, Terms, load_rules
from storage.records import COUNTRIES, TOPICS, Classification

#: Text chunks memoised per classifier; past this the memo is cleared (results never
#: depend on it).
_MEMO_LIMIT = 200_000


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
        self._memo: dict[str, tuple[Slot, ...]] = {}
        decay = self.rules.scoring.repeat_decay
        self._repeat = [0.0]
        for n in range(1, 64):
            self._repeat.append(self._repeat[-1] + decay ** (n - 1))

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

    def _slots(self, text: str) -> list[Slot]:
        memo = self._memo
        slots: list[Slot] = []
        for chunk in normalise(text).split():
            found = memo.get(chunk)
            if found is None:
                if len(memo) >= _MEMO_LIMIT:
                    memo.clear()
                found = memo[chunk] = tuple(
                    (word, self._matcher.candidates(word))
                    for word in map(analyse_word, chunk_words(chunk))
                )
            slots += found
        return slots

    def analyse(self, title: str, text: str, language: str | None = None) -> Analysis:
        """Score every topic and country of an article.

        Only the first ``scoring.max_text_chars`` characters of ``text`` are read.
        ``language`` is accepted as a hint but does not change matching: terms of every
        language are matched in every article, since feeds mix languages and scripts.
        """
        del language  # see the docstring: matching is script-based, not language-based
        scoring = self.rules.scoring
        title_hits = self._matcher.match(self._slots(title))
        body_hits = self._matcher.match(self._slots(text[: scoring.max_text_chars]))

        entries = self._matcher.entries
        repeat = self._repeat
        last = len(repeat) - 1
        raw = [0.0] * len(self._targets)
        contributions: dict[int, list[tuple[float, str]]] = {}
        for entry_id in title_hits.keys() | body_hits.keys():
            entry = entries[entry_id]
            amount = entry.weight * (
                scoring.title_weight * repeat[min(title_hits.get(entry_id, 0), last)]
                + repeat[min(body_hits.get(entry_id, 0), last)]
            )
            raw[entry.target] += amount
            if amount > 0:
                contributions.setdefault(entry.target, []).append((amount, entry.label))

        half = scoring.half_score
        fired: list[str] = []
        for offset, name in enumerate(self._veto_names):
            veto = self.rules.vetoes[name]
            index = len(TOPICS) + len(COUNTRIES) + offset
            if raw[index] / (raw[index] + half) >= veto.min_score and raw[index] > 0:
                fired.append(name)
                for topic in veto.topics:
                    raw[TOPICS.index(topic)] *= veto.factor

        topic_scores = {t: raw[i] / (raw[i] + half) for i, t in enumerate(TOPICS)}
        country_scores = {
            c: raw[i] / (raw[i] + half) for i, c in enumerate(COUNTRIES, start=len(TOPICS))
        }
        topics = sorted(
            (
                t
                for t in TOPICS
                if raw[TOPICS.index(t)] > 0 and topic_scores[t] >= self.rules.topics[t].min_score
            ),
            key=lambda t: (-topic_scores[t], TOPICS.index(t)),
        )
        countries = sorted(
            (
                c
                for c in COUNTRIES
                if country_scores[c] > 0 and country_scores[c] >= self.rules.countries[c].min_score
            ),
            key=lambda c: (-country_scores[c], COUNTRIES.index(c)),
        )
        evidence = {
            self._targets[target]: tuple(label for _, label in sorted(items, key=_strongest))
            for target, items in sorted(contributions.items())
        }
        return Analysis(
            topic_scores=MappingProxyType(topic_scores),
            country_scores=MappingProxyType(country_scores),
            topics=tuple(topics),
            countries=tuple(countries),
            evidence=MappingProxyType(evidence),
            vetoes=tuple(fired),
        )

    def classify(self, title: str, text: str, language: str | None = None) -> Classification:
        """Topics, countries and evidence of an article (see :meth:`analyse`)."""
        return self.analyse(title, text, language).classification()


def _strongest(item: tuple[float, str]) -> tuple[float, str]:
    return (-item[0], item[1])
