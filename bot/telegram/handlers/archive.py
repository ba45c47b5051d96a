"""Reading the archive: ``/find`` with its pages and ``/sources``.

Anyone in a chat may read; these commands change nothing. A search's text stays on the
server (``chat_data``, the newest :data:`KEPT_SEARCHES`): the "more" button carries
only its id and the next offset, within Telegram's 64 bytes whatever the query. A
button of a search the bot no longer holds (restarted, or too old) says so.
"""

from __future__ import annotations

import itertools
import re
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
_search_ids = itertools.count(1)
#: The offset a "more" button carries: ASCII digits, at most a million results deep.
_OFFSET: Final = re.compile(r"[0-9]{1,6}")


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
    search_id = _remember(context, query)
    text, markup = await _page(services, view, query, search_id, 0)
    await reply(update, context, text, markup)


async def more(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The "more results" button: the next page, in place."""
    query = update.callback_query
    if query is None:
        return
    services, _target, chat = await load(update, context)
    view = _view(services, chat, update)
    data = cb.decode(query.data)
    searches = context.chat_data.get(_SEARCHES_KEY, {}) if context.chat_data is not None else {}
    search_id, _, offset_text = data.value.partition(":") if data else ("", "", "")
    text_query = searches.get(search_id)
    # Forged data is not trusted: ``str.isdigit`` also takes "²" and "٥", which int()
    # refuses or reads, and an offset past any archive is no page of this search.
    if data is None or text_query is None or not _OFFSET.fullmatch(offset_text):
        await query.answer(services.translator.text(view.language, "find_expired"), show_alert=True)
        return
    await query.answer()
    text, markup = await _page(services, view, text_query, search_id, int(offset_text))
    await edit(update, context, text, markup)


async def _page(
    services: Services, view: ChatSettings, query: str, search_id: str, offset: int
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
        markup = keyboards.more_results(t, view.language, search_id, next_offset)
    return text, markup


def _remember(context: ContextTypes.DEFAULT_TYPE, query: str) -> str:
    if context.chat_data is None:
        return "0"
    searches: dict[str, str] = context.chat_data.setdefault(_SEARCHES_KEY, {})
    search_id = str(next(_search_ids))
    searches[search_id] = query
    while len(searches) > KEPT_SEARCHES:
        searches.pop(next(iter(searches)))
    return search_id


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
