"""``/start`` with its three-step set-up, ``/help``, channels, and membership changes."""

from __future__ import annotations

import re
from typing import Final

from telegram import Update
from telegram.constants import ChatMemberStatus, ChatType
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot.telegram import keyboards
from bot.telegram.callbacks import SETUP
from bot.telegram.conversation import (
    MANAGING_KEY,
    Target,
    is_admin,
    language_of,
    load,
    may_change,
    reply,
)
from bot.telegram.services import services_of

#: A chat id as typed in ``/channel -1001234567890``: Telegram's ids fit in 52 bits.
_CHAT_ID: Final = re.compile(r"-?[0-9]{1,16}")


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Register (or reactivate) the chat, greet, and show the first set-up step."""
    services, target, known = await load(update, context)
    if target is None or update.effective_chat is None:
        return
    t = services.translator
    language = language_of(services, known, update)
    # A post in the channel itself comes from one of its administrators; its set-up
    # happens in a private chat, where every subscriber cannot press the buttons.
    in_channel = target.is_channel and update.effective_chat.id == target.id
    if not in_channel and not await may_change(update, context, target):
        refusal = t.text(language, "admins_only")
        if known is None:
            refusal = t.text(language, "welcome_group", title=target.title or "") + "\n" + refusal
        await reply(update, context, refusal)
        return
    chat, created = await services.db(
        services.store.chats.start,
        target.id,
        kind=target.kind,
        title=target.title,
        language=language,
        now=services.now(),
    )
    if in_channel:
        await reply(update, context, t.text(chat.language, "channel_setup"))
        return
    user = update.effective_user
    if target.kind == ChatType.PRIVATE:
        key = "welcome" if created else "welcome_back"
        greeting = t.text(chat.language, key, name=user.first_name if user else "")
    else:
        greeting = t.text(chat.language, "welcome_group", title=target.title or "")
    await reply(update, context, greeting)
    await reply(
        update, context, t.text(chat.language, "step_topics"), keyboards.topics(t, chat, SETUP)
    )


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    services, _target, chat = await load(update, context)
    await reply(
        update, context, services.translator.text(language_of(services, chat, update), "help")
    )


async def channel(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """``/channel @name`` (private chat): set up a channel where both are administrators;
    ``/channel off``: back to one's own settings."""
    services = services_of(context)
    chat, user = update.effective_chat, update.effective_user
    if chat is None or user is None or context.user_data is None:
        return
    own = await services.db(services.store.chats.get, chat.id)
    language = language_of(services, own, update)
    t = services.translator
    if chat.type != ChatType.PRIVATE:
        await reply(update, context, t.text(language, "channel_setup"))
        return
    name = " ".join(context.args or []).strip()
    if not name:
        await reply(update, context, t.text(language, "channel_setup"))
        return
    if name.lower() == "off":
        context.user_data.pop(MANAGING_KEY, None)
        await reply(update, context, t.text(language, "channel_released"))
        return
    # A numeric id only in ASCII digits ("²" and "--5" are no ids; int() refuses them).
    reference: int | str = int(name) if _CHAT_ID.fullmatch(name) else name
    try:
        found = await context.bot.get_chat(reference)
    except TelegramError:  # not found, or not a chat the bot may see
        await reply(update, context, t.text(language, "channel_unknown", channel=name[:100]))
        return
    if found.type != ChatType.CHANNEL:
        await reply(update, context, t.text(language, "channel_unknown", channel=name[:100]))
        return
    bot_id = context.bot.id
    if not (
        await is_admin(context, found.id, user.id) and await is_admin(context, found.id, bot_id)
    ):
        await reply(update, context, t.text(language, "channel_not_admin", channel=name[:100]))
        return
    target = Target(found.id, found.type, (found.title or name)[:200])
    context.user_data[MANAGING_KEY] = target
    settings, _ = await services.db(
        services.store.chats.start,
        target.id,
        kind=target.kind,
        title=target.title,
        language=language,
        now=services.now(),
    )
    await reply(update, context, t.text(language, "channel_managing", channel=target.title or name))
    await reply(
        update,
        context,
        t.text(settings.language, "step_topics"),
        keyboards.topics(t, settings, SETUP),
    )


async def membership(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The bot was blocked, removed or added: blocked/removed chats become inactive
    (their settings stay until ``/stop``; ``/start`` brings them back)."""
    change = update.my_chat_member
    if change is None:
        return
    services = services_of(context)
    if change.new_chat_member.status in (ChatMemberStatus.BANNED, ChatMemberStatus.LEFT):
        await services.db(
            services.store.chats.set_active, change.chat.id, False, now=services.now()
        )


async def migrated(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A group became a supergroup, which has a new chat id: its settings and delivery
    ledger move to the new id. Telegram tells both chats; the second news finds
    nothing left to move."""
    message = update.effective_message
    if message is None:
        return
    if message.migrate_to_chat_id:
        old, new = message.chat.id, message.migrate_to_chat_id
    elif message.migrate_from_chat_id:
        old, new = message.migrate_from_chat_id, message.chat.id
    else:
        return
    services = services_of(context)
    await services.db(services.store.chats.migrate, old, new, now=services.now())
