"""Language detection on short news texts written for these tests."""

from __future__ import annotations

import pytest

from jobs.language import detect_language


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # English
        ("Kazakhstan opens tender for 500 MW of wind capacity in the north", "en"),
        ("Uzbekistan's IT Park reports record software exports", "en"),
        ("Shell and Chevron check a new pipeline", "en"),
        # Russian
        ("В Шымкенте открылся новый центр обработки данных", "ru"),
        ("Минцифры Казахстана запустило портал открытых данных", "ru"),
        # Russian text quoting one Kazakh name stays Russian.
        (
            "Компания «Қазақтелеком» отчиталась о росте выручки на 12 процентов за первый квартал",
            "ru",
        ),
        # Kazakh
        ("Елордада жаңа технопарк ашылды", "kk"),
        ("Үкімет цифрландыру бойынша жаңа бағдарламаны бекітті", "kk"),
        ("Министрлік жел электр станциялары туралы мәлімдеме жасады", "kk"),
        # Uzbek Cyrillic
        ("Тошкентда янги маълумотлар маркази қурилади", "uz"),
        ("Вазирлик қуёш электр станциялари бўйича тендер эълон қилди", "uz"),
        # Uzbek Latin, with each apostrophe spelling
        ("O‘zbekiston va Qozog‘iston energetika bo‘yicha kelishdi", "uz"),
        ("O'zbekiston va Qozog'iston energetika bo'yicha kelishdi", "uz"),
        ("Oʻzbekiston raqamli iqtisodiyot uchun yangi dastur qabul qildi", "uz"),
        ("Toshkentda quyosh elektr stansiyasi ishga tushirildi", "uz"),
        ("Samarqandda yangi IT markaz 2025 yilda ochiladi", "uz"),
        # Too little text to tell
        ("OK", None),
        ("IT-хаб", None),
        ("2025 — 10%", None),
        ("", None),
    ],
)
def test_detect_language(text: str, expected: str | None) -> None:
    assert detect_language(text) == expected
