"""The one text analyser of search: the same words become the same terms in the index and
in a query. Pure Python, no database.

The pipeline (:func:`index_terms`, :func:`tokens` and :func:`query_word` all run it):

1. Unicode NFKC (full-width letters, ligatures, compatibility forms). The acute accent
   ``´``, which Uzbek writers use as an apostrophe, is read as an apostrophe first: NFKC
   would turn it into a space and a combining mark and break the word.
2. Words are runs of letters and digits. Combining marks and invisible joiners (soft
   hyphen, ZWJ, ZWNJ, word joiner) after a letter stay inside the word and are dropped
   from its term (``сло́во`` -> ``слово``).
3. Apostrophes (``ʻ ʼ ’ ‘ ` ' ′ ´``) *between two letters* are dropped, joining the word:
   ``Oʻzbekiston``, ``O'zbekiston``, ``O’zbekiston`` and ``Ozbekiston`` are one term, and
   so are ``ma'lumot`` and ``malumot``, which Uzbek readers type without the apostrophe.
   One exception: the English possessive ``'s`` at the end of a word (not after ``o``/``g``,
   so Uzbek ``oʻs`` is kept) is stripped from the term, so ``Kazakhstan's`` is
   ``kazakhstan`` in every article language. Any other apostrophe separates words.
4. A hyphen (``-``, ``‐``, ``‑``) between two words makes a *compound*: its parts are
   ordinary consecutive terms (``IT-хабы`` -> ``it``, ``хаб``) and its *joined form* (the
   parts concatenated, then analysed as one word: ``itхаб``) is appended after all the
   ordinary terms of the text, so that it never breaks the adjacency of phrases.
5. Each word is case-folded and letter-folded with :data:`FOLD` (Kazakh/Uzbek Cyrillic ->
   nearest Russian letter, ё -> е, Latin diacritics of the kk/uz/tk/az alphabets
   stripped), shared with the classifier so that both read names the same way.
6. Stopwords (:data:`STOPWORDS`, small English and Russian lists) and words longer than
   :data:`MAX_WORD` characters have no term.
7. Stemming (Snowball) depends on the article language: ``en``, ``ru`` and unknown (``""``)
   articles stem Cyrillic words with the Russian stemmer and Latin words with the English
   one; ``kk`` and ``uz`` articles (no Snowball stemmer) and any other language are not
   stemmed. Words of three letters or fewer and words with digits are never stemmed.
   A query does not know the article language, so :func:`query_word` offers both the stem
   and the unstemmed word as alternatives.

Every term is non-empty and consists of Unicode letters and digits only (``str.isalnum``),
case-folded: no spaces, hyphens, apostrophes, underscores or combining marks, so any
full-text engine tokenises a space-joined list of terms back into the same terms.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain
from operator import itemgetter
from typing import Final, NamedTuple

import Stemmer

#: Bump whenever the terms of some text change, or what an index row holds: the store
#: then rebuilds the index. 2: PostgreSQL documents carry the filter lexemes
#: (:func:`storage.search.index.facets_literal`).
ANALYSER_VERSION: Final[int] = 2

#: Words longer than this (after folding) are not indexed: they are URLs, hashes, base64.
MAX_WORD: Final = 40

# ---------------------------------------------------------------------------------------
# Primitives shared with the classifier (jobs.classify.analysis imports them; storage must
# not import jobs). Changing any of them changes classification: keep them as they are.

#: The characters written as an apostrophe, in particular for the Uzbek oʻ and gʻ.
APOSTROPHES: Final = "ʻʼ’‘`'′´"

#: Runs of letters and digits: the classifier's words. Search builds its word grammar
#: (:data:`_RAW`) on the same character class.
WORD: Final = re.compile(r"[^\W_]+")

#: Letter fold for ``str.translate`` after ``str.casefold``.
FOLD: Final = str.maketrans(
    {
        # Kazakh and Uzbek Cyrillic, and Russian ё.
        "ё": "е",
        "ә": "а",
        "ғ": "г",
        "қ": "к",
        "ң": "н",
        "ө": "о",
        "ұ": "у",
        "ү": "у",
        "һ": "х",
        "і": "и",
        "ў": "у",
        "ҳ": "х",
        # Latin alphabets of Kazakh (2021), Uzbek, Turkmen, Azerbaijani; common accents.
        "ä": "a",
        "ə": "a",
        "á": "a",
        "à": "a",
        "â": "a",
        "ğ": "g",
        "ı": "i",
        "í": "i",
        "ì": "i",
        "î": "i",
        "ñ": "n",
        "ň": "n",
        "ö": "o",
        "ó": "o",
        "ô": "o",
        "ü": "u",
        "ū": "u",
        "ú": "u",
        "û": "u",
        "ş": "s",
        "š": "s",
        "ç": "c",
        "č": "c",
        "ž": "z",
        "ý": "y",
        "é": "e",
        "è": "e",
        "ê": "e",
        # casefold("İ") leaves a combining dot above; drop it.
        "\u0307": None,
    }
)

ENGLISH: Final = Stemmer.Stemmer("english")
RUSSIAN: Final = Stemmer.Stemmer("russian")


def _uncached(language: str) -> Stemmer.Stemmer:
    """A stemmer without PyStemmer's own word cache: search memoises whole words itself
    (:class:`_Entries`), so the words that reach the stemmer are mostly new ones, for which
    the cache's bookkeeping (and its purges when full) tripled the cost of a call."""
    stemmer = Stemmer.Stemmer(language)
    stemmer.maxCacheSize = 0
    return stemmer


_STEM_ENGLISH: Final = _uncached("english").stemWord
_STEM_RUSSIAN: Final = _uncached("russian").stemWord


def normalise(text: str) -> str:
    """Unicode NFKC (cheap when the text already is)."""
    if unicodedata.is_normalized("NFKC", text):
        return text
    return unicodedata.normalize("NFKC", text)


# ---------------------------------------------------------------------------------------
# Stopwords. Conservative on purpose: never a word that is also an acronym or a name in
# Central Asian news (IT, US, UN, AI, IS, WHO, May, CAN, "No" from "№"), and checked on the
# folded, unstemmed word whatever the article language, so that a query (which has no
# language) drops exactly the words the index dropped and phrases stay adjacent on both
# sides. Known casualties: Kazakh "он" (ten) and Uzbek "oʻn" (ten), written as numbers in
# news anyway.

# fmt: off
ENGLISH_STOPWORDS: Final = frozenset({
    "a", "an", "the", "and", "or", "but", "nor", "of", "in", "on", "at", "to", "for", "from",
    "by", "with", "into", "onto", "as", "than", "then", "be", "been", "being", "was", "were",
    "are", "has", "have", "had", "this", "that", "these", "those", "there", "its", "their",
    "theirs", "they", "them", "he", "him", "his", "she", "her", "we", "our", "you", "your",
    "which", "whose", "also",
})
RUSSIAN_STOPWORDS: Final = frozenset({
    "и", "в", "во", "не", "на", "с", "со", "что", "как", "а", "но", "или", "ни", "по", "к",
    "ко", "у", "о", "об", "обо", "от", "до", "за", "из", "изо", "для", "же", "ли", "бы", "то",
    "это", "этот", "эта", "эти", "этих", "этом", "его", "ее", "их", "ему", "им", "он", "она",
    "оно", "они", "был", "была", "было", "были", "быть", "при", "под", "над", "про", "так",
    "также", "уже", "который", "которая", "которое", "которые", "которых", "которым",
    "которой", "котором", "чтобы",
})
# fmt: on
STOPWORDS: Final = ENGLISH_STOPWORDS | RUSSIAN_STOPWORDS


# ---------------------------------------------------------------------------------------
# The word grammar, on NFKC text.


#: Every combining mark (Mn, Mc, Me) of the Basic Multilingual Plane. Python's ``re`` has
#: no ``\p{M}`` and ``\w`` excludes marks, so without them ``сло́во`` would be two words.
#: Only the blocks that hold BMP marks are scanned (a test checks that none is missed) to
#: keep the import cheap (~1 ms); marks of historic scripts beyond the BMP just separate
#: words.
_MARK_BLOCKS: Final = (range(0x300, 0x3100), range(0xA600, 0xAC00), range(0xFB1E, 0xFE30))
_MARKS: Final = tuple(
    code
    for block in _MARK_BLOCKS
    for code in block
    if unicodedata.category(chr(code)).startswith("M")
)


def _char_class(codes: tuple[int, ...]) -> str:
    """Regex character-class body for ``codes`` (sorted), as ranges."""
    ranges: list[tuple[int, int]] = []
    for code in codes:
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1] = (ranges[-1][0], code)
        else:
            ranges.append((code, code))
    return "".join(f"\\u{a:04x}-\\u{b:04x}" for a, b in ranges)


# ʻ and ʼ are modifier *letters* (so \w) but apostrophes to readers: not word characters.
_W: Final = r"[^\W_ʻʼ]"
#: Inside a word, ignored: combining marks and invisible joiners (soft hyphen from HTML
#: ``&shy;``, ZWNJ/ZWJ, word joiner, BOM).
_IGNORABLE_CHARS: Final = "\u00ad\u200c\u200d\u2060\ufeff"
_I: Final = f"[{_char_class(_MARKS)}{_IGNORABLE_CHARS}]"
_A: Final = f"[{re.escape(APOSTROPHES)}]"
_HYPHEN: Final = "[-\u2010\u2011]"
#: One word (a compound part): letters and digits, with ignorable characters after a
#: letter and single apostrophes between letters. Written as an unrolled loop so the
#: common case is one fast character-class run.
_PART_PATTERN: Final = f"{_W}+(?:{_I}+{_W}*|{_A}{_W}+)*"
_PART: Final = re.compile(_PART_PATTERN)
#: A word or a compound: words joined by single hyphens.
_RAW: Final = re.compile(f"{_PART_PATTERN}(?:{_HYPHEN}{_PART_PATTERN})*")
#: An English possessive at the end of a part (not the Uzbek oʻs / gʻs).
_POSSESSIVE: Final = re.compile(f"(?<![oOgG]){_A}[sS]$")
#: Folded away from terms: marks (after casefold, which can itself produce them),
#: apostrophes and ignorable characters.
_TERM_FOLD: Final = {
    **FOLD,
    **dict.fromkeys(map(ord, APOSTROPHES + _IGNORABLE_CHARS)),
    **dict.fromkeys(_MARKS),
}
#: The acute accent is an Uzbek apostrophe; NFKC would make it " \u0301". One character
#: for one, so offsets are unchanged.
_ACUTE_AS_APOSTROPHE: Final = {0xB4: "’"}

#: Languages whose articles are stemmed ("" = unknown).
_STEMMED_LANGUAGES: Final = frozenset({"en", "ru", ""})


def _prepare(text: str) -> str:
    """The NFKC text the word grammar runs on (see :func:`_offsets` for the way back)."""
    if "´" in text:
        text = text.translate(_ACUTE_AS_APOSTROPHE)
    return normalise(text)


def _fold(part: str) -> str:
    """Fold one part: possessive stripped, case and letters folded, marks and apostrophes
    removed."""
    if part[-1] in "sS" and _POSSESSIVE.search(part):
        part = part[:-2]
    return part.casefold().translate(_TERM_FOLD)


def _indexable(folded: str) -> bool:
    return 0 < len(folded) <= MAX_WORD and folded not in STOPWORDS


def _stem(folded: str) -> str:
    """Stem with the stemmer of the word's script, judged by its *last* letter: suffixes
    are at the end, so the joined ``itхабы`` is stemmed as Russian."""
    if len(folded) <= 3 or not folded.isalpha():
        return folded
    last = folded[-1]
    if "\u0400" <= last <= "\u04ff":
        return str(_STEM_RUSSIAN(folded))
    if last.isascii():
        return str(_STEM_ENGLISH(folded))
    return folded


class _Entry(NamedTuple):
    """What one raw word (a word or a compound) of the text contributes."""

    terms: tuple[str, ...]
    """Index terms of its parts, stopwords left out."""
    joined: str | None
    """Index term of the joined form of a compound; ``None`` for a single word."""
    part_terms: tuple[str | None, ...]
    """Index term of each part, ``None`` for a stopword or an over-long word."""


#: Entries each memo (:class:`_Entries`, :class:`_Chunks`) holds before it starts a new
#: generation.
MEMO_LIMIT: Final = 200_000
_memo_limit = MEMO_LIMIT


def widen_memo(limit: int) -> None:
    """Let this process's memos hold ``limit`` entries each before they turn over.

    For processes that analyse a whole archive and then exit (a rebuild's workers): on
    a long tail of rare words the default turns over often and words seen before are
    analysed again; a larger memo trades memory (up to twice ``limit`` entries each
    while a generation turns over) for time. Results never depend on it.
    """
    global _memo_limit  # noqa: PLW0603 - the process-wide setting this function exists for
    if limit < 1:
        raise ValueError(f"limit must be positive, not {limit}")
    _memo_limit = limit


class _Entries(dict[str, _Entry]):
    """Raw word -> :class:`_Entry` for one stemming mode, filled on first use.

    News vocabulary repeats, so nearly every word costs one dict lookup.
    """

    def __init__(self, stemmed: bool) -> None:
        super().__init__()
        self._stemmed = stemmed
        self._old: dict[str, _Entry] = {}

    def __missing__(self, raw: str) -> _Entry:
        if len(self) >= _memo_limit:
            # Two generations bound the memory without forgetting the common words
            # all at once: what was used since the last turn is carried over on use.
            # Results never depend on the memo.
            self._old = dict(self)
            self.clear()
        entry = self._old.get(raw)
        if entry is None:
            entry = self._learn(raw)
        self[raw] = entry
        return entry

    def term(self, folded: str) -> str | None:
        """The index term of one folded word in this stemming mode (``None``: none)."""
        if not _indexable(folded):
            return None
        return _stem(folded) if self._stemmed else folded

    def _learn(self, raw: str) -> _Entry:
        # Only a hyphen makes a compound (:data:`_RAW`): without one, ``raw`` is one part.
        if "-" not in raw and "\u2010" not in raw and "\u2011" not in raw:
            term = self.term(_fold(raw))
            return _Entry(() if term is None else (term,), None, (term,))
        parts = _PART.findall(raw)
        folded = [_fold(part) for part in parts]
        part_terms = tuple(self.term(f) for f in folded)
        joined = self.term("".join(folded)) if len(parts) > 1 else None
        return _Entry(tuple(t for t in part_terms if t is not None), joined, part_terms)


#: Punctuation stripped from the ends of a chunk before :class:`_Chunks`' fast path:
#: never part of a word (no apostrophe, hyphen or acute accent), never changed by NFKC
#: into a letter, and never composed with a neighbour by NFKC.
_EDGE_PUNCTUATION: Final = '.,;:!?()[]{}"«»“”„…—–/'


def _plain_letters(word: str) -> bool:
    """True when ``word`` (all ``str.isalpha``) is one word of the grammar as it stands:
    NFKC already and without the modifier letters ʻ ʼ, which are apostrophes here."""
    return "ʻ" not in word and "ʼ" not in word and unicodedata.is_normalized("NFKC", word)


class _Chunks(dict[str, tuple[tuple[str, ...], tuple[str, ...]]]):
    """Whitespace-separated chunk of raw text -> (its terms, its compounds' joined terms),
    for one stemming mode, filled on first use.

    :func:`index_terms` splits a text on whitespace and looks each chunk up from C:
    no regex and no NFKC run for a chunk seen before, which is most of them ("Astana",
    "government,"). The same as analysing the whole text (a test checks it against
    :func:`analyse`): no word spans whitespace, and whitespace characters are starters
    that NFKC never composes with, so normalising chunk by chunk changes nothing.
    """

    def __init__(self, entries: _Entries) -> None:
        super().__init__()
        self._entries = entries
        self._old: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}

    def __missing__(self, chunk: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
        if len(self) >= _memo_limit:
            self._old = dict(self)  # two generations, as in _Entries
            self.clear()
        value = self._old.get(chunk)
        if value is not None:
            pass
        elif (word := chunk.strip(_EDGE_PUNCTUATION)).isalpha() and (
            word.isascii() or _plain_letters(word)
        ):
            # The common case, one word between punctuation ("government,"): letters
            # only, so the word grammar would find exactly this one word, and it is no
            # compound. What _Entries._learn does for it, without regex or memo.
            # (An ASCII word has no possessive apostrophe and nothing to fold but case.)
            term = self._entries.term(word.lower() if word.isascii() else _fold(word))
            value = ((), ()) if term is None else ((term,), ())
        else:
            found = [self._entries[raw] for raw in _RAW.findall(_prepare(chunk))]
            value = (
                tuple(term for entry in found for term in entry.terms),
                tuple(entry.joined for entry in found if entry.joined is not None),
            )
        self[chunk] = value
        return value


_ENTRIES: Final = {True: _Entries(stemmed=True), False: _Entries(stemmed=False)}
_CHUNKS: Final = {stemmed: _Chunks(entries) for stemmed, entries in _ENTRIES.items()}
_TERMS: Final = itemgetter(0)
_JOINED: Final = itemgetter(1)


def _entries(language: str) -> _Entries:
    return _ENTRIES[language in _STEMMED_LANGUAGES]


# ---------------------------------------------------------------------------------------
# Public API.


@dataclass(frozen=True, slots=True)
class Token:
    """One word of the original text (a compound's parts are separate tokens)."""

    start: int
    """Offset of the word in the *original* string (before NFKC)."""
    end: int
    """End offset in the original string: ``text[start:end]`` is the word as written."""
    term: str | None
    """Its index term; ``None`` for a stopword or an unindexable (over-long) word."""


@dataclass(frozen=True, slots=True)
class Compound:
    """A hyphenated compound of :func:`analyse`: tokens ``first`` to ``stop - 1``."""

    first: int
    stop: int
    term: str
    """Index term of its joined form (``e-government`` -> ``egovern``)."""


def index_terms(text: str, language: str) -> list[str]:
    """Terms of ``text`` for the index, in text order, stopwords dropped (so phrase
    adjacency skips them), then the joined forms of its compounds in text order.

    ``language`` is the article's language code; it only decides stemming (see the
    module docstring).
    """
    found = list(map(_CHUNKS[language in _STEMMED_LANGUAGES].__getitem__, text.split()))
    terms = list(chain.from_iterable(map(_TERMS, found)))
    terms += chain.from_iterable(map(_JOINED, found))
    return terms


def analyse(text: str, language: str) -> tuple[list[Token], list[Compound]]:
    """Every word of ``text`` with its offsets and term, and its compounds.

    Consistent with :func:`index_terms`: the terms of the tokens (``None`` left out)
    followed by the compounds' terms are exactly ``index_terms(text, language)``.
    """
    prepared = _prepare(text)
    mapped_starts, mapped_ends = _offsets(text, prepared)
    # Unchanged by NFKC: offsets map to themselves (indexing a range is cheap).
    starts: Sequence[int] = range(len(prepared)) if mapped_starts is None else mapped_starts
    ends: Sequence[int] = range(1, len(prepared) + 1) if mapped_ends is None else mapped_ends
    entries = _entries(language)
    found: list[Token] = []
    compounds: list[Compound] = []
    for match in _RAW.finditer(prepared):
        entry = entries[match.group()]
        part_terms = entry.part_terms
        if len(part_terms) == 1:  # a word, not a compound: nearly all of them
            start, end = match.span()
            found.append(Token(starts[start], ends[end - 1], part_terms[0]))
            continue
        first = len(found)
        base = match.start()
        for part, term in zip(_PART.finditer(match.group()), part_terms, strict=True):
            found.append(Token(starts[base + part.start()], ends[base + part.end() - 1], term))
        if entry.joined is not None:
            compounds.append(Compound(first, len(found), entry.joined))
    return found, compounds


def tokens(text: str, language: str) -> list[Token]:
    """Every word of ``text`` with its offsets into ``text`` (for snippets)."""
    return analyse(text, language)[0]


def query_word(word: str) -> tuple[tuple[frozenset[str], ...], ...]:
    """The ways a word the user typed can match.

    Each way is a sequence of consecutive index positions; each position is the set of
    alternative terms (the word read in every plausible article language: stemmed and
    unstemmed). ``energies`` -> ``((frozenset({"energi", "energies"}),),)``. A compound
    has two ways: the phrase of its parts and its joined form, ``IT-хаб`` ->
    ``((frozenset({"it"}), frozenset({"хаб"})), (frozenset({"itхаб"}),))``. Punctuation
    inside the word separates words of the phrase (``Astana/Almaty``). A stopword or a
    word without letters or digits -> ``()``.
    """
    positions: list[frozenset[str]] = []
    joined: list[frozenset[str]] = []
    for raw in _RAW.findall(_prepare(word)):
        folded = [_fold(part) for part in _PART.findall(raw)]
        positions += (_alternatives(f) for f in folded if _indexable(f))
        if len(folded) > 1 and _indexable(whole := "".join(folded)):
            joined.append(_alternatives(whole))
    ways: list[tuple[frozenset[str], ...]] = []
    if positions:
        ways.append(tuple(positions))
    # Joined forms sit at the end of the index, next to nothing: only a lone compound
    # (the other words, if any, being stopwords) can match through its joined form.
    if len(joined) == 1 and (joined[0],) not in ways:
        ways.append((joined[0],))
    return tuple(ways)


def _alternatives(folded: str) -> frozenset[str]:
    return frozenset({folded, _stem(folded)})


def _offsets(text: str, prepared: str) -> tuple[list[int] | None, list[int] | None]:
    """Map offsets of ``prepared`` back to ``text``: for each prepared character, the
    start and end of the original characters it came from. ``None`` when identical.

    NFKC never combines across an ASCII character (no canonical composition has an ASCII
    second character, and ASCII characters are starters), so the text is normalised in
    segments that end before one, each taking the ASCII character before it as context.
    Inside a changed segment each starter and its combining marks are normalised alone,
    mapped precisely; should that ever differ from the segment's NFKC (Hangul jamo and
    other compositions across starters), the whole segment maps to its whole original.
    """
    source = text.translate(_ACUTE_AS_APOSTROPHE) if "´" in text else text
    if prepared == source:
        return None, None
    starts: list[int] = []
    ends: list[int] = []
    done = 0
    for segment in _SEGMENT.finditer(source):
        piece = segment.group()
        if unicodedata.is_normalized("NFKC", piece):
            continue
        base, stop = segment.span()
        starts += range(done, base)
        ends += range(done + 1, base + 1)
        _map_segment(piece, base, starts, ends)
        done = stop
    starts += range(done, len(source))
    ends += range(done + 1, len(source) + 1)
    if len(starts) != len(prepared):  # pragma: no cover - the argument above says never
        starts = [0] * len(prepared)
        ends = [len(text)] * len(prepared)
    return starts, ends


#: An optional ASCII character (a base combining marks may follow) and non-ASCII ones.
_SEGMENT: Final = re.compile(r"[\x00-\x7f]?[^\x00-\x7f]+")


def _map_segment(piece: str, base: int, starts: list[int], ends: list[int]) -> None:
    clusters: list[tuple[int, int]] = []
    for index, char in enumerate(piece):
        if clusters and unicodedata.combining(char):
            clusters[-1] = (clusters[-1][0], index + 1)
        else:
            clusters.append((index, index + 1))
    outputs = [unicodedata.normalize("NFKC", piece[a:b]) for a, b in clusters]
    if "".join(outputs) != unicodedata.normalize("NFKC", piece):
        clusters = [(0, len(piece))]
        outputs = [unicodedata.normalize("NFKC", piece)]
    for (a, b), output in zip(clusters, outputs, strict=True):
        starts += [base + a] * len(output)
        ends += [base + b] * len(output)
