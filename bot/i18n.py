"""The bot's words in each language: gettext catalogs read with Babel at start-up.

The catalogs are ``bot/locales/<lang>.po``; each ``msgid`` is a stable key (such as
``"welcome"``) and each ``msgstr`` is Telegram HTML with ``{placeholders}``. They are
read as text with :func:`babel.messages.pofile.read_po` when the bot starts, so there
is no compile step to forget. ``en`` is the reference catalog and holds every key; a
key missing from another language falls back to English.

:meth:`Translator.text` escapes every placeholder value for Telegram's HTML unless it
is wrapped in :class:`Html`, so a title or a query typed by a user can never inject
markup or break a message.
"""

from __future__ import annotations

import html
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Final

from babel.messages.pofile import read_po

#: Languages with a catalog, reference first.
LANGUAGES: Final = ("en", "ru", "kk", "uz")
DEFAULT_LANGUAGE: Final = "en"


class Html(str):
    """A string that is already valid Telegram HTML: inserted as it is."""

    __slots__ = ()


def escape(value: object) -> str:
    """``value`` as text safe inside Telegram HTML (``<``, ``>``, ``&``, ``"``)."""
    if isinstance(value, Html):
        return str(value)
    return html.escape(str(value), quote=True)


@dataclass(frozen=True)
class Catalog:
    """One language's messages, key -> template."""

    language: str
    messages: Mapping[str, str]


def placeholders(template: str) -> frozenset[str]:
    """Names of the ``{placeholders}`` in a template."""
    return frozenset(
        name for _, name, _, _ in string.Formatter().parse(template) if name is not None
    )


def load_catalogs(languages: Iterable[str] = LANGUAGES) -> dict[str, Catalog]:
    """Read the shipped ``.po`` catalogs; entries without a translation are left out."""
    root = resources.files("bot") / "locales"
    catalogs: dict[str, Catalog] = {}
    for language in languages:
        with (root / f"{language}.po").open("rb") as handle:
            po = read_po(handle, locale=language)
        messages = {
            str(message.id): str(message.string)
            for message in po
            if message.id and isinstance(message.string, str) and message.string
        }
        catalogs[language] = Catalog(language, messages)
    return catalogs


class Translator:
    """Looks messages up by key and language, with English as the fallback."""

    def __init__(self, catalogs: Mapping[str, Catalog] | None = None) -> None:
        self._catalogs = dict(catalogs if catalogs is not None else load_catalogs())
        if DEFAULT_LANGUAGE not in self._catalogs:
            raise ValueError("the English catalog is required")

    @property
    def languages(self) -> tuple[str, ...]:
        """Languages a chat may choose, reference first."""
        return tuple(self._catalogs)

    def pick(self, language_code: str | None) -> str:
        """The supported language for Telegram's ``language_code`` (``"ru-RU"`` -> ``ru``),
        English when there is none or it is not supported."""
        if language_code:
            base = language_code.replace("_", "-").split("-")[0].lower()
            if base in self._catalogs:
                return base
        return DEFAULT_LANGUAGE

    def text(self, language: str, key: str, /, **values: object) -> str:
        """The message ``key`` in ``language``, placeholders filled (and escaped).

        An unknown key raises :class:`KeyError`: it is a programming error that the
        catalog test catches.
        """
        catalog = self._catalogs.get(language, self._catalogs[DEFAULT_LANGUAGE])
        template = catalog.messages.get(key)
        if template is None:
            template = self._catalogs[DEFAULT_LANGUAGE].messages[key]
        return template.format_map({name: escape(value) for name, value in values.items()})

    def has(self, language: str, key: str) -> bool:
        """True when ``language``'s own catalog (not the fallback) has ``key``."""
        catalog = self._catalogs.get(language)
        return catalog is not None and key in catalog.messages
