"""Rule terms compiled into dictionary lookups, and the matching of analysed words.

Compiling turns every term into a sequence of *elements* (a stemmed key, an acronym
key or a prefix) indexed by its first element, so classifying an article costs one
memoised lookup per word plus a check of the few phrases that start there.

Matching semantics: at each word position the candidate terms are tried longest
first; for each *target* (a topic, a country or a veto) a matched term counts only if
no longer term of the same target already covers this position. So "Astana Hub" and
"Astana" both listed for Kazakhstan count once, and a weight-0 "soft power" under
energy hides the "power" inside it, while the same words still count for other targets.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final, NamedTuple

from jobs.classify.analysis import Word, acronym_key, fold, is_acronym, stem, term_words
from jobs.errors import RulesError

EXACT: Final = 0
PREFIX: Final = 1
MIN_PREFIX: Final = 3

Element = tuple[int, str]


@dataclass(frozen=True, slots=True)
class TermSpec:
    """One term as the rules state it, before compiling."""

    target: int
    spelling: str
    weight: float
    key_path: str
    """Dotted key path of the term, for errors."""


@dataclass(frozen=True, slots=True)
class Term:
    """A compiled term: its element sequence and what it counts for."""

    elements: tuple[Element, ...]
    targets: tuple[tuple[int, int], ...]
    """``(target, entry)``: ``entry`` indexes :attr:`Matcher.entries`."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One term of one target: what a match is worth and how evidence names it."""

    target: int
    weight: float
    label: str
    """The rules' spelling of the term."""


class Phrase(NamedTuple):
    """A multi-word term as matching needs it, filed under its second element."""

    order: int
    """Rank among the terms starting at the same word (longest first)."""
    length: int
    rest: tuple[Element, ...]
    """Elements after the second."""
    targets: tuple[tuple[int, int], ...]
    entries: tuple[int, ...]
    """The entries of :attr:`targets`, in order."""
    target_set: frozenset[int]


class WordPlan(NamedTuple):
    """One analysed word with everything matching does at it, worked out once.

    Single-word terms always match where they start and, among themselves, only the
    first (longest) term of each target counts at a position; so they reduce to a fixed
    list of entries. Only a phrase can hide them; phrases are kept apart, filed under
    their second element so that the next word's :attr:`follows` picks the few to check.
    """

    entries: tuple[int, ...]
    """Entries of the single-word terms that count here (one per target, in order)."""
    targets: tuple[int, ...]
    """The target of each of :attr:`entries`."""
    seconds: frozenset[Element]
    """Second elements of the phrases starting here."""
    phrases: Mapping[Element, tuple[Phrase, ...]]
    """Phrases starting here by second element, each in :attr:`Phrase.order`."""
    follows: frozenset[Element]
    """The non-first phrase elements this word satisfies (its stem, its acronym key, the
    prefixes it starts with)."""


_NOTHING: frozenset[Element] = frozenset()


def compile_element(word: str, spec: TermSpec) -> Element:
    """One word of a rule term as an element (see :mod:`jobs.classify.rules` syntax)."""
    if word.endswith("*"):
        prefix = fold(word[:-1])
        if len(prefix) < MIN_PREFIX:
            raise RulesError(spec.key_path, f"prefix {word!r} is shorter than {MIN_PREFIX} letters")
        return (PREFIX, prefix)
    if is_acronym(word):
        return (EXACT, acronym_key(word))
    return (EXACT, stem(fold(word)))


def check_term(spec: TermSpec) -> tuple[Element, ...]:
    """Compile one term's words into elements; :class:`RulesError` if it cannot match."""
    words = term_words(spec.spelling)
    if not words:
        raise RulesError(spec.key_path, "a term needs at least one letter or digit")
    return tuple(compile_element(word, spec) for word in words)


class Matcher:
    """The compiled index of all terms."""

    def __init__(self, specs: Iterable[TermSpec]) -> None:
        grouped: dict[tuple[Element, ...], dict[int, tuple[float, str]]] = {}
        for spec in specs:
            elements = check_term(spec)
            targets = grouped.setdefault(elements, {})
            previous = targets.get(spec.target)
            # Two spellings analysed alike ("ministry", "ministries"): keep the heavier,
            # then the shorter spelling as the label shown in evidence.
            if previous is None or (spec.weight, -len(spec.spelling)) > (
                previous[0],
                -len(previous[1]),
            ):
                targets[spec.target] = (spec.weight, spec.spelling)
        self.entries: list[Entry] = []
        """Every (term, target) pair; match counts are keyed by position in this list."""
        self._by_key: dict[str, list[Term]] = {}
        self._by_prefix: dict[str, list[Term]] = {}
        for elements, targets in grouped.items():
            pairs = []
            for target, (weight, label) in sorted(targets.items()):
                pairs.append((target, len(self.entries)))
                self.entries.append(Entry(target, weight, label))
            term = Term(elements, tuple(pairs))
            kind, value = elements[0]
            index = self._by_prefix if kind == PREFIX else self._by_key
            index.setdefault(value, []).append(term)
        self.target_count = 1 + max((e.target for e in self.entries), default=-1)
        self.longest = max((len(elements) for elements in grouped), default=1)
        """Words in the longest term."""
        self._prefix_lengths = tuple(sorted({len(p) for p in self._by_prefix}, reverse=True))
        # Elements in second or later place of a phrase, which WordPlan.follows tests.
        self._inner = frozenset(e for elements in grouped for e in elements[1:])
        self._inner_prefix_lengths = tuple(
            sorted({len(value) for kind, value in self._inner if kind == PREFIX})
        )

    def candidates(self, word: Word) -> tuple[Term, ...]:
        """Terms whose first element matches ``word``, longest first, in a stable order."""
        found: list[Term] = list(self._by_key.get(word.key, ()))
        if word.acronym is not None:
            found += self._by_key.get(word.acronym, ())
        folded = word.folded
        for length in self._prefix_lengths:
            if length <= len(folded):
                found += self._by_prefix.get(folded[:length], ())
        if len(found) > 1:
            # Longest phrase first; among single words the longer (more specific) one, so
            # "узбекистан*" wins over "узбек*" and its weight is the one that counts.
            found.sort(key=lambda t: (-len(t.elements), -len(t.elements[0][1]), t.elements))
        return tuple(found)

    def plan(self, word: Word) -> WordPlan:
        """What matching does at ``word``: see :class:`WordPlan`."""
        entries: list[int] = []
        targets: list[int] = []
        phrases: dict[Element, list[Phrase]] = {}
        for order, term in enumerate(self.candidates(word)):
            length = len(term.elements)
            if length > 1:
                phrase = Phrase(
                    order,
                    length,
                    term.elements[2:],
                    term.targets,
                    tuple(entry for _, entry in term.targets),
                    frozenset(target for target, _ in term.targets),
                )
                phrases.setdefault(term.elements[1], []).append(phrase)
                continue
            for target, entry in term.targets:
                # A longer single word of the same target already counted here.
                if target not in targets:
                    targets.append(target)
                    entries.append(entry)
        satisfied = {(EXACT, word.key), (EXACT, word.acronym or word.key)}
        satisfied.update(
            (PREFIX, word.folded[:length])
            for length in self._inner_prefix_lengths
            if length <= len(word.folded)
        )
        return WordPlan(
            tuple(entries),
            tuple(targets),
            frozenset(phrases) or _NOTHING,
            {second: tuple(filed) for second, filed in phrases.items()},
            frozenset(satisfied & self._inner) or _NOTHING,
        )
