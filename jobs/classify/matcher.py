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

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

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


#: ``entry -> number of matches`` in one text segment.
Hits = dict[int, int]
#: An analysed word with the terms that may start at it.
Slot = tuple[Word, tuple[Term, ...]]


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
        self._prefix_lengths = tuple(sorted({len(p) for p in self._by_prefix}, reverse=True))

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

    def match(self, slots: Sequence[Slot]) -> Hits:
        """Count the terms found in one text segment (title or body)."""
        # Hot loop, kept flat on purpose: it is most of the classification time.
        hits: Hits = {}
        covered = [0] * self.target_count
        size = len(slots)
        for i, (_, terms) in enumerate(slots):
            if not terms:
                continue
            for term in terms:
                elements = term.elements
                length = len(elements)
                if length > 1:
                    if i + length > size:
                        continue
                    matched = True
                    for offset in range(1, length):
                        kind, value = elements[offset]
                        word = slots[i + offset][0]
                        if kind == PREFIX:
                            if not word.folded.startswith(value):
                                matched = False
                                break
                        elif value not in (word.key, word.acronym):
                            matched = False
                            break
                    if not matched:
                        continue
                for target, entry in term.targets:
                    if covered[target] > i:
                        continue
                    covered[target] = i + length
                    hits[entry] = hits.get(entry, 0) + 1
        return hits
