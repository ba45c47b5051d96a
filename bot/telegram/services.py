"""What every handler may use, set up once and reached through the PTB context."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any, Final, ParamSpec, TypeVar

from telegram.ext import ContextTypes

from bot.i18n import Translator
from jobs.digest.selection import SelectionSettings
from storage import Store

SERVICES_KEY: Final = "services"

_P = ParamSpec("_P")
_T = TypeVar("_T")


@dataclass(frozen=True)
class CollectionSummary:
    """The operators' ``/collect`` answer: counts of one collection run."""

    new: int
    updated: int
    failed: int


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Services:
    """The bot's dependencies: the store, the catalogs, the operators, the clock."""

    store: Store
    translator: Translator
    operators: frozenset[int] = frozenset()
    """Telegram user ids allowed to use ``/stats`` and ``/collect``."""
    collect: Callable[[], Awaitable[CollectionSummary]] | None = None
    """Runs one collection now (``/collect``); ``None`` when no collector runs here."""
    clock: Callable[[], datetime] = field(default=_utc_now)
    """The current time, UTC-aware (tests pass a fixed clock)."""
    selection: SelectionSettings = field(default_factory=SelectionSettings)
    """The digest's content rules (``[digest]``), for ``/digest``."""

    def now(self) -> datetime:
        return self.clock()

    async def db(self, call: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        """Run a blocking store call in a worker thread, off the event loop."""
        return await asyncio.to_thread(partial(call, *args, **kwargs))


def services_of(context: ContextTypes.DEFAULT_TYPE) -> Services:
    """The :class:`Services` stored in ``bot_data`` by the application builder."""
    services: Any = context.bot_data[SERVICES_KEY]
    if not isinstance(services, Services):  # a wiring mistake, not a user's
        raise TypeError("bot_data['services'] is not set up")
    return services
