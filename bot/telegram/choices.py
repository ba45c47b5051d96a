"""What a chat can choose, and the parsing of what users type for it."""

from __future__ import annotations

import re
from datetime import time
from functools import cache
from typing import Final
from zoneinfo import available_timezones

from storage.records import COUNTRIES, TOPICS

__all__ = [
    "COUNTRIES",
    "TIMEZONE_PRESETS",
    "TIME_PRESETS",
    "TOPICS",
    "format_time",
    "parse_time",
    "parse_timezone",
]

#: Capitals of the region's countries, in the order of the country list.
TIMEZONE_PRESETS: Final = (
    "Asia/Almaty",
    "Asia/Tashkent",
    "Asia/Bishkek",
    "Asia/Dushanbe",
    "Asia/Ashgabat",
    "Asia/Baku",
)
TIME_PRESETS: Final = (time(7), time(8), time(9), time(12), time(18), time(21))

_TIME = re.compile(r"([01]?\d|2[0-3])[:.]([0-5]\d)")
_LONGEST_ZONE_NAME: Final = 64


def parse_time(text: str) -> time | None:
    """``"7:30"``, ``"07:30"`` or ``"07.30"`` as a time; ``None`` for anything else."""
    match = _TIME.fullmatch(text.strip())
    if match is None:
        return None
    return time(int(match.group(1)), int(match.group(2)))


def format_time(value: time) -> str:
    return f"{value.hour:02d}:{value.minute:02d}"


@cache
def _zones() -> dict[str, str]:
    return {name.lower(): name for name in available_timezones()}


def parse_timezone(text: str) -> str | None:
    """The canonical IANA name for ``text`` (any case), or ``None`` if it is not one."""
    name = text.strip()
    if not name or len(name) > _LONGEST_ZONE_NAME:
        return None
    return _zones().get(name.lower())
