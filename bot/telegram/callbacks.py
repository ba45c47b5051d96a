"""Inline button data: short, versioned by its shape, and never trusted.

Telegram returns the ``callback_data`` of a pressed button verbatim, and anyone can
forge it, so :func:`decode` accepts only the shapes :func:`encode` makes and the
handlers validate the value again (a topic must be a topic). Data is at most
:data:`MAX_BYTES` bytes, Telegram's limit; :func:`encode` refuses longer data.

Shape: ``action:mode:value`` where ``mode`` is ``o`` during the ``/start`` set-up
(buttons lead to the next step) or ``s`` for a single setting (``/topics``...).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

MAX_BYTES: Final = 64

TOPIC: Final = "tp"
COUNTRY: Final = "ct"
TIME: Final = "tm"
TIMEZONE: Final = "tz"
LANGUAGE: Final = "lg"
NEXT: Final = "nx"
FIND: Final = "fd"
STOP: Final = "st"
DIGEST: Final = "dg"
"""The buttons under a digest: ``dg:s:settings``, ``dg:s:pause``."""
ACTIONS: Final = frozenset({TOPIC, COUNTRY, TIME, TIMEZONE, LANGUAGE, NEXT, FIND, STOP, DIGEST})

SETUP: Final = "o"
SINGLE: Final = "s"
MODES: Final = frozenset({SETUP, SINGLE})


@dataclass(frozen=True, slots=True)
class Callback:
    """Decoded button data."""

    action: str
    mode: str
    value: str


def encode(action: str, mode: str, value: str) -> str:
    """The ``callback_data`` for a button; ValueError if it would break a rule."""
    if action not in ACTIONS or mode not in MODES:
        raise ValueError(f"unknown callback action/mode {action}/{mode}")
    data = f"{action}:{mode}:{value}"
    if len(data.encode("utf-8")) > MAX_BYTES:
        raise ValueError(f"callback data over {MAX_BYTES} bytes: {data!r}")
    return data


def fits(action: str, mode: str, value: str) -> bool:
    """Whether :func:`encode` takes ``value`` (within :data:`MAX_BYTES`)."""
    return len(f"{action}:{mode}:{value}".encode()) <= MAX_BYTES


def decode(data: object) -> Callback | None:
    """The button data if it has a shape :func:`encode` makes, else ``None``."""
    if not isinstance(data, str) or len(data.encode("utf-8")) > MAX_BYTES:
        return None
    parts = data.split(":", 2)
    if len(parts) != 3:
        return None
    action, mode, value = parts
    if action not in ACTIONS or mode not in MODES or not value:
        return None
    return Callback(action, mode, value)
