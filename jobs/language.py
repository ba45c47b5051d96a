"""Cheap language identification for the project's four languages.

:func:`detect_language` tells English, Russian, Kazakh and Uzbek apart from a
title and summary. It is a handful of counts over the text, not a statistical
model: the four languages differ in script and in a few letters, which is enough
for news headlines and a paragraph.

* Cyrillic text is Kazakh when it has Kazakh-only letters (ә ң ө ұ ү һ і) or common
  Kazakh words (және, үшін, бойынша...), Uzbek when it has Uzbek-only letters (ў ҳ)
  or common Uzbek words (ва, билан, учун...); the letters қ and ғ, shared by both,
  count for both. Otherwise it is Russian: a Russian article quoting one Kazakh
  name stays Russian because a few letters are needed relative to the text's length.
* Latin text is Uzbek when it has o‘/g‘ (any apostrophe), "q" not followed by "u",
  frequent "sh"/"ch", or common Uzbek words (va, bilan, uchun, yil...); otherwise
  English.

Too little text (fewer than :data:`MIN_LETTERS` letters) gives ``None``.
"""

from __future__ import annotations

import re

#: Below this many letters the text says too little to tell.
MIN_LETTERS = 12

_WORD = re.compile(r"[^\W\d_]+(?:[’'‘ʻʼ`][^\W\d_]+)*")

_KK_ONLY = frozenset("әңөұүһі")
_UZ_CYR_ONLY = frozenset("ўҳ")
_KK_UZ_SHARED = frozenset("қғ")

_KK_WORDS = frozenset(
    {
        "және",
        "мен",
        "пен",
        "бен",
        "үшін",
        "бойынша",
        "бұл",
        "осы",
        "жылы",
        "туралы",
        "деп",
        "арқылы",
        "болады",
        "болып",
        "бар",
        "жоқ",
        "қазақстан",
        "еліміздің",
        "жаңа",
        "тағы",
    }
)
_UZ_CYR_WORDS = frozenset(
    {
        "ва",
        "билан",
        "учун",
        "йил",
        "йилда",
        "бўйича",
        "ҳам",
        "бу",
        "эса",
        "орқали",
        "тўғрисида",
        "мумкин",
        "қилди",
        "бўлди",
        "янги",
        "ўзбекистон",
    }
)
_UZ_LAT_WORDS = frozenset(
    {
        "va",
        "bilan",
        "uchun",
        "yil",
        "yilda",
        "yilning",
        "bo‘yicha",
        "ham",
        "bu",
        "esa",
        "orqali",
        "haqida",
        "mumkin",
        "qildi",
        "bo‘ldi",
        "yangi",
        "o‘zbekiston",
        "toshkent",
        "vazirligi",
        "loyiha",
        "loyihasi",
    }
)
_EN_WORDS = frozenset(
    {"the", "and", "of", "to", "in", "is", "for", "on", "with", "a", "by", "from", "at", "will"}
)
# Uzbek Latin writes o‘ and g‘ with whatever apostrophe the keyboard offers.
_UZ_APOSTROPHE = re.compile(r"[OoGg][‘’'ʻʼ`](?=\w)")
_APOSTROPHES = str.maketrans({"’": "‘", "'": "‘", "ʻ": "‘", "ʼ": "‘", "`": "‘"})


def _cyrillic_language(text: str, words: list[str], cyrillic: int) -> str:
    kk = sum(1 for c in text if c in _KK_ONLY)
    uz = sum(1 for c in text if c in _UZ_CYR_ONLY)
    shared = sum(1 for c in text if c in _KK_UZ_SHARED)
    kk_words = sum(1 for w in words if w in _KK_WORDS)
    uz_words = sum(1 for w in words if w in _UZ_CYR_WORDS)
    kk_score = kk + shared / 2 + 3 * kk_words
    uz_score = uz + shared / 2 + 3 * uz_words
    # One or two stray letters in a long Russian text are a quoted name, not Kazakh.
    needed = max(2.0, cyrillic * 0.015)
    if kk_score >= needed and kk_score > uz_score:
        return "kk"
    if uz_score >= needed and uz_score > kk_score:
        return "uz"
    return "ru"


def _latin_language(text: str, words: list[str], latin: int) -> str:
    lowered = text.lower()
    apostrophes = len(_UZ_APOSTROPHE.findall(text))
    q_without_u = lowered.count("q") - lowered.count("qu")
    digraphs = lowered.count("sh") + lowered.count("ch")
    normalised = [w.translate(_APOSTROPHES) for w in words]
    uz_words = sum(1 for w in normalised if w in _UZ_LAT_WORDS)
    en_words = sum(1 for w in words if w in _EN_WORDS)
    uz_score = 3 * uz_words + 2 * apostrophes + q_without_u
    # "sh"/"ch" occur in English too; only a clearly higher rate than English's
    # (about 1 in 100 letters) points to Uzbek.
    if digraphs * 100 > latin * 3:
        uz_score += digraphs
    if uz_score >= max(3, 3 * en_words):
        return "uz"
    return "en"


def detect_language(text: str) -> str | None:
    """Best guess among ``"en"``, ``"ru"``, ``"kk"``, ``"uz"``; ``None`` for too little text.

    The script with more letters decides between the Cyrillic languages (``ru``,
    ``kk``, Uzbek Cyrillic ``uz``) and the Latin ones (``en``, Uzbek Latin ``uz``).
    """
    cyrillic = 0
    latin = 0
    for c in text:
        if "а" <= c <= "я" or "А" <= c <= "Я" or "\u0400" <= c <= "\u04ff":
            cyrillic += 1
        elif c.isascii() and c.isalpha():
            latin += 1
    if cyrillic + latin < MIN_LETTERS:
        return None
    words = _WORD.findall(text.lower())
    if cyrillic >= latin:
        return _cyrillic_language(text.lower(), words, cyrillic)
    return _latin_language(text, words, latin)
