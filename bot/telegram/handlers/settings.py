"""One setting per command (``/topics`` ... ``/language``), ``/settings``, ``/pause``,
``/resume``, ``/stop``, and the buttons of the set-up and of those commands.

Every change goes through :func:`_editable`: the chat must be known (``/start``), the
sender allowed (:func:`~bot.telegram.conversation.may_change`), and a value typed or
carried by a button is validated again before it is stored.
"""

from __future__ import annotations

from telegram import InlineKeyboardMarkup, Update
from telegram.ext import ContextTypes

from bot.telegram import callbacks as cb
from bot.telegram import keyboards, render
from bot.telegram.choices import COUNTRIES, TOPICS, format_time, parse_time, parse_timezone
from bot.telegram.conversation import (
    MANAGING_KEY,
    Target,
    edit,
    language_of,
    load,
    may_change,
    reply,
)
from bot.telegram.digest_render import visible_text
from bot.telegram.services import Services
from storage.records import ChatSettings

# -- guards ---------------------------------------------------------------------------


async def _editable(
    update: Update, context: ContextTypes.DEFAULT_TYPE
) -> tuple[Services, Target, ChatSettings] | None:
    """The target and its settings when the sender may change them; else replies why."""
    services, target, chat = await load(update, context)
    if target is None or update.effective_chat is None:
        return None
    t = services.translator
    language = language_of(services, chat, update)
    if target.is_channel and update.effective_chat.id == target.id:
        await _refuse(update, context, t.text(language, "channel_setup"))
        return None
    if chat is None:
        await _refuse(update, context, t.text(language, "not_started"))
        return None
    if not await may_change(update, context, target):
        await _refuse(update, context, t.text(language, "admins_only"))
        return None
    return services, target, chat


async def _refuse(update: Update, context: ContextTypes.DEFAULT_TYPE, text: str) -> None:
    query = update.callback_query
    if query is not None:
        # An alert is plain text: markup such as <code> would show as typed.
        await query.answer(visible_text(text), show_alert=True)
    else:
        await reply(update, context, text)


def _argument(context: ContextTypes.DEFAULT_TYPE) -> str:
    return " ".join(context.args or []).strip()


# -- commands -------------------------------------------------------------------------


async def topics(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    found = await _editable(update, context)
    if found is None:
        return
    services, _target, chat = found
    t = services.translator
    await reply(
        update,
        context,
        t.text(chat.language, "topics_prompt"),
        keyboards.topics(t, chat, cb.SINGLE),
    )


async def countries(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    found = await _editable(update, context)
    if found is None:
        return
    services, _target, chat = found
    t = services.translator
    await reply(
        update,
        context,
        t.text(chat.language, "countries_prompt"),
        keyboards.countries(t, chat, cb.SINGLE),
    )


async def time_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """``/time`` shows the presets; ``/time 07:30`` sets any time."""
    found = await _editable(update, context)
    if found is None:
        return
    services, target, chat = found
    t = services.translator
    argument = _argument(context)
    if not argument:
        prompt = t.text(chat.language, "time_prompt", timezone=chat.timezone)
        await reply(update, context, prompt, keyboards.times(chat, cb.SINGLE))
        return
    chosen = parse_time(argument)
    if chosen is None:
        await reply(update, context, t.text(chat.language, "time_invalid", value=argument[:50]))
        return
    chat = await services.db(
        services.store.chats.update, target.id, delivery_time=chosen, now=services.now()
    )
    await reply(update, context, _time_saved(services, chat))


async def timezone(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """``/timezone`` shows the capitals; ``/timezone Asia/Tashkent`` sets any IANA zone."""
    found = await _editable(update, context)
    if found is None:
        return
    services, target, chat = found
    t = services.translator
    argument = _argument(context)
    if not argument:
        await reply(
            update, context, t.text(chat.language, "timezone_prompt"), keyboards.timezones(chat)
        )
        return
    zone = parse_timezone(argument)
    if zone is None:
        await reply(update, context, t.text(chat.language, "timezone_invalid", value=argument[:64]))
        return
    chat = await services.db(
        services.store.chats.update, target.id, timezone=zone, now=services.now()
    )
    await reply(update, context, _timezone_saved(services, chat))


async def language(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """``/language`` shows the languages; ``/language ru`` sets one."""
    found = await _editable(update, context)
    if found is None:
        return
    services, target, chat = found
    t = services.translator
    argument = _argument(context).lower()
    if not argument:
        await reply(
            update, context, t.text(chat.language, "language_prompt"), keyboards.languages(t, chat)
        )
        return
    if argument not in t.languages:
        await reply(update, context, t.text(chat.language, "language_invalid", value=argument[:20]))
        return
    chat = await services.db(
        services.store.chats.update, target.id, language=argument, now=services.now()
    )
    await reply(update, context, t.text(chat.language, "language_saved"))


async def show_settings(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """``/settings``: everything in one message; anyone in the chat may look."""
    services, _target, chat = await load(update, context)
    t = services.translator
    if chat is None:
        await reply(update, context, t.text(language_of(services, None, update), "not_started"))
        return
    await reply(update, context, render.settings(t, chat))


async def pause(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    found = await _editable(update, context)
    if found is None:
        return
    services, target, _chat = found
    chat = await services.db(
        services.store.chats.update, target.id, paused=True, now=services.now()
    )
    await reply(update, context, services.translator.text(chat.language, "paused"))


async def resume(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    found = await _editable(update, context)
    if found is None:
        return
    services, target, _chat = found
    chat = await services.db(
        services.store.chats.update, target.id, paused=False, now=services.now()
    )
    text = services.translator.text(
        chat.language, "resumed", time=format_time(chat.delivery_time), timezone=chat.timezone
    )
    await reply(update, context, text)


async def stop(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """``/stop`` asks first; the data goes only when the confirmation button is pressed."""
    found = await _editable(update, context)
    if found is None:
        return
    services, _target, chat = found
    t = services.translator
    await reply(
        update, context, t.text(chat.language, "stop_confirm"), keyboards.stop(t, chat.language)
    )


# -- buttons --------------------------------------------------------------------------


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Every settings button: validate the data, check the rights, apply, redraw."""
    query = update.callback_query
    if query is None:
        return
    data = cb.decode(query.data)
    found = await _editable(update, context)
    if found is None:
        return
    services, target, chat = found
    t = services.translator
    if data is None:
        await query.answer(t.text(chat.language, "stale_button"), show_alert=True)
        return
    action, mode, value = data.action, data.mode, data.value
    now = services.now()
    store = services.store.chats
    text: str | None = None
    markup: InlineKeyboardMarkup | None = None

    if action == cb.TOPIC and value in TOPICS:
        chosen = set(chat.topics) ^ {value}
        if not chosen:
            await query.answer(t.text(chat.language, "need_one_topic"), show_alert=True)
            return
        chat = await services.db(store.update, target.id, topics=chosen, now=now)
        text = t.text(chat.language, "step_topics" if mode == cb.SETUP else "topics_prompt")
        markup = keyboards.topics(t, chat, mode)
    elif action == cb.COUNTRY and (value in COUNTRIES or value == "all"):
        chosen = set(COUNTRIES) if value == "all" else set(chat.countries) ^ {value}
        if not chosen:
            await query.answer(t.text(chat.language, "need_one_country"), show_alert=True)
            return
        chat = await services.db(store.update, target.id, countries=chosen, now=now)
        text = t.text(chat.language, "step_countries" if mode == cb.SETUP else "countries_prompt")
        markup = keyboards.countries(t, chat, mode)
    elif action == cb.NEXT and value in ("topics", "countries"):
        if mode == cb.SETUP and value == "topics":
            text = t.text(chat.language, "step_countries")
            markup = keyboards.countries(t, chat, mode)
        elif mode == cb.SETUP:
            text = t.text(chat.language, "step_time", timezone=chat.timezone)
            markup = keyboards.times(chat, mode)
        elif value == "topics":
            text = t.text(
                chat.language,
                "topics_saved",
                topics=render.topic_list(t, chat.language, chat.topics),
            )
        else:
            text = t.text(
                chat.language,
                "countries_saved",
                countries=render.country_list(t, chat.language, chat.countries),
            )
    elif action == cb.TIME and (chosen_time := parse_time(value)) is not None:
        chat = await services.db(store.update, target.id, delivery_time=chosen_time, now=now)
        if mode == cb.SETUP:
            text = t.text(
                chat.language,
                "setup_done",
                time=format_time(chat.delivery_time),
                timezone=chat.timezone,
            )
        else:
            text = _time_saved(services, chat)
    elif action == cb.TIMEZONE and (zone := parse_timezone(value)) is not None:
        chat = await services.db(store.update, target.id, timezone=zone, now=now)
        text = _timezone_saved(services, chat)
    elif action == cb.LANGUAGE and value in t.languages:
        chat = await services.db(store.update, target.id, language=value, now=now)
        text = t.text(chat.language, "language_saved")
    elif action == cb.STOP and value in ("yes", "no"):
        if value == "yes":
            await services.db(store.delete, target.id)
            if context.user_data is not None and target.is_channel:
                context.user_data.pop(MANAGING_KEY, None)
            text = t.text(chat.language, "stopped")
        else:
            text = t.text(chat.language, "stop_cancelled")
    else:
        await query.answer(t.text(chat.language, "stale_button"), show_alert=True)
        return
    await query.answer()
    await edit(update, context, text, markup)


def _time_saved(services: Services, chat: ChatSettings) -> str:
    return services.translator.text(
        chat.language, "time_saved", time=format_time(chat.delivery_time), timezone=chat.timezone
    )


def _timezone_saved(services: Services, chat: ChatSettings) -> str:
    return services.translator.text(
        chat.language,
        "timezone_saved",
        timezone=chat.timezone,
        time=format_time(chat.delivery_time),
    )
