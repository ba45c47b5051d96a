"""Cyrillic-to-Latin transliteration and a spelling fold for cross-script name matching.

The goal is not a reversible or "correct" romanisation but a deterministic one under which a
name written in Russian, Kazakh, Uzbek or Tajik Cyrillic and the same name as English media
spell it end up as the *same string*: ``Токаев``/``Tokayev``, ``Казахстан``/``Kazakhstan``,
``Мирзиёев``/``Mirziyoyev``, ``Кыргызстан``/``Kyrgyzstan``. Two steps get there:

1. :func:`transliterate` maps Cyrillic letters to Latin the way English-language news usually
   does (``х`` -> ``kh``, ``ж`` -> ``zh``, ``е`` -> ``ye`` after a vowel or at the start).
2. :func:`fold` then erases the spelling choices that still differ between romanisations
   (``kh``/``h``/``x``, ``y``/``i``/``j``, ``ts``/``c``, ``z``/``s``, ``w``/``v``, doubled
   letters), applied to *both* sides, so only the skeleton of a word is compared.

Both functions are total: any string in, a string out; characters they do not know pass
through unchanged.
"""

from __future__ import annotations

import re

_VOWELS = frozenset("аеёиоуыэюяәөұүіӣӯў")
# Letters after which Russian "е" is pronounced (and romanised) "ye".
_YE_AFTER = _VOWELS | frozenset("ъь")

_CYRILLIC_TO_LATIN: dict[str, str] = {
    "а": "a",
    "б": "b",
    "в": "v",
    "г": "g",
    "д": "d",
    "е": "e",
    "ё": "yo",
    "ж": "zh",
    "з": "z",
    "и": "i",
    "й": "y",
    "к": "k",
    "л": "l",
    "м": "m",
    "н": "n",
    "о": "o",
    "п": "p",
    "р": "r",
    "с": "s",
    "т": "t",
    "у": "u",
    "ф": "f",
    "х": "kh",
    "ц": "ts",
    "ч": "ch",
    "ш": "sh",
    "щ": "shch",
    "ъ": "",
    "ы": "y",
    "ь": "",
    "э": "e",
    "ю": "yu",
    "я": "ya",
    # Kazakh
    "ә": "a",
    "ғ": "g",
    "қ": "k",
    "ң": "n",
    "ө": "o",
    "ұ": "u",
    "ү": "u",
    "һ": "h",
    "і": "i",
    # Uzbek and Tajik
    "ў": "o",
    "ҳ": "h",
    "ҷ": "j",
    "ӣ": "i",
    "ӯ": "u",
}

_CYRILLIC_RE = re.compile(r"[\u0400-\u04ff]")

# Letter groups first (longest first, so "dzh" in Азербайджан wins over "zh" and meets the
# "j" of Azerbaijan), then single letters; the result of a group may still contain a
# single letter that the second step folds ("zh" -> "j" -> "i").
_GROUPS = {
    "shch": "sh",
    "dzh": "j",
    "dj": "j",
    "zh": "j",
    "kh": "h",
    "gh": "g",
    "ts": "c",
    "tz": "c",
    "ck": "k",
    "ph": "f",
}
_GROUPS_RE = re.compile("|".join(sorted(_GROUPS, key=len, reverse=True)))
_LETTERS = str.maketrans({"x": "ks", "q": "k", "w": "v", "z": "s", "y": "i", "j": "i"})
_DOUBLES_RE = re.compile(r"(.)\1+")


def has_cyrillic(text: str) -> bool:
    """True when ``text`` contains at least one Cyrillic letter."""
    # isascii() settles Latin text without running the regex.
    return not text.isascii() and _CYRILLIC_RE.search(text) is not None


def transliterate(word: str) -> str:
    """Romanise a lower-case Cyrillic ``word`` (non-Cyrillic characters pass through).

    ``е`` becomes ``ye`` at the start of the word and after a vowel or a hard/soft sign
    (``Ерлан`` -> ``yerlan``, ``Токаев`` -> ``tokayev``), as English-language media spell
    Central Asian names; elsewhere it is ``e``.
    """
    out: list[str] = []
    previous = ""
    for char in word:
        if char == "е" and (previous == "" or previous in _YE_AFTER):
            out.append("ye")
        else:
            out.append(_CYRILLIC_TO_LATIN.get(char, char))
        previous = char
    return "".join(out)


def _group(match: re.Match[str]) -> str:
    return _GROUPS[match.group()]


def _single(match: re.Match[str]) -> str:
    return match.group(1)


def fold(latin: str) -> str:
    """Reduce a lower-case Latin word to a spelling skeleton shared by its romanisations.

    ``fold("tokayev") == fold("tokaev".replace("ae", "aye"))``; ``kazakhstan`` and
    ``kazahstan`` fold alike; ``tariff`` and ``tarif`` too.
    """
    folded = _GROUPS_RE.sub(_group, latin).translate(_LETTERS)
    # A function, not the template r"\1": Python 3.11 parses a string template again on
    # every call, which made it most of the cost of folding a word.
    return _DOUBLES_RE.sub(_single, folded)


def romanise(word: str) -> str:
    """:func:`transliterate` then :func:`fold`: the form under which scripts are compared."""
    return fold(transliterate(word))
