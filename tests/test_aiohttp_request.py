"""The Bot API over aiohttp: python-telegram-bot's calls, bodies, timeouts and errors,
against the fake Bot API on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from datetime import timedelta

import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut

from bot.fake_api import FakeBotApi, Fault
from bot.telegram.aiohttp_request import AiohttpRequest
from bot.telegram.digest_delivery import delivery_bot
from jobs.digest.ratelimit import connections_for


@pytest.fixture
def api() -> Iterator[FakeBotApi]:
    with FakeBotApi() as server:
        server.add_user(42, language_code="ru")
        yield server


def make_bot(api: FakeBotApi, request: AiohttpRequest) -> Bot:
    return Bot(api.token, base_url=f"{api.base_url}/bot", request=request)


def test_messages_go_as_json_and_answers_come_back_as_messages(api: FakeBotApi) -> None:
    text = "<b>Новости</b> &amp; " + "Казахстан, энергетика. " * 100
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("Настройки", callback_data="d:s:x")]])

    async def send() -> str | None:
        async with make_bot(api, AiohttpRequest(4)) as bot:
            message = await bot.send_message(
                42, text, parse_mode=ParseMode.HTML, reply_markup=markup
            )
            return message.text

    shown = asyncio.run(send())
    assert shown is not None
    assert shown.startswith("Новости & Казахстан")
    [call] = api.calls("sendMessage")
    # A JSON body keeps the types: a form would have sent the chat id as "42" and the
    # keyboard as a string.
    assert call["chat_id"] == 42
    assert call["reply_markup"] == {
        "inline_keyboard": [[{"text": "Настройки", "callback_data": "d:s:x"}]]
    }
    assert api.messages(42)[-1].text == shown


def test_files_go_as_multipart(api: FakeBotApi) -> None:
    content = b"country,articles\nkz,120\nuz,95\n"

    async def send() -> tuple[str | None, int | None]:
        async with make_bot(api, AiohttpRequest(4)) as bot:
            message = await bot.send_document(
                42, document=content, filename="weekly.csv", caption="Неделя"
            )
            assert message.document is not None
            return message.document.file_name, message.document.file_size

    assert asyncio.run(send()) == ("weekly.csv", len(content))
    sent = api.messages(42)[-1]
    assert (sent.text, sent.content) == ("Неделя", content)


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (Fault("sendMessage", 429, "Too Many Requests: retry after 3", retry_after=3), RetryAfter),
        (Fault("sendMessage", 403, "Forbidden: bot was blocked by the user"), Forbidden),
        (Fault("sendMessage", 400, "Bad Request: can't parse entities: x"), BadRequest),
        (Fault("sendMessage", 502, "Bad Gateway"), NetworkError),
    ],
)
def test_error_answers_become_telegram_errors(
    api: FakeBotApi, fault: Fault, error: type[Exception]
) -> None:
    api.fail(fault)

    async def send() -> None:
        async with make_bot(api, AiohttpRequest(4)) as bot:
            await bot.send_message(42, "hello")

    with pytest.raises(error) as raised:
        asyncio.run(send())
    if isinstance(raised.value, RetryAfter):
        wait = raised.value.retry_after
        assert (wait.total_seconds() if isinstance(wait, timedelta) else wait) == 3


def test_an_unanswered_request_times_out(api: FakeBotApi) -> None:
    api.fail(Fault("sendMessage", hang=True))

    async def send() -> None:
        async with make_bot(api, AiohttpRequest(4, read_timeout=10)) as bot:
            await bot.send_message(42, "hello", read_timeout=0.3)

    with pytest.raises(TimedOut):
        asyncio.run(send())


def test_waiting_for_a_busy_connection_is_the_pool_timeout(api: FakeBotApi) -> None:
    api.fail(Fault("sendMessage", hang=True))

    async def send() -> None:
        request = AiohttpRequest(1, read_timeout=30, pool_timeout=0.2)
        async with make_bot(api, request) as bot:
            held = asyncio.create_task(bot.send_message(42, "first"))
            await asyncio.to_thread(api.wait_for, lambda: len(api.calls("sendMessage")) == 1)
            try:
                with pytest.raises(TimedOut, match="Pool timeout"):
                    await bot.send_message(42, "second")
            finally:
                held.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await held

    asyncio.run(send())
    # The second message never left: only the held one reached the server.
    assert [call["text"] for call in api.calls("sendMessage")] == ["first"]


def test_a_refused_connection_is_a_network_error_not_a_timeout() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Nothing listens on the port now: the connection is refused at once.

    async def call() -> None:
        request = AiohttpRequest(2, connect_timeout=5)
        await request.initialize()
        try:
            await request.post(f"http://127.0.0.1:{port}/bot123:abc/getMe")
        finally:
            await request.shutdown()

    with pytest.raises(NetworkError) as raised:
        asyncio.run(call())
    assert not isinstance(raised.value, TimedOut)


def test_requests_need_an_initialized_session_and_shutdown_is_idempotent(
    api: FakeBotApi,
) -> None:
    request = AiohttpRequest(2)

    async def cycle() -> None:
        await request.initialize()
        await request.initialize()
        answer = await request.post(f"{api.base_url}/bot{api.token}/getMe")
        assert isinstance(answer, dict)
        assert answer["username"] == "steppe_digest_bot"
        await request.shutdown()
        await request.shutdown()
        with pytest.raises(NetworkError, match="not initialized"):
            await request.post(f"{api.base_url}/bot{api.token}/getMe")

    asyncio.run(cycle())


def test_the_delivery_bot_has_the_connections_its_rate_needs(api: FakeBotApi) -> None:
    bot = delivery_bot(api.token, api.base_url, per_second=1000)
    request = bot.request
    assert isinstance(request, AiohttpRequest)
    assert request.connections == connections_for(1000)

    async def hello() -> str | None:
        async with bot:
            return (await bot.get_me()).username

    assert asyncio.run(hello()) == "steppe_digest_bot"


def test_connections_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        AiohttpRequest(0)
