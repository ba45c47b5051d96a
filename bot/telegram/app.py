"""The python-telegram-bot application: every handler registered here, in one place.

All handlers share one group, where the first that matches an update takes it: the
features' commands and buttons first, then the fallbacks (an unknown command, a button
nobody recognises), so a fallback never answers an update a feature took. One error
handler covers them all.
"""

from __future__ import annotations

from typing import Final

from telegram import BotCommand, LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    Defaults,
    MessageHandler,
    filters,
)

from bot.i18n import DEFAULT_LANGUAGE
from bot.telegram import callbacks as cb
from bot.telegram.handlers import archive, digest, fallback, onboarding, operators, settings
from bot.telegram.services import SERVICES_KEY, Services

#: Commands shown in Telegram's menu, in this order (the operators' are not listed).
MENU: Final = (
    "start",
    "topics",
    "countries",
    "time",
    "timezone",
    "language",
    "settings",
    "find",
    "digest",
    "sources",
    "pause",
    "resume",
    "stop",
    "help",
)

_COMMANDS: Final = {
    "start": onboarding.start,
    "help": onboarding.help_command,
    "channel": onboarding.channel,
    "topics": settings.topics,
    "countries": settings.countries,
    "time": settings.time_command,
    "timezone": settings.timezone,
    "language": settings.language,
    "settings": settings.show_settings,
    "pause": settings.pause,
    "resume": settings.resume,
    "stop": settings.stop,
    "find": archive.find,
    "digest": digest.digest_now,
    "sources": archive.sources,
    "stats": operators.stats,
    "collect": operators.collect,
}

#: New messages and channel posts; edits of old messages are not commands again.
_NEW_MESSAGES: Final = filters.UpdateType.MESSAGE | filters.UpdateType.CHANNEL_POST


def build_application(
    services: Services,
    *,
    token: str,
    api_base_url: str = "https://api.telegram.org",
    poll_timeout: float = 10.0,
) -> Application:  # type: ignore[type-arg]
    """The bot, ready to run; ``api_base_url`` may point at a self-hosted Bot API server."""
    root = api_base_url.rstrip("/")
    builder: ApplicationBuilder = (  # type: ignore[type-arg]
        Application.builder()
        .token(token)
        .base_url(f"{root}/bot")
        .base_file_url(f"{root}/file/bot")
        .defaults(
            Defaults(
                parse_mode=ParseMode.HTML,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
        )
        # A long poll's read must outlast the poll itself.
        .get_updates_read_timeout(poll_timeout + 10)
        .post_init(_post_init)
    )
    application = builder.build()
    application.bot_data[SERVICES_KEY] = services
    register_handlers(application)
    return application


def register_handlers(application: Application) -> None:  # type: ignore[type-arg]
    """Every handler of the bot."""
    # Commands work in private chats, groups (also as /cmd@bot) and channel posts.
    for name, callback in _COMMANDS.items():
        application.add_handler(CommandHandler(name, callback, filters=_NEW_MESSAGES))
    application.add_handler(CallbackQueryHandler(archive.more, pattern=f"^{cb.FIND}:"))
    application.add_handler(CallbackQueryHandler(digest.on_footer, pattern=f"^{cb.DIGEST}:"))
    settings_actions = "|".join(
        sorted({cb.TOPIC, cb.COUNTRY, cb.TIME, cb.TIMEZONE, cb.LANGUAGE, cb.NEXT, cb.STOP})
    )
    application.add_handler(
        CallbackQueryHandler(settings.on_button, pattern=f"^({settings_actions}):")
    )
    application.add_handler(
        ChatMemberHandler(onboarding.membership, ChatMemberHandler.MY_CHAT_MEMBER)
    )
    application.add_handler(MessageHandler(filters.StatusUpdate.MIGRATE, onboarding.migrated))
    application.add_handler(
        MessageHandler(filters.COMMAND & _NEW_MESSAGES, fallback.unknown_command)
    )
    application.add_handler(CallbackQueryHandler(fallback.stale_button))
    application.add_error_handler(fallback.on_error)


async def _post_init(application: Application) -> None:  # type: ignore[type-arg]
    """Register the command menu with Telegram in every language that has it."""
    t = services_of_application(application).translator
    for language in t.languages:
        if not all(t.has(language, f"command_{name}") for name in MENU):
            continue  # a partial catalog: Telegram shows the default (English) menu
        commands = [BotCommand(name, t.text(language, f"command_{name}")) for name in MENU]
        code = None if language == DEFAULT_LANGUAGE else language
        await application.bot.set_my_commands(commands, language_code=code)


def services_of_application(application: Application) -> Services:  # type: ignore[type-arg]
    services = application.bot_data[SERVICES_KEY]
    if not isinstance(services, Services):
        raise TypeError("bot_data['services'] is not set up")
    return services
