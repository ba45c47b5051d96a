"""The operators' commands (user ids in ``telegram.admins``): ``/stats`` and ``/collect``.

For anyone else they answer that the command is for the operators, and do nothing.
``/stats`` answers only in a private chat: in a group every member would read the
operators' figures (chats, feed failures).
"""

from __future__ import annotations

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import ContextTypes

from bot.telegram import render
from bot.telegram.conversation import language_of, load, reply
from bot.telegram.services import Services


def _is_operator(services: Services, update: Update) -> bool:
    user = update.effective_user
    return user is not None and user.id in services.operators


async def stats(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    services, _target, chat = await load(update, context)
    language = language_of(services, chat, update)
    t = services.translator
    if not _is_operator(services, update):
        await reply(update, context, t.text(language, "operators_only"))
        return
    if update.effective_chat is None or update.effective_chat.type != ChatType.PRIVATE:
        await reply(update, context, t.text(language, "operators_private"))
        return
    store = services.store
    counts = await services.db(store.chats.counts)
    articles = await services.db(store.articles_since, services.now() - render.DIGEST_WINDOW)
    feeds = await services.db(store.feed_states)
    await reply(
        update,
        context,
        render.stats(
            t, chat=chat, language=language, counts=counts, articles=articles, feeds=feeds
        ),
    )


async def collect(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    services, _target, chat = await load(update, context)
    language = language_of(services, chat, update)
    t = services.translator
    if not _is_operator(services, update):
        await reply(update, context, t.text(language, "operators_only"))
        return
    if services.collect is None:
        await reply(update, context, t.text(language, "error_generic"))
        return
    await reply(update, context, t.text(language, "collect_started"))
    summary = await services.collect()
    await reply(
        update,
        context,
        t.text(
            language,
            "collect_done",
            new=summary.new,
            updated=summary.updated,
            failed=summary.failed,
        ),
    )
