"""``/digest`` (the chat's next digest, now) and the buttons under every digest.

``/digest`` shows what the chat's digest would hold at this moment, built exactly as
the scheduled one (since the last delivered digest, leaving out what was sent), but
records nothing: the scheduled digest is unaffected. The buttons under a digest open
the settings or pause deliveries, with the same rights as ``/settings`` and ``/pause``.
"""

from __future__ import annotations

import contextlib

from telegram import Update
from telegram.error import BadRequest
from telegram.ext import ContextTypes

from bot.telegram import callbacks as cb
from bot.telegram.conversation import language_of, load, reply
from bot.telegram.digest_delivery import footer
from bot.telegram.digest_render import render_digest
from bot.telegram.handlers import settings
from jobs.digest.preview import preview


async def digest_now(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """``/digest``: the chat's digest as it would be sent now (nothing recorded)."""
    services, _target, chat = await load(update, context)
    t = services.translator
    if chat is None:
        await reply(update, context, t.text(language_of(services, None, update), "not_started"))
        return
    built = await services.db(preview, services.store, chat, services.now(), services.selection)
    messages = render_digest(t, chat, built)
    for number, text in enumerate(messages, start=1):
        last = number == len(messages)
        await reply(update, context, text, footer(t, chat.language) if last else None)


async def on_footer(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The "settings" and "pause" buttons under a digest."""
    query = update.callback_query
    if query is None:
        return
    data = cb.decode(query.data)
    if data is not None and data.value == "settings":
        await query.answer()
        await settings.show_settings(update, context)
        return
    if data is not None and data.value == "pause":
        await settings.pause(update, context)
    # A refusal (not an administrator) has answered the query already; Telegram
    # refuses a second answer, which changes nothing for the user.
    with contextlib.suppress(BadRequest):
        await query.answer()
