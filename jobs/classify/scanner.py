"""Counting the terms of one text segment (a title or a body), memoised per chunk.

A text is split on whitespace into *chunks* ("Astana", "Hub,", "Oʻzbekiston's"). The
words of a chunk, and what matching does at each (a :class:`~jobs.classify.matcher.
WordPlan`), never depend on the rest of the text, so they are worked out once per
distinct chunk and memoised. Counting an article then costs, per chunk, one dict lookup
run from C; Python code runs only for chunks not seen before and around the rare words
where a phrase may start.

The counts are exactly those of a word-by-word scan that tries the candidate terms of
each position longest first (see :mod:`jobs.classify.matcher`), *including the order
of their keys* (first match first), because the classifier sums float scores in an
order derived from it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from itertools import chain, compress, count
from typing import Final

from jobs.classify.analysis import analyse_word, chunk_words, normalise
from jobs.classify.matcher import Matcher, WordPlan

#: Where a word is in a text: (chunk index, word index in the chunk).
Position = tuple[int, int]
#: ``entry -> number of matches`` in one text segment, keys in order of first match.
Hits = dict[int, int]

#: Distinct chunks (and words) memoised; past this the memos are cleared before the
#: next text (results never depend on them).
MEMO_LIMIT: Final = 200_000

_NEXT: Final = (1).__add__


class _EntryMemo(dict[str, tuple[int, ...]]):
    """Chunk -> entries of the single-word terms it counts, in order; filled on first use.

    A dict subclass with ``__missing__`` so that a whole text is looked up with one
    C-level ``map(memo.__getitem__, chunks)``.
    """

    def __init__(self, scanner: Scanner) -> None:
        super().__init__()
        self._scanner = scanner

    def __missing__(self, chunk: str) -> tuple[int, ...]:
        entries = self[chunk] = self._scanner.learn(chunk)
        return entries


class _PairMemo(dict[tuple[str, str], bool]):
    """(Chunk where a phrase starts, next chunk or ``""`` at the end) -> whether a phrase
    may start there, judging by the next word only; filled on first use.

    Most phrase starts ("in", followed by anything but "power") are ruled out by the
    next word; asking this memo from C for every start spares them any Python code.
    """

    def __init__(self, words: Mapping[str, tuple[WordPlan, ...]]) -> None:
        super().__init__()
        self._words = words

    def __missing__(self, pair: tuple[str, str]) -> bool:
        first, after = pair
        value = self[pair] = _may_start(self._words[first], self._words.get(after))
        return value


def _may_start(words: Sequence[WordPlan], after: Sequence[WordPlan] | None) -> bool:
    """Whether a phrase may start in a chunk of ``words``, followed by a chunk of
    ``after`` words (``None`` at the end of the text)."""
    for k, plan in enumerate(words):
        if not plan.seconds:
            continue
        if k + 1 < len(words):
            follows = words[k + 1].follows
        elif after is None:
            continue
        elif not after:
            return True  # a chunk without words ("—"): the phrase pass looks beyond it
        else:
            follows = after[0].follows
        if not plan.seconds.isdisjoint(follows):
            return True
    return False


class Scanner:
    """Counts the terms of a :class:`~jobs.classify.matcher.Matcher` in texts."""

    def __init__(self, matcher: Matcher) -> None:
        self._matcher = matcher
        self._entries = _EntryMemo(self)
        self._words: dict[str, tuple[WordPlan, ...]] = {}
        """Chunk -> its planned words (every chunk in :attr:`_entries` is here)."""
        self._phrase_chunks: set[str] = set()
        """Chunks with a word where a phrase starts."""
        self._word_plans: dict[str, WordPlan] = {}
        """Raw word -> plan: one word appears in many chunks ("Astana", "(Astana")."""
        self._pairs = _PairMemo(self._words)

    def count(self, text: str) -> Hits:
        """Count the terms found in ``text``."""
        if max(len(self._entries), len(self._word_plans), len(self._pairs)) >= MEMO_LIMIT:
            # Only between texts: the phrase pass relies on every chunk of the current
            # text being in all the memos.
            self._entries.clear()
            self._words.clear()
            self._phrase_chunks.clear()
            self._word_plans.clear()
            self._pairs.clear()
        chunks = normalise(text).split()
        pieces: list[Sequence[int]] = list(map(self._entries.__getitem__, chunks))
        starts = list(compress(count(), map(self._phrase_chunks.__contains__, chunks)))
        if starts:
            # Keep the starts whose next word fits, all in C: pair each start chunk with
            # the next one ("" after the last).
            chunks.append("")
            pairs = zip(
                map(chunks.__getitem__, starts),
                map(chunks.__getitem__, map(_NEXT, starts)),
                strict=True,
            )
            starts = list(compress(starts, map(self._pairs.__getitem__, pairs)))
            chunks.pop()
        if starts:
            self._match_phrases(chunks, starts, pieces)
        return _counts(chain.from_iterable(filter(None, pieces)))

    def learn(self, chunk: str) -> tuple[int, ...]:
        """Plan the words of a chunk not seen before; return its single-word entries."""
        words = tuple(map(self._plan, chunk_words(chunk)))
        self._words[chunk] = words
        if any(word.phrases for word in words):
            self._phrase_chunks.add(chunk)
        return tuple(entry for word in words for entry in word.entries)

    def _plan(self, raw: str) -> WordPlan:
        plan = self._word_plans.get(raw)
        if plan is None:
            plan = self._word_plans[raw] = self._matcher.plan(analyse_word(raw))
        return plan

    def _following(
        self, chunks: Sequence[str], j: int, k: int, limit: int
    ) -> list[tuple[Position, WordPlan]]:
        """Up to ``limit`` words after word ``k`` of chunk ``j``, with their positions."""
        found: list[tuple[Position, WordPlan]] = []
        words = self._words[chunks[j]]
        while len(found) < limit:
            k += 1
            while k >= len(words):
                j += 1
                if j >= len(chunks):
                    return found
                words = self._words[chunks[j]]
                k = 0
            found.append(((j, k), words[k]))
        return found

    def _match_phrases(
        self, chunks: Sequence[str], starts: Iterable[int], pieces: list[Sequence[int]]
    ) -> None:
        """Match the phrases starting in the ``starts`` chunks of a text and rewrite the
        ``pieces`` (per-chunk entries) of the chunks they touch: a phrase's entries come
        first at its position, and the single words of its targets inside it no longer
        count.

        Positions are ``(chunk index, word index)`` pairs, ordered as in the text.
        """
        memo = self._words
        before: dict[Position, list[int]] = {}
        """Position -> entries of the phrases matched there."""
        hidden: dict[Position, set[int]] = {}
        """Position -> targets whose single words a phrase covers there."""
        covered: dict[int, Position] = {}
        """Target -> the position just after its last phrase match."""
        for j in starts:
            words = memo[chunks[j]]
            for k, plan in enumerate(words):
                if not plan.seconds:
                    continue
                # The next word picks the phrases to check (usually none).
                if k + 1 < len(words):
                    second = ((j, k + 1), words[k + 1])
                elif j + 1 < len(chunks) and memo[chunks[j + 1]]:
                    second = ((j + 1, 0), memo[chunks[j + 1]][0])
                else:
                    following = self._following(chunks, j, k, 1)
                    if not following:
                        continue
                    second = following[0]
                seconds = plan.seconds & second[1].follows
                if not seconds:
                    continue
                if len(seconds) == 1:
                    candidates = plan.phrases[next(iter(seconds))]
                else:
                    candidates = tuple(
                        sorted(chain.from_iterable(map(plan.phrases.__getitem__, seconds)))
                    )
                following = [second]
                for _, length, rest, term_targets in candidates:
                    if length > 2:
                        if len(following) < length - 1:
                            following = self._following(chunks, j, k, length - 1)
                            if len(following) < length - 1:
                                continue
                        if any(
                            element not in word.follows
                            for element, (_, word) in zip(rest, following[1:], strict=False)
                        ):
                            continue
                    last_j, last_k = following[length - 2][0]
                    for target, entry in term_targets:
                        if covered.get(target, (-1, 0)) > (j, k):
                            continue
                        covered[target] = (last_j, last_k + 1)
                        before.setdefault((j, k), []).append(entry)
                        hidden.setdefault((j, k), set()).add(target)
                        for position, _ in following[: length - 1]:
                            hidden.setdefault(position, set()).add(target)
        for j in {j for j, _ in before.keys() | hidden.keys()}:
            rebuilt: list[int] = []
            for k, plan in enumerate(memo[chunks[j]]):
                rebuilt += before.get((j, k), ())
                blocked = hidden.get((j, k))
                if blocked:
                    rebuilt += (
                        e
                        for e, t in zip(plan.entries, plan.targets, strict=True)
                        if t not in blocked
                    )
                else:
                    rebuilt += plan.entries
            pieces[j] = rebuilt


def _counts(entries: Iterable[int]) -> Hits:
    """Count ``entries`` (in C) into a plain dict.

    A plain dict, not the Counter: ``keys() | keys()`` of an exact dict builds its set
    presized, of a subclass one key at a time, and the set's iteration order, hence the
    order in which float scores are summed, would differ from a plain dict's.
    """
    return dict(Counter(entries))
