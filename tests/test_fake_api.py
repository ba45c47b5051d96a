"""The fake Bot API answers like Telegram: envelope, auth, validation, long polling, faults."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from bot.fake_api import FakeBotApi, Fault, MarkupError, parse_html
from bot.fake_api.server import FloodControl


@pytest.fixture
def api() -> Iterator[FakeBotApi]:
    with FakeBotApi() as server:
        server.add_user(42)
        yield server


def call(
    api: FakeBotApi, method: str, *, token: str | None = None, **params: Any
) -> httpx.Response:
    form = {k: json.dumps(v) if isinstance(v, dict | list) else str(v) for k, v in params.items()}
    return httpx.post(f"{api.base_url}/bot{token or api.token}/{method}", data=form, timeout=10)


def test_only_the_servers_token_is_accepted(api: FakeBotApi) -> None:
    response = call(api, "getMe", token="123:wrong")
    assert (response.status_code, response.json()) == (
        401,
        {"ok": False, "error_code": 401, "description": "Unauthorized"},
    )
    me = call(api, "getMe").json()
    assert me["ok"]
    assert me["result"]["username"] == "steppe_digest_bot"


def test_json_bodies_work_as_form_bodies(api: FakeBotApi) -> None:
    response = httpx.post(
        f"{api.base_url}/bot{api.token}/sendMessage", json={"chat_id": 42, "text": "hi"}
    )
    assert response.json()["result"]["text"] == "hi"
    assert api.next_message(42, timeout=1).text == "hi"


@pytest.mark.parametrize(
    ("text", "description"),
    [
        ("<b>unclosed", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<script>x</script>", 'Unsupported start tag "script"'),
        ("a < b", "Unsupported start tag"),
        ("&nbsp;", 'Unsupported HTML entity "&nbsp;"'),
        ("<b><i>x</b></i>", "Unexpected end tag"),
        ('<a href="u" onclick="x">y</a>', 'Unsupported attribute "onclick"'),
    ],
)
def test_html_is_validated_like_telegram(api: FakeBotApi, text: str, description: str) -> None:
    response = call(api, "sendMessage", chat_id=42, text=text, parse_mode="HTML")
    assert response.status_code == 400
    assert description in response.json()["description"]
    assert api.messages(42) == []


def test_text_limits_count_what_the_user_reads(api: FakeBotApi) -> None:
    markup = "<b>" + "x" * 4096 + "</b>"  # 4103 characters sent, 4096 shown: accepted
    assert call(api, "sendMessage", chat_id=42, text=markup, parse_mode="HTML").status_code == 200
    too_long = call(api, "sendMessage", chat_id=42, text="&amp;" * 4097, parse_mode="HTML")
    assert too_long.json()["description"] == "Bad Request: message is too long"
    empty = call(api, "sendMessage", chat_id=42, text="<b> </b>", parse_mode="HTML")
    assert empty.json()["description"] == "Bad Request: message text is empty"


def test_callback_data_is_limited_to_64_bytes(api: FakeBotApi) -> None:
    def keyboard(data: str) -> dict[str, Any]:
        return {"inline_keyboard": [[{"text": "b", "callback_data": data}]]}

    ok = call(api, "sendMessage", chat_id=42, text="t", reply_markup=keyboard("ж" * 32))
    assert ok.status_code == 200
    bad = call(api, "sendMessage", chat_id=42, text="t", reply_markup=keyboard("ж" * 33))
    assert bad.json()["description"] == "Bad Request: BUTTON_DATA_INVALID"


def test_long_poll_returns_when_a_user_writes_and_offsets_confirm(api: FakeBotApi) -> None:
    answers: list[dict[str, Any]] = []
    poller = threading.Thread(
        target=lambda: answers.append(call(api, "getUpdates", timeout=10).json())
    )
    poller.start()
    api.wait_for(lambda: bool(api.calls("getUpdates")))
    api.send(42, "/start")
    poller.join(timeout=10)
    [update] = answers[0]["result"]
    assert update["message"]["text"] == "/start"
    assert update["message"]["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]
    again = call(api, "getUpdates", offset=update["update_id"] + 1, timeout=0).json()
    assert again == {"ok": True, "result": []}


def test_faults_are_injected_per_method_and_chat(api: FakeBotApi) -> None:
    api.add_user(43)
    api.fail(
        Fault(
            "sendMessage",
            error_code=429,
            description="Too Many Requests: retry after 3",
            retry_after=3,
            chat_id=43,
        )
    )
    assert call(api, "sendMessage", chat_id=42, text="a").status_code == 200
    limited = call(api, "sendMessage", chat_id=43, text="a")
    assert limited.status_code == 429
    assert limited.json()["parameters"] == {"retry_after": 3}
    assert call(api, "sendMessage", chat_id=43, text="a").status_code == 200  # used up


def test_a_blocked_user_cannot_be_written_to(api: FakeBotApi) -> None:
    api.block(42)
    response = call(api, "sendMessage", chat_id=42, text="hello")
    assert (response.status_code, response.json()["description"]) == (
        403,
        "Forbidden: bot was blocked by the user",
    )


def test_edits_commands_and_callback_answers(api: FakeBotApi) -> None:
    sent = call(api, "sendMessage", chat_id=42, text="one").json()["result"]
    same = call(api, "editMessageText", chat_id=42, message_id=sent["message_id"], text="one")
    assert "message is not modified" in same.json()["description"]
    call(api, "editMessageText", chat_id=42, message_id=sent["message_id"], text="two")
    assert [m.text for m in api.messages(42)] == ["two"]
    missing = call(api, "editMessageText", chat_id=42, message_id=99, text="x")
    assert missing.json()["description"] == "Bad Request: message to edit not found"

    commands = [{"command": "start", "description": "Начать"}]
    call(api, "setMyCommands", commands=commands, language_code="ru")
    assert api.commands(language_code="ru") == commands
    assert api.commands() == []

    query_id = api.press(42, sent["message_id"], "tp:s:energy")
    assert call(api, "answerCallbackQuery", callback_query_id=query_id, text="ok").json()["ok"]
    assert api.callback_answer(query_id)["text"] == "ok"
    twice = call(api, "answerCallbackQuery", callback_query_id=query_id)
    assert "query is too old" in twice.json()["description"]


def test_markup_parser_decodes_entities() -> None:
    assert parse_html("<b>a</b> &lt;&amp;&gt; &#1046;&#x416; R&D") == "a <&> ЖЖ R&D"
    with pytest.raises(MarkupError):
        parse_html("</b>")


def test_a_hanging_request_times_out_the_client_and_closing_releases_it(api: FakeBotApi) -> None:
    api.fail(Fault("sendMessage", hang=True))
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            f"{api.base_url}/bot{api.token}/sendMessage",
            data={"chat_id": "42", "text": "x"},
            timeout=httpx.Timeout(10, read=0.3),
        )
    assert api.messages(42) == []
    api.close()  # the held handler wakes up; nothing is left running


def test_webhook_and_get_updates_exclude_each_other(api: FakeBotApi) -> None:
    assert call(api, "setWebhook", url="https://bot.example/hook").json()["result"] is True
    conflict = call(api, "getUpdates", timeout=0)
    assert conflict.status_code == 409
    assert call(api, "getWebhookInfo").json()["result"]["url"] == "https://bot.example/hook"
    call(api, "deleteWebhook")
    assert call(api, "getUpdates", timeout=0).json() == {"ok": True, "result": []}


def test_flood_control_allows_the_rate_and_refuses_beyond_it() -> None:
    flood = FloodControl(4, now=100.0)
    # One second's allowance at once, then refused with a whole-second retry_after.
    assert [flood.take(100.0) for _ in range(4)] == [None] * 4
    assert flood.take(100.0) == 1
    assert flood.take(100.2) == 1  # 0.8 of a message earned back: not enough
    assert flood.take(100.25) is None  # a quarter of a second buys one message
    # Evenly spaced at the rate, jittered on the way: never refused.
    jitter = [0.0, 0.09, -0.05, 0.11, -0.1, 0.02]
    arrivals = [101.0 + n / 4 + jitter[n % len(jitter)] for n in range(40)]
    assert all(flood.take(at) is None for at in sorted(arrivals))
    with pytest.raises(ValueError, match="positive"):
        FloodControl(0, now=0.0)


def test_an_overall_rate_limit_answers_429_like_telegram() -> None:
    # 2 a second: a burst of more is refused long before a token comes back.
    with FakeBotApi(messages_per_second=2) as limited:
        limited.add_user(42)
        codes = [call(limited, "sendMessage", chat_id=42, text="x").status_code for _ in range(3)]
        assert codes == [200, 200, 429]
        refused = call(limited, "sendMessage", chat_id=42, text="x").json()
        assert refused == {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests: retry after 1",
            "parameters": {"retry_after": 1},
        }
        assert call(limited, "getMe").status_code == 200  # only messages are counted
        assert limited.throttled == 2
        assert len(limited.messages(42)) == 2


def test_there_is_no_overall_limit_unless_asked(api: FakeBotApi) -> None:
    codes = {call(api, "sendMessage", chat_id=42, text="x").status_code for _ in range(50)}
    assert codes == {200}
    assert api.throttled == 0
