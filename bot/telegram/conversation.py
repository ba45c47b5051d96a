"""Helpers every handler uses: whose settings a message changes, who may change them,
which language to answer in, and sending that survives Telegram's flood control.

The *target* of a message is the chat whose settings it reads or changes: the chat it
was sent in, except in a private chat where an administrator is setting up a channel
(``/channel @name``), where it is that channel.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Final, TypeVar

from telegram import Chat, InlineKeyboardMarkup, Message, Update
from telegram.constants import ChatMemberStatus, ChatType
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError
from telegram.ext import ContextTypes

from bot.telegram.services import Services, services_of
from storage.records import ChatSettings

log = logging.getLogger(__name__)

_T = TypeVar("_T")

#: ``user_data`` key of the channel an administrator is setting up in a private chat.
MANAGING_KEY: Final = "managing_channel"
#: Longest wait for flood control before giving up on a message.
MAX_RETRY_AFTER: Final = 30.0
_ADMIN_STATUSES: Final = frozenset({ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER})
_MAX_TITLE: Final = 200


@dataclass(frozen=True, slots=True)
class Target:
    """The chat a message is about: its id, kind and title."""

    id: int
    kind: str
    title: str | None

    @property
    def is_channel(self) -> bool:
        return self.kind == ChatType.CHANNEL


def target_of(update: Update, context: ContextTypes.DEFAULT_TYPE) -> Target | None:
    chat = update.effective_chat
    if chat is None:
        return None
    if chat.type == ChatType.PRIVATE and context.user_data is not None:
        managed = context.user_data.get(MANAGING_KEY)
        if isinstance(managed, Target):
            return managed
    return Target(chat.id, chat.type, _title(chat))


def _title(chat: Chat) -> str | None:
    title = chat.title or chat.full_name or chat.username
    return title[:_MAX_TITLE] if title else None


async def may_change(update: Update, context: ContextTypes.DEFAULT_TYPE, target: Target) -> bool:
    """True when the sender may change ``target``'s settings.

    Anyone in their own private chat; in a group its administrators (an anonymous
    administrator posts as the group itself); a channel only through an administrator's
    private chat, checked again on every change (rights can be taken away).
    """
    chat, user = update.effective_chat, update.effective_user
    if chat is None:
        return False
    if chat.type == ChatType.PRIVATE and target.id == chat.id:
        return True
    message = update.effective_message
    if message is not None and message.sender_chat is not None:
        return message.sender_chat.id == target.id and target.kind != ChatType.CHANNEL
    if user is None:
        return False
    return await is_admin(context, target.id, user.id)


async def is_admin(context: ContextTypes.DEFAULT_TYPE, chat_id: int, user_id: int) -> bool:
    try:
        member = await context.bot.get_chat_member(chat_id, user_id)
    except TelegramError as exc:
        log.info("cannot check the rights of user %s in chat %s: %s", user_id, chat_id, exc)
        return False
    return member.status in _ADMIN_STATUSES


def language_of(services: Services, chat: ChatSettings | None, update: Update) -> str:
    """The chat's language, else the user's Telegram language, else English."""
    if chat is not None:
        return chat.language
    user = update.effective_user
    return services.translator.pick(user.language_code if user else None)


async def load(
    update: Update, context: ContextTypes.DEFAULT_TYPE
) -> tuple[Services, Target | None, ChatSettings | None]:
    """The services, the target and its stored settings (``None`` if unknown)."""
    services = services_of(context)
    target = target_of(update, context)
    chat = await services.db(services.store.chats.get, target.id) if target else None
    return services, target, chat


async def reply(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    text: str,
    markup: InlineKeyboardMarkup | None = None,
) -> Message | None:
    """Answer in the chat the update came from (not the target: a channel being set up
    is answered in the administrator's private chat)."""
    chat = update.effective_chat
    if chat is None:
        return None
    return await send(context, chat.id, text, markup)


async def send(
    context: ContextTypes.DEFAULT_TYPE,
    chat_id: int,
    text: str,
    markup: InlineKeyboardMarkup | None = None,
) -> Message | None:
    """Send HTML, waiting out flood control (429) up to :data:`MAX_RETRY_AFTER` s."""
    return await _with_retry(lambda: context.bot.send_message(chat_id, text, reply_markup=markup))


async def edit(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    text: str,
    markup: InlineKeyboardMarkup | None = None,
) -> None:
    """Replace the text and keyboard of the message whose button was pressed."""
    query = update.callback_query
    if query is None or query.message is None:
        return
    chat_id, message_id = query.message.chat.id, query.message.message_id
    try:
        await _with_retry(
            lambda: context.bot.edit_message_text(
                text, chat_id=chat_id, message_id=message_id, reply_markup=markup
            )
        )
    except BadRequest as exc:
        # Pressing the same button twice changes nothing; Telegram says so. Fine.
        if "not modified" not in exc.message:
            raise


async def _with_retry(call: Callable[[], Awaitable[_T]]) -> _T:
    """``call()``, again after the wait Telegram asks for on 429 (at most twice)."""
    for attempt in range(3):
        try:
            return await call()
        except RetryAfter as exc:
            seconds = _retry_seconds(exc)
            if attempt == 2 or seconds > MAX_RETRY_AFTER:
                raise
            log.warning("flood control: retrying in %.0f s", seconds)
            await asyncio.sleep(seconds)
    raise AssertionError("unreachable")


def _retry_seconds(error: RetryAfter) -> float:
    # A timedelta with PTB_TIMEDELTA set (see bot.telegram), an int otherwise.
    wait = error.retry_after
    return wait.total_seconds() if isinstance(wait, timedelta) else float(wait)


async def mark_unreachable(services: Services, chat_id: int, error: Forbidden) -> None:
    """Telegram refuses messages to the chat (blocked, removed): mark it inactive."""
    log.info("chat %s is unreachable (%s): marked inactive", chat_id, error.message)
    await services.db(services.store.chats.set_active, chat_id, False, now=services.now())
