"""What no other handler took: unknown commands, stale buttons, and errors."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.constants import ChatType
from telegram.error import Forbidden, TelegramError
from telegram.ext import ContextTypes

from bot.telegram.conversation import language_of, load, mark_unreachable, reply
from bot.telegram.services import services_of

log = logging.getLogger(__name__)


async def unknown_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Say so in a private chat, or in a group when addressed as ``/cmd@thisbot``.
    A bare unknown command in a group may be another bot's: ignore it."""
    message, chat = update.effective_message, update.effective_chat
    if message is None or chat is None or not message.text:
        return
    command = message.text.split(maxsplit=1)[0]
    _, _, addressee = command.partition("@")
    if addressee and addressee.lower() != (context.bot.username or "").lower():
        return
    if chat.type != ChatType.PRIVATE and not addressee:
        return
    services, _target, settings = await load(update, context)
    text = services.translator.text(language_of(services, settings, update), "unknown_command")
    await reply(update, context, text)


async def stale_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A button whose data no handler recognises (forged, or from an old version)."""
    query = update.callback_query
    if query is None:
        return
    services, _target, settings = await load(update, context)
    language = language_of(services, settings, update)
    await query.answer(services.translator.text(language, "stale_button"), show_alert=True)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The one error handler: a chat that refuses messages becomes inactive; anything
    else is logged and the user told that something went wrong, if we still can."""
    error = context.error
    chat = update.effective_chat if isinstance(update, Update) else None
    services = services_of(context)
    if isinstance(error, Forbidden):
        if chat is not None:
            await mark_unreachable(services, chat.id, error)
        return
    log.error("while handling an update: %r", error, exc_info=error)
    if not isinstance(update, Update) or chat is None:
        return
    try:
        if update.callback_query is not None:
            await update.callback_query.answer()
        _s, _t, settings = await load(update, context)
        await reply(
            update,
            context,
            services.translator.text(language_of(services, settings, update), "error_generic"),
        )
    except Exception as exc:
        if not isinstance(exc, TelegramError):
            log.error("the error handler failed too: %r", exc)
