"""The bot's side of digest delivery: rendering for the dispatcher, and sending.

:class:`DigestComposer` and :class:`BotSender` implement the dispatcher's
:class:`~jobs.digest.dispatch.Composer` and :class:`~jobs.digest.policy.Sender` with
the catalogs and python-telegram-bot; :func:`delivery_bot` makes a :class:`telegram.Bot`
whose HTTP connections (aiohttp) are sized for the configured sending rate.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any, Final

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
)

from bot.i18n import Translator
from bot.telegram import callbacks as cb
from bot.telegram.aiohttp_request import AiohttpRequest
from bot.telegram.digest_render import plain_text, render_digest
from jobs.digest.policy import SENT, Outcome, OutcomeKind
from jobs.digest.ratelimit import connections_for
from jobs.digest.selection import Digest
from storage.records import ChatSettings

log = logging.getLogger(__name__)

#: Telegram's description of markup it cannot read (a 400).
_BAD_MARKUP = "can't parse entities"
#: 400 answers that mean the chat is gone for good, like a 403.
_GONE = ("chat not found", "group chat was upgraded", "chat_write_forbidden")
#: ``LinkPreviewOptions(is_disabled=True)``, serialised once.
_NO_PREVIEW: Final = {"is_disabled": True}


class DigestComposer:
    """Renders digests with the catalogs (see :mod:`bot.telegram.digest_render`)."""

    def __init__(self, translator: Translator) -> None:
        self._t = translator

    def compose(self, chat: ChatSettings, digest: Digest) -> list[str]:
        return render_digest(self._t, chat, digest)


def footer(t: Translator, language: str) -> InlineKeyboardMarkup:
    """The buttons under a digest's last message: settings, pause."""
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    t.text(language, "button_digest_settings"),
                    callback_data=cb.encode(cb.DIGEST, cb.SINGLE, "settings"),
                ),
                InlineKeyboardButton(
                    t.text(language, "button_digest_pause"),
                    callback_data=cb.encode(cb.DIGEST, cb.SINGLE, "pause"),
                ),
            ]
        ]
    )


class BotSender:
    """Sends digest messages through the Bot API; every answer becomes an Outcome."""

    def __init__(self, bot: Bot, translator: Translator) -> None:
        self._bot = bot
        self._t = translator
        self._footers: dict[str, dict[str, Any]] = {}

    def _footer(self, language: str) -> dict[str, Any]:
        """The footer's markup as the JSON object it is sent as, made once a language."""
        markup = self._footers.get(language)
        if markup is None:
            markup = self._footers[language] = footer(self._t, language).to_dict()
        return markup

    async def send(
        self, chat_id: int, text: str, *, plain: bool, footer_language: str | None
    ) -> Outcome:
        data: dict[str, Any] = {
            "chat_id": chat_id,
            "text": plain_text(text) if plain else text,
            "link_preview_options": _NO_PREVIEW,
        }
        if not plain:
            data["parse_mode"] = ParseMode.HTML.value
        if footer_language:
            data["reply_markup"] = self._footer(footer_language)
        try:
            # What ``bot.send_message`` sends, through the same request and error
            # mapping, but the answer is not turned into a Message: nothing here reads
            # it, and python-telegram-bot's ``Message.de_json`` of a 3 KB digest costs
            # about a third of a millisecond, a quarter of the fan-out's CPU a message.
            await self._bot._post("sendMessage", data)
        except RetryAfter as exc:
            wait = exc.retry_after
            seconds = wait.total_seconds() if isinstance(wait, timedelta) else float(wait)
            return Outcome(OutcomeKind.FLOOD, exc.message, retry_after=seconds)
        except ChatMigrated as exc:
            return Outcome(OutcomeKind.MIGRATED, exc.message, moved_to=int(exc.new_chat_id))
        except Forbidden as exc:
            return Outcome(OutcomeKind.UNREACHABLE, exc.message)
        except BadRequest as exc:
            message = exc.message.lower()
            if _BAD_MARKUP in message:
                return Outcome(OutcomeKind.BAD_MARKUP, exc.message)
            if any(gone in message for gone in _GONE):
                return Outcome(OutcomeKind.UNREACHABLE, exc.message)
            return Outcome(OutcomeKind.REJECTED, exc.message)
        except NetworkError as exc:  # timeouts, connection errors, 5xx
            return Outcome(OutcomeKind.TRANSIENT, exc.message or type(exc).__name__)
        except TelegramError as exc:
            return Outcome(OutcomeKind.REJECTED, exc.message)
        return SENT


def delivery_bot(
    token: str, base_url: str, *, per_second: float, read_timeout: float = 10.0
) -> Bot:
    """A Bot for sending digests over aiohttp (:class:`~bot.telegram.aiohttp_request
    .AiohttpRequest`), with as many connections as the rate needs
    (:func:`jobs.digest.ratelimit.connections_for`); not initialised yet."""
    request = AiohttpRequest(
        connections_for(per_second),
        read_timeout=read_timeout,
        write_timeout=read_timeout,
        connect_timeout=read_timeout,
        pool_timeout=read_timeout,
    )
    return Bot(token, base_url=f"{base_url.rstrip('/')}/bot", request=request)


__all__ = ["BotSender", "DigestComposer", "delivery_bot", "footer", "log"]
