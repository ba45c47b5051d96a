"""Snippets of search results with the matched words marked. Pure Python, no database.

Matches are found with the analyser (:func:`storage.search.analyser.analyse`), so a word
is marked exactly when the index matched it through one of the query's terms: ``хабов``
for the query ``хаб``, ``Oʻzbekiston`` for ``Ozbekiston``. The fragments hold the
*original* text (offsets map back through NFKC), never the analysed one.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from typing import Final

from storage.search.analyser import Compound, Token, analyse


@dataclass(frozen=True, slots=True)
class Fragment:
    """A piece of a snippet: original text, marked when it is a matched word."""

    text: str
    match: bool


#: A snippet: its fragments in order; joined, their texts are the shown text.
Snippet = tuple[Fragment, ...]

#: Shown where the text was cut.
ELLIPSIS: Final = Fragment("…", False)

#: How far a cut may move past the window to keep a whitespace-separated chunk whole
#: ("(Astana", "IT-хабы,"): beyond that, the cut falls between words inside the chunk.
_CHUNK_SLACK: Final = 20


def snippet(text: str, language: str, terms: frozenset[str], *, width: int = 200) -> Snippet:
    """About ``width`` characters of ``text`` around its matches.

    The window is the one holding the most tokens whose term is in ``terms`` (on a tie,
    the earliest), with the rest of the width split as context, a third before the
    matches and two thirds after (readers read on). It is cut at word boundaries (whole
    whitespace-separated chunks when they are short), and an :data:`ELLIPSIS` fragment
    stands where text was cut at either end. Matched words are ``match=True`` fragments.
    Without a match, the beginning of the text. An empty (or blank) text gives ``()``.
    """
    low, high = _content(text)
    if low == high:
        return ()
    found, compounds = analyse(text, language)
    hits = _matched_tokens(found, compounds, terms)
    if hits:
        first, last = _best_window(hits, width)
        slack = max(0, width - (last - first))
        start = max(low, first - slack // 3)
        end = min(high, start + max(width, last - first))
        start = max(low, min(start, end - width))  # the text ended: use the width before
        need_start, need_end = first, last
    else:
        start, end = low, min(high, low + width)
        need_start = need_end = low
    if start > low:
        start = _cut_start(text, found, start, need_start, low)
    if end < high:
        end = _cut_end(text, found, end, need_end, high)
    # A cut inside a run without words can land next to whitespace: never show it.
    while text[end - 1].isspace():
        end -= 1
    while text[start].isspace():
        start += 1
    fragments: list[Fragment] = []
    if start > low:
        fragments.append(ELLIPSIS)
    fragments += _marked(text, start, end, _ranges(found, compounds, terms))
    if end < high:
        fragments.append(ELLIPSIS)
    return tuple(fragments)


def highlight(text: str, language: str, terms: frozenset[str]) -> Snippet:
    """The whole ``text`` (a title) with its matched words marked; ``()`` when blank."""
    if not text.strip():
        return ()
    found, compounds = analyse(text, language)
    return tuple(_marked(text, 0, len(text), _ranges(found, compounds, terms)))


def _content(text: str) -> tuple[int, int]:
    """Bounds of ``text`` without its surrounding whitespace."""
    stripped = text.lstrip()
    low = len(text) - len(stripped)
    return low, low + len(stripped.rstrip())


def _matched(found: list[Token], compounds: list[Compound], terms: frozenset[str]) -> list[bool]:
    """Per token: its term is wanted, or it is part of a compound whose joined form is
    (``e-government`` for the query ``egovernment``)."""
    matched = [token.term in terms for token in found]
    for compound in compounds:
        if compound.term in terms:
            matched[compound.first : compound.stop] = [True] * (compound.stop - compound.first)
    return matched


def _matched_tokens(
    found: list[Token], compounds: list[Compound], terms: frozenset[str]
) -> list[Token]:
    matched = _matched(found, compounds, terms)
    return [token for token, hit in zip(found, matched, strict=True) if hit]


def _ranges(
    found: list[Token], compounds: list[Compound], terms: frozenset[str]
) -> list[tuple[int, int]]:
    """The spans to mark, merged where they overlap or touch; a matched compound is one
    span with its hyphens, other matched words are their own spans."""
    spans = [(token.start, token.end) for token in found if token.term in terms]
    spans += ((found[c.first].start, found[c.stop - 1].end) for c in compounds if c.term in terms)
    spans.sort()
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _best_window(hits: list[Token], width: int) -> tuple[int, int]:
    """Start and end of the run of matched tokens fitting in ``width`` with the most of
    them; the earliest on a tie. A single match wider than ``width`` is a run of one."""
    best_count = 0
    best = (hits[0].start, hits[0].end)
    stop = 0
    for index, token in enumerate(hits):
        stop = max(stop, index + 1)
        while stop < len(hits) and hits[stop].end - token.start <= width:
            stop += 1
        if stop - index > best_count:
            best_count = stop - index
            best = (token.start, max(hit.end for hit in hits[index:stop]))
    return best


def _cut_start(text: str, found: list[Token], start: int, need: int, low: int) -> int:
    """Where to cut at or after ``start`` (at the latest ``need``): the start of the first
    word in the window, moved back to the start of its chunk when that is close."""
    index = bisect_left([token.start for token in found], start)
    if index == len(found) or found[index].start > need:
        return start  # no word starts in the window: cut where it begins
    cut = found[index].start
    chunk = cut
    while chunk > low and not text[chunk - 1].isspace() and cut - chunk < _CHUNK_SLACK:
        chunk -= 1
    return chunk if chunk == low or text[chunk - 1].isspace() else cut


def _cut_end(text: str, found: list[Token], end: int, need: int, high: int) -> int:
    """Where to cut at or before ``end`` (at the earliest ``need``): the end of the last
    word in the window, moved on to the end of its chunk when that is close."""
    index = bisect_right([token.end for token in found], end) - 1
    if index < 0 or found[index].end < need:
        return max(end, need)  # no word ends in the window: cut where it ends
    cut = found[index].end
    chunk = cut
    while chunk < high and not text[chunk].isspace() and chunk - cut < _CHUNK_SLACK:
        chunk += 1
    return chunk if chunk == high or text[chunk].isspace() else cut


def _marked(text: str, start: int, end: int, ranges: list[tuple[int, int]]) -> list[Fragment]:
    """``text[start:end]`` as fragments, the parts inside ``ranges`` marked."""
    fragments: list[Fragment] = []
    position = start
    for range_start, range_end in ranges:
        first, last = max(range_start, start), min(range_end, end)
        if first >= last:
            continue
        if first > position:
            fragments.append(Fragment(text[position:first], False))
        fragments.append(Fragment(text[first:last], True))
        position = last
    if position < end:
        fragments.append(Fragment(text[position:end], False))
    return fragments
