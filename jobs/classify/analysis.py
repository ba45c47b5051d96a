"""Text analysis shared by rule terms and article text, so both meet on the same keys.

The pipeline, applied identically to a keyword when rules are compiled and to an
article when it is classified:

1. Unicode NFKC (full-width letters, ligatures, compatibility forms).
2. Apostrophes: the Uzbek Latin letters oʻ and gʻ are written with any of ʻ ʼ ’ ‘ ` ' ′;
   such an apostrophe between ``o``/``g`` and a letter is dropped (``Oʻzbekiston`` ->
   ``ozbekiston``). Every other apostrophe separates words, so ``Kazakhstan's`` yields
   ``kazakhstan`` and ``s``.
3. Words are runs of letters and digits (hyphens and punctuation split them, so
   ``e-government`` is the two words ``e government`` in rules and text alike).
4. Each word is case-folded and *letter-folded*: Kazakh and Uzbek Cyrillic letters map to
   their nearest Russian letter (қ->к, ң->н, ә->а, ө->о, ұ/ү/ў->у, һ/ҳ->х, і->и, ғ->г),
   ё->е, and Latin diacritics of the Kazakh, Uzbek, Turkmen and Azerbaijani alphabets
   are stripped (ä ə->a, ğ->g, ı->i, ş->s, ç->c, ö->o, ü ū->u, ñ->n, ž->z ...). This lets
   one spelling of a name match its regional variants.
5. Words longer than three letters are stemmed with Snowball: Cyrillic words with the
   Russian stemmer, Latin words with the English one. The stemmer is chosen by the
   word's script, never by the article's declared language, because a rule is compiled
   once for every article and feeds mix languages (an English name in a Russian text).
   Short words are left alone: the Russian stemmer turns ``ии`` into ``и``.

A word written entirely in capitals (2-5 letters, e.g. ``IT``, ``AI``, ``ИИ``) also gets an
*acronym key* (``^it``), so a rule term written in capitals matches only the capitalised
acronym and never the English pronoun "it".
"""

from __future__ import annotations

import re
from typing import Final, NamedTuple

# The primitives live in the search analyser (storage must not import jobs), so that the
# classifier and search fold, normalise and stem words alike.
from storage.search import analyser as _shared
from storage.search.analyser import APOSTROPHES, ENGLISH, FOLD, RUSSIAN, WORD

#: Bumped whenever analysis changes in a way that changes matches; part of the fingerprint.
ANALYSER_VERSION: Final = "analysis-1"

_UZBEK_APOSTROPHE = re.compile(rf"([oOgG])[{APOSTROPHES}](?=[^\W\d_])")
# ʻ and ʼ are modifier *letters* to the regex engine; outside oʻ/gʻ they must separate words.
_LETTER_APOSTROPHE = re.compile("[ʻʼ]")
_TERM_WORD = re.compile(r"[^\W_]+\*?")

#: Unicode NFKC (cheap when the text already is); part of this module's interface.
normalise: Final = _shared.normalise


class Word(NamedTuple):
    """One analysed word of a text."""

    folded: str
    """Case- and letter-folded, not stemmed: what prefix terms (``tarif*``) compare with."""
    key: str
    """Stemmed form: what whole-word terms compare with."""
    acronym: str | None
    """:func:`acronym_key` when the word was written in capitals (2-5 letters), else ``None``."""


def prepare(text: str) -> str:
    """NFKC-normalise ``text`` and join Uzbek oʻ/gʻ so they stay inside their word."""
    text = _UZBEK_APOSTROPHE.sub(r"\1", normalise(text))
    return _LETTER_APOSTROPHE.sub(" ", text)


def chunk_words(chunk: str) -> list[str]:
    """The words of one whitespace-free chunk of an NFKC-normalised text.

    Classifying splits text on whitespace and memoises each chunk's words: no regex
    runs on the hot path for chunks seen before. Apostrophe joining never spans
    whitespace, so chunk by chunk equals :func:`raw_words` of :func:`prepare` on the whole.
    """
    return WORD.findall(prepare(chunk))


def raw_words(prepared: str) -> list[str]:
    """The words of a :func:`prepare`-d text, in their original case."""
    return WORD.findall(prepared)


def fold(word: str) -> str:
    """Case- and letter-fold one word."""
    return word.casefold().translate(FOLD)


def stem(folded: str) -> str:
    """Stem a folded word with the stemmer of its script (see the module docstring)."""
    if len(folded) <= 3 or not folded.isalpha():
        return folded
    first = folded[0]
    if "\u0400" <= first <= "\u04ff":
        return str(RUSSIAN.stemWord(folded))
    if first.isascii():
        return str(ENGLISH.stemWord(folded))
    return folded


def is_acronym(raw: str) -> bool:
    """True for a word written in capitals, 2-5 letters long (``IT``, ``ИИ``, ``SOCAR``)."""
    return 2 <= len(raw) <= 5 and raw.isupper() and raw.isalpha()


def analyse_word(raw: str) -> Word:
    """Analyse one word as found in a text."""
    folded = fold(raw)
    return Word(folded, stem(folded), acronym_key(raw) if is_acronym(raw) else None)


def term_words(term: str) -> list[str]:
    """Split a rule term into its words, keeping a trailing ``*`` (prefix marker)."""
    return _TERM_WORD.findall(prepare(term))


def acronym_key(raw: str) -> str:
    """Key of a capitalised word: case-folded but *not* letter-folded, so the Kazakh
    ``ҚР`` (Kazakhstan) and the Russian ``КР`` (Kyrgyzstan) stay apart."""
    return "^" + raw.casefold()
