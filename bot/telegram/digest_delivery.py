"""The bot's side of digest delivery: rendering for the dispatcher, and sending.

:class:`DigestComposer` and :class:`BotSender` implement the dispatcher's
:class:`~jobs.digest.dispatch.Composer` and :class:`~jobs.digest.policy.Sender` with
the catalogs and python-telegram-bot; :func:`delivery_bot` makes a :class:`telegram.Bot`
whose HTTP connection pool is sized for the configured sending rate.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.request import HTTPXRequest

from bot.i18n import Translator
from bot.telegram import callbacks as cb
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

    async def send(
        self, chat_id: int, text: str, *, plain: bool, footer_language: str | None
    ) -> Outcome:
        markup = footer(self._t, footer_language) if footer_language else None
        try:
            await self._bot.send_message(
                chat_id,
                plain_text(text) if plain else text,
                parse_mode=None if plain else ParseMode.HTML,
                reply_markup=markup,
                disable_web_page_preview=True,
            )
        except RetryAfter as exc:
            wait = exc.retry_after
            seconds = wait.total_seconds() if isinstance(wait, timedelta) else float(wait)
            return Outcome(OutcomeKind.FLOOD, exc.message, retry_after=seconds)
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
    """A Bot for sending digests, with as many pooled connections as the rate needs
    (:func:`jobs.digest.ratelimit.connections_for`); not initialised yet."""
    size = connections_for(per_second)
    request = HTTPXRequest(
        connection_pool_size=size,
        read_timeout=read_timeout,
        write_timeout=read_timeout,
        connect_timeout=read_timeout,
        pool_timeout=read_timeout,
    )
    return Bot(token, base_url=f"{base_url.rstrip('/')}/bot", request=request)


__all__ = ["BotSender", "DigestComposer", "delivery_bot", "footer", "log"]
