"""Reading the archive: ``/find`` with its pages and ``/sources``.

Anyone in a chat may read; these commands change nothing.

A "more" button must fit Telegram's 64 bytes of button data. Most queries do, and their
button carries the next offset and the query itself (``12:q:solar uz``): it works for
as long as the message exists, across restarts and redeploys. A longer query stays on
the server under a random key (``chat_data``, the newest :data:`KEPT_SEARCHES`) and the
button carries the key (``12:k:Xa3…``); once the bot no longer holds it (restarted, or
too many searches since) the button says the search has expired. Keys are random, so
a button from before a restart never opens another search.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from typing import Final

from telegram import InlineKeyboardMarkup, Update
from telegram.ext import ContextTypes

from bot.telegram import callbacks as cb
from bot.telegram import keyboards, render
from bot.telegram.choices import COUNTRIES, TOPICS
from bot.telegram.conversation import edit, language_of, load, reply
from bot.telegram.services import Services
from storage.chats import DEFAULT_DELIVERY_TIME, DEFAULT_TIMEZONE
from storage.records import ChatSettings
from storage.search.query import MAX_QUERY_CHARS, is_too_long
from storage.search.results import SearchStatus

PAGE_SIZE: Final = 5
KEPT_SEARCHES: Final = 20
_SEARCHES_KEY: Final = "searches"
#: The offset a "more" button carries: ASCII digits, at most a million results deep.
_OFFSET: Final = re.compile(r"[0-9]{1,6}")
_DEEPEST: Final = "999999"
#: The two kinds of "more" button: the query itself, or the key of a kept one.
_QUERY: Final = "q"
_KEPT: Final = "k"

#: A search's "more" button data for a given next offset.
Pager = Callable[[int], str]


async def find(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """``/find <query>``: the first page; ``/find`` alone: the syntax with examples."""
    services, _target, chat = await load(update, context)
    message = update.effective_message
    if message is None or message.text is None:
        return
    parts = message.text.split(maxsplit=1)
    query = parts[1].strip() if len(parts) > 1 else ""
    view = _view(services, chat, update)
    t = services.translator
    if not query:
        await reply(update, context, t.text(view.language, "find_help"))
        return
    if is_too_long(query):  # refused before it is remembered for the "more" button
        await reply(
            update,
            context,
            t.text(view.language, "find_too_long", length=len(query), limit=MAX_QUERY_CHARS),
        )
        return
    text, markup = await _page(services, view, query, _pager(context, query), 0)
    await reply(update, context, text, markup)


async def more(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The "more results" button: the next page, in place."""
    query = update.callback_query
    if query is None:
        return
    services, _target, chat = await load(update, context)
    view = _view(services, chat, update)
    data = cb.decode(query.data)
    parts = data.value.split(":", 2) if data else []
    offset_text, kind, rest = parts if len(parts) == 3 else ("", "", "")
    text_query: str | None = None
    pager: Pager | None = None
    if kind == _QUERY:
        # Forged data is just a search anyone may run with /find.
        text_query, pager = rest, _inline_pager(rest)
    elif kind == _KEPT and context.chat_data is not None:
        text_query = context.chat_data.get(_SEARCHES_KEY, {}).get(rest)
        pager = _kept_pager(rest)
    # Forged offsets are not trusted either: ``str.isdigit`` also takes "²" and "٥",
    # which int() refuses or reads, and an offset past any archive is no page.
    if text_query is None or pager is None or not _OFFSET.fullmatch(offset_text):
        # A key the bot no longer holds, or a button of an older version's shape.
        await query.answer(services.translator.text(view.language, "find_expired"), show_alert=True)
        return
    await query.answer()
    text, markup = await _page(services, view, text_query, pager, int(offset_text))
    await edit(update, context, text, markup)


async def _page(
    services: Services, view: ChatSettings, query: str, pager: Pager, offset: int
) -> tuple[str, InlineKeyboardMarkup | None]:
    t = services.translator
    results = await services.db(
        services.store.find, query, now=services.now(), limit=PAGE_SIZE, offset=offset
    )
    if results.status is SearchStatus.TOO_LONG:
        return t.text(
            view.language, "find_too_long", length=len(query), limit=MAX_QUERY_CHARS
        ), None
    if results.status is SearchStatus.EMPTY:
        return t.text(view.language, "find_empty"), None
    if not results.hits:
        lines = [t.text(view.language, "find_nothing", query=query[:100])]
        return "\n".join([*lines, *render.notes(t, view.language, results)]), None
    text = render.search_page(t, view, query, results)
    markup = None
    if results.has_more:
        next_offset = results.offset + len(results.hits)
        markup = keyboards.more_results(t, view.language, pager(next_offset))
    return text, markup


def _pager(context: ContextTypes.DEFAULT_TYPE, query: str) -> Pager:
    """How the "more" buttons of a new search carry it (see the module docstring)."""
    if cb.fits(cb.FIND, cb.SINGLE, f"{_DEEPEST}:{_QUERY}:{query}"):
        return _inline_pager(query)
    key = secrets.token_urlsafe(6)
    if context.chat_data is not None:
        searches: dict[str, str] = context.chat_data.setdefault(_SEARCHES_KEY, {})
        searches[key] = query
        while len(searches) > KEPT_SEARCHES:
            searches.pop(next(iter(searches)))
    return _kept_pager(key)


def _inline_pager(query: str) -> Pager:
    return lambda offset: f"{offset}:{_QUERY}:{query}"


def _kept_pager(key: str) -> Pager:
    return lambda offset: f"{offset}:{_KEPT}:{key}"


def _view(services: Services, chat: ChatSettings | None, update: Update) -> ChatSettings:
    """The chat's settings, or defaults in the user's language for a chat not set up:
    reading the archive needs no subscription."""
    if chat is not None:
        return chat
    moment = services.now()
    return ChatSettings(
        id=0,
        kind="private",
        title=None,
        language=language_of(services, None, update),
        topics=TOPICS,
        countries=COUNTRIES,
        timezone=DEFAULT_TIMEZONE,
        delivery_time=DEFAULT_DELIVERY_TIME,
        paused=False,
        active=True,
        created_at=moment,
        updated_at=moment,
    )


async def sources(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """``/sources``: every enabled outlet with its language, country and health."""
    services, _target, chat = await load(update, context)
    feeds = await services.db(services.store.feed_states)
    await reply(
        update, context, render.sources(services.translator, _view(services, chat, update), feeds)
    )
