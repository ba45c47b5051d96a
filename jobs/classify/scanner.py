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

from bisect import bisect_right
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from itertools import accumulate, chain, compress, count
from typing import Final

from jobs.classify.analysis import analyse_word, chunk_words, normalise
from jobs.classify.matcher import Matcher, WordPlan

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


#: What a phrase start does, judged from its chunk and the next: ``False`` when no
#: phrase can start there; else the two chunks' rewritten entries, when every phrase
#: that may match stays inside them; else ``True`` (the full phrase pass decides).
Outcome = tuple[Sequence[int], Sequence[int]] | bool


class _PairMemo(dict[tuple[str, str], Outcome]):
    """(Chunk where a phrase starts, next chunk or ``""`` at the end) -> :data:`Outcome`;
    filled on first use.

    Most phrase starts ("in", followed by anything but "power") are ruled out by the
    next word, and most phrases that match ("Central Asia") are two words standing
    alone; asking this memo from C for every start spares both any Python code.
    """

    def __init__(self, scanner: Scanner) -> None:
        super().__init__()
        self._scanner = scanner

    def __missing__(self, pair: tuple[str, str]) -> Outcome:
        value = self[pair] = self._scanner.outcome(*pair)
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
        self._pairs = _PairMemo(self)

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
            # What each start does, from a memo asked in C: pair each start chunk with
            # the next one ("" after the last).
            chunks.append("")
            pairs = zip(
                map(chunks.__getitem__, starts),
                map(chunks.__getitem__, map(_NEXT, starts)),
                strict=True,
            )
            outcomes = list(map(self._pairs.__getitem__, pairs))
            chunks.pop()
            if any(outcomes):
                self._apply(chunks, starts, outcomes, pieces)
        return _counts(chain.from_iterable(filter(None, pieces)))

    def learn(self, chunk: str) -> tuple[int, ...]:
        """Plan the words of a chunk not seen before; return its single-word entries."""
        words = tuple(map(self._plan, chunk_words(chunk)))
        self._words[chunk] = words
        if any(word.phrases for word in words):
            self._phrase_chunks.add(chunk)
        return tuple(entry for word in words for entry in word.entries)

    def outcome(self, chunk: str, after: str) -> Outcome:
        """The :data:`Outcome` of a phrase start in ``chunk`` followed by ``after``."""
        words = self._words[chunk]
        following = self._words.get(after)
        if not _may_start(words, following):
            return False
        if not following:
            return True  # the phrase may continue past a chunk without words
        # Slow unless every phrase the next word lets through ends within the two chunks.
        span = [*words, following[0]]
        for i, plan in enumerate(words):
            for second in plan.seconds & span[i + 1].follows:
                if any(i + phrase.length > len(span) for phrase in plan.phrases[second]):
                    return True
        pieces: list[Sequence[int]] = [self._entries[chunk], self._entries[after]]
        self._match_phrases([chunk, after], [0], pieces)
        return pieces[0], pieces[1]

    def _apply(
        self,
        chunks: Sequence[str],
        starts: Sequence[int],
        outcomes: Sequence[Outcome],
        pieces: list[Sequence[int]],
    ) -> None:
        """Rewrite ``pieces`` for the phrase starts.

        A memoised two-chunk outcome is exact when no other phrase can interact with
        it: no other start in the next chunk or the chunk before, and none of the
        longer phrases of an earlier start reaching this far. The other starts go
        through the full phrase pass together.
        """
        kept = [(j, outcome) for j, outcome in zip(starts, outcomes, strict=True) if outcome]
        full: list[int] = []
        memoised: list[tuple[int, tuple[Sequence[int], Sequence[int]]]] = []
        previous = -2
        last_long = -1
        """The last start whose phrases may span more than two chunks, if any."""
        for index, (j, outcome) in enumerate(kept):
            if (
                outcome is True
                or j == previous + 1
                or (index + 1 < len(kept) and kept[index + 1][0] == j + 1)
                or (
                    last_long >= 0
                    and sum(map(len, map(self._words.__getitem__, chunks[last_long + 1 : j])))
                    < self._matcher.longest - 1
                )
            ):
                full.append(j)
                if outcome is True:
                    last_long = j
            else:
                assert not isinstance(outcome, bool)  # ruled out above
                memoised.append((j, outcome))
            previous = j
        if full:
            self._match_phrases(chunks, full, pieces)
        for j, (first, second) in memoised:
            pieces[j] = first
            pieces[j + 1] = second

    def _plan(self, raw: str) -> WordPlan:
        plan = self._word_plans.get(raw)
        if plan is None:
            plan = self._word_plans[raw] = self._matcher.plan(analyse_word(raw))
        return plan

    def _match_phrases(
        self, chunks: Sequence[str], starts: Iterable[int], pieces: list[Sequence[int]]
    ) -> None:
        """Match the phrases starting in the ``starts`` chunks of a text and rewrite the
        ``pieces`` (per-chunk entries) of the chunks they touch: a phrase's entries come
        first at its position, and the single words of its targets inside it no longer
        count. Positions here are word indexes in the whole text.
        """
        per_chunk = list(map(self._words.__getitem__, chunks))
        offsets = list(accumulate(map(len, per_chunk), initial=0))
        words: list[WordPlan] = list(chain.from_iterable(per_chunk))
        size = len(words)
        before: dict[int, list[int]] = {}
        """Position -> entries of the phrases matched there."""
        hidden: dict[int, set[int]] = {}
        """Position -> targets whose single words a phrase covers there (every matched
        phrase covers its first position)."""
        covered: dict[int, int] = {}
        """Target -> end of its last phrase match."""
        reach = 0
        """The end of the furthest match: no target is covered from there on."""
        for j in starts:
            for i in range(offsets[j], offsets[j + 1]):
                plan = words[i]
                if not plan.seconds or i + 1 >= size:
                    continue
                # The next word picks the phrases to check (usually none).
                seconds = plan.seconds & words[i + 1].follows
                if not seconds:
                    continue
                if len(seconds) == 1:
                    candidates = plan.phrases[next(iter(seconds))]
                else:
                    candidates = tuple(
                        sorted(chain.from_iterable(map(plan.phrases.__getitem__, seconds)))
                    )
                for phrase in candidates:
                    end = i + phrase.length
                    if end > size:
                        continue
                    if phrase.rest and any(
                        element not in word.follows
                        for element, word in zip(phrase.rest, words[i + 2 : end], strict=True)
                    ):
                        continue
                    counted: Collection[int]
                    if i >= reach:
                        # Nothing is covered here: every target of the phrase counts.
                        counted = phrase.target_set
                        before.setdefault(i, []).extend(phrase.entries)
                        covered.update(dict.fromkeys(counted, end))
                    else:
                        counted = []
                        for target, entry in phrase.targets:
                            if covered.get(target, 0) > i:
                                continue
                            covered[target] = end
                            before.setdefault(i, []).append(entry)
                            counted.append(target)
                        if not counted:
                            continue
                    reach = max(reach, end)
                    for position in range(i, end):
                        hidden.setdefault(position, set()).update(counted)
        # The chunk holding a position is the last one starting at or before it (chunks
        # without words, such as "—", start where the next one does).
        for j in {bisect_right(offsets, position) - 1 for position in hidden}:
            rebuilt: list[int] = []
            for position in range(offsets[j], offsets[j + 1]):
                plan = words[position]
                blocked = hidden.get(position)
                if blocked is None:
                    rebuilt += plan.entries
                    continue
                rebuilt += before.get(position, ())
                rebuilt += (
                    e for e, t in zip(plan.entries, plan.targets, strict=True) if t not in blocked
                )
            pieces[j] = rebuilt


def _counts(entries: Iterable[int]) -> Hits:
    """Count ``entries`` (in C) into a plain dict.

    A plain dict, not the Counter: ``keys() | keys()`` of an exact dict builds its set
    presized, of a subclass one key at a time, and the set's iteration order, hence the
    order in which float scores are summed, would differ from a plain dict's.
    """
    return dict(Counter(entries))
