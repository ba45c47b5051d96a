"""The fake Bot API: an HTTP server on loopback plus the handles that play the users.

:class:`FakeBotApi` listens on ``127.0.0.1`` (a free port) in a background thread. The
bot under test talks to it over HTTP exactly as to ``api.telegram.org``; the test (or
the demo's terminal chat) calls its methods to act as users and to read what each chat
received::

    with FakeBotApi() as api:
        api.add_user(42, language_code="ru")
        ... start the bot with base_url=api.base_url, token=api.token ...
        api.send(42, "/start")
        reply = api.next_message(42)          # waits on a condition, never sleeps

Only the server's own token is accepted (401 otherwise). Faults are injected per method
and optionally per chat with :meth:`FakeBotApi.fail` (429 with retry_after, 403, 5xx,
or a request held until the server closes). ``FakeBotApi(messages_per_second=L)``
enforces an overall sending limit as Telegram's flood control does (429 with
``retry_after``; see :class:`FloodControl`). Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import secrets
import socket
import threading
import time
import traceback
from collections import defaultdict, deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, ClassVar, Self
from urllib.parse import parse_qsl, urlsplit

import httpx
from aiohttp import web

from bot.fake_api.html import MarkupError, parse_html

#: Telegram's limits, as the real server enforces them.
MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA_BYTES = 64
#: Longest a getUpdates long poll may ask to wait (Telegram allows 50 s).
MAX_POLL_TIMEOUT = 50.0

JsonObject = dict[str, Any]


class ApiError(Exception):
    """A Bot API error answer: ``error_code`` and Telegram's ``description``."""

    def __init__(
        self,
        code: int,
        description: str,
        retry_after: int | None = None,
        *,
        migrate_to_chat_id: int | None = None,
    ) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.retry_after = retry_after
        self.migrate_to_chat_id = migrate_to_chat_id


@dataclass
class Fault:
    """An injected failure: the next ``times`` calls of ``method`` (for ``chat_id``,
    or any chat when ``None``) fail with ``error_code``; ``hang`` holds the request
    unanswered until the server closes instead."""

    method: str
    error_code: int = 500
    description: str = "Internal Server Error"
    retry_after: int | None = None
    chat_id: int | None = None
    times: int = 1
    hang: bool = False


class FloodControl:
    """Telegram's overall sending limit: at most ``per_second`` messages a second.

    Telegram does not publish its algorithm; this is the usual one, a token bucket of
    one second's worth of messages refilled at ``per_second``. A sender that keeps to
    the rate is never refused, however its requests jitter on the way; one that goes
    faster is refused as soon as its one-second allowance is spent. No clock inside:
    ``now`` (seconds, monotonic) is passed in.
    """

    def __init__(self, per_second: float, now: float) -> None:
        if per_second <= 0:
            raise ValueError(f"messages_per_second must be positive, got {per_second}")
        self.per_second = per_second
        # A rate under one a second still lets one message through now and then.
        self._capacity = max(per_second, 1.0)
        self._tokens = self._capacity
        self._at = now

    def take(self, now: float) -> int | None:
        """Let one message through (``None``), or the whole seconds to wait (>= 1, as
        Telegram's ``retry_after`` is) when the allowance is spent."""
        self._tokens = min(self._capacity, self._tokens + (now - self._at) * self.per_second)
        self._at = max(self._at, now)
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return None
        return max(1, math.ceil((1.0 - self._tokens) / self.per_second))


@dataclass
class BotMessage:
    """A message the bot sent, as the chat shows it now (after any edits)."""

    chat_id: int
    message_id: int
    html: str
    """The text as the bot sent it (with markup)."""
    text: str
    """What the user reads: markup removed, entities decoded."""
    buttons: list[list[JsonObject]]
    """Inline keyboard rows (``text`` and ``callback_data`` or ``url``), or empty."""
    edits: int = 0
    document: JsonObject | None = None
    """A file sent with ``sendDocument``: Telegram's Document (name, type, size)."""
    content: bytes | None = None
    """That file's bytes, as uploaded."""

    def button(self, label: str) -> JsonObject:
        """The button whose text contains ``label`` (first one); AssertionError if none."""
        for row in self.buttons:
            for button in row:
                if label in button["text"]:
                    return button
        labels = [button["text"] for row in self.buttons for button in row]
        raise AssertionError(f"no button {label!r} in {labels}")

    @property
    def button_labels(self) -> list[str]:
        return [button["text"] for row in self.buttons for button in row]


@dataclass(frozen=True)
class Event:
    """Something the bot did to a chat: ``kind`` is ``sent`` or ``edited``."""

    kind: str
    message: BotMessage


@dataclass
class _Chat:
    id: int
    type: str
    title: str | None = None
    username: str | None = None
    admins: set[int] = field(default_factory=set)
    members: set[int] = field(default_factory=set)
    bot_status: str = "member"
    """The bot's own status here: ``member``, ``administrator``, ``left``, ``kicked``."""
    migrated_to: int | None = None
    """The supergroup this group became (its messages go there now)."""

    def as_json(self, users: Mapping[int, JsonObject]) -> JsonObject:
        if self.type == "private":
            user = users.get(self.id, {})
            chat: JsonObject = {"id": self.id, "type": "private"}
            chat["first_name"] = user.get("first_name", "User")
            if user.get("username"):
                chat["username"] = user["username"]
            return chat
        chat = {"id": self.id, "type": self.type, "title": self.title or str(self.id)}
        if self.username:
            chat["username"] = self.username
        return chat


class FakeBotApi:
    """The server and its scripted world of users, chats and faults. Thread-safe."""

    def __init__(
        self,
        *,
        bot_username: str = "steppe_digest_bot",
        bot_id: int = 7000001,
        messages_per_second: float | None = None,
    ) -> None:
        """``messages_per_second``: refuse ``sendMessage`` calls beyond this overall
        rate with 429 and ``retry_after``, as Telegram does (None: no limit)."""
        self.token = f"{bot_id}:{secrets.token_urlsafe(26)}"
        self.bot_user: JsonObject = {
            "id": bot_id,
            "is_bot": True,
            "first_name": "Steppe Digest",
            "username": bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }
        self._lock = threading.Condition()
        self._closed = False
        self._users: dict[int, JsonObject] = {}
        self._chats: dict[int, _Chat] = {}
        self._updates: deque[JsonObject] = deque()
        self._update_ids = itertools.count(1)
        self._message_ids: dict[int, Iterator[int]] = defaultdict(lambda: itertools.count(1))
        self._messages: dict[tuple[int, int], BotMessage] = {}
        self._events: dict[int, deque[Event]] = defaultdict(deque)
        self._callbacks: dict[str, JsonObject | None] = {}
        """Open callback query ids -> the answer (None until answered)."""
        self._callback_ids = itertools.count(1)
        self._commands: dict[tuple[str, str], list[JsonObject]] = {}
        self._faults: list[Fault] = []
        self._flood = (
            None
            if messages_per_second is None
            else FloodControl(messages_per_second, time.monotonic())
        )
        self.throttled = 0
        """``sendMessage`` calls refused by the overall limit (``messages_per_second``)."""
        self._webhook: JsonObject | None = None
        """setWebhook's url and secret_token while a webhook is set."""
        self._delivery: threading.Thread | None = None
        self.requests: list[tuple[str, JsonObject]] = []
        """Every authorised call: (method, parameters), in arrival order."""
        self._server = _Server(self)

    # -- life cycle ------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """Root URL of the server, e.g. ``http://127.0.0.1:PORT`` (no ``/bot``)."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def close(self) -> None:
        """Stop serving; wakes every waiting long poll and held request."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._lock.notify_all()
        self._server.close()
        if self._delivery is not None:
            self._delivery.join(timeout=10)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- the world: users and chats -------------------------------------------------

    def add_user(
        self,
        user_id: int,
        *,
        first_name: str = "Aigerim",
        language_code: str | None = "en",
        username: str | None = None,
    ) -> JsonObject:
        """A Telegram user with a private chat with the bot (chat id = user id)."""
        user: JsonObject = {"id": user_id, "is_bot": False, "first_name": first_name}
        if language_code:
            user["language_code"] = language_code
        if username:
            user["username"] = username
        with self._lock:
            self._users[user_id] = user
            self._chats[user_id] = _Chat(id=user_id, type="private")
        return user

    def add_group(
        self,
        chat_id: int,
        *,
        title: str = "Tech Almaty",
        admins: set[int] | frozenset[int] = frozenset(),
        members: set[int] | frozenset[int] = frozenset(),
        kind: str = "supergroup",
        username: str | None = None,
    ) -> None:
        """A group (``kind`` ``group``/``supergroup``) or a ``channel`` with the bot in it."""
        with self._lock:
            self._chats[chat_id] = _Chat(
                id=chat_id,
                type=kind,
                title=title,
                username=username,
                admins=set(admins),
                members=set(members) | set(admins),
                bot_status="administrator" if kind == "channel" else "member",
            )

    def upgrade_group(self, chat_id: int, new_id: int, *, by: int) -> None:
        """User ``by`` turns group ``chat_id`` into a supergroup, which gets ``new_id``.

        As in Telegram: the old group gets a service message with
        ``migrate_to_chat_id``, the new supergroup one with ``migrate_from_chat_id``,
        and sending to the old id is refused with ``migrate_to_chat_id``.
        """
        with self._lock:
            old = self._chat(chat_id)
            new = _Chat(
                id=new_id,
                type="supergroup",
                title=old.title,
                username=old.username,
                admins=set(old.admins),
                members=set(old.members),
                bot_status=old.bot_status,
            )
            self._chats[new_id] = new
            old.migrated_to = new_id
            for chat, key, value in (
                (old, "migrate_to_chat_id", new_id),
                (new, "migrate_from_chat_id", chat_id),
            ):
                self._push(
                    {
                        "message": {
                            "message_id": next(self._message_ids[chat.id]),
                            "date": _unix_now(),
                            "chat": chat.as_json(self._users),
                            "from": self._user(by),
                            key: value,
                        }
                    }
                )

    # -- playing the users ----------------------------------------------------------

    def send(self, chat_id: int, text: str, *, user_id: int | None = None) -> int:
        """A user writes ``text`` in a chat (a private chat: that user); returns its id.

        Commands get the ``bot_command`` entity Telegram adds. In a channel the post has
        no sender, as in Telegram.
        """
        with self._lock:
            chat = self._chat(chat_id)
            sender = user_id if user_id is not None else chat_id
            message = self._incoming(chat, text, sender)
            key = "channel_post" if chat.type == "channel" else "message"
            self._push({key: message})
            return int(message["message_id"])

    def press(self, chat_id: int, message_id: int, data: str, *, user_id: int | None = None) -> str:
        """A user presses an inline button carrying ``data``; returns the query id.

        ``data`` need not be on the message: that is how a test forges button data.
        """
        with self._lock:
            chat = self._chat(chat_id)
            sender = user_id if user_id is not None else chat_id
            shown = self._messages.get((chat_id, message_id))
            message: JsonObject = {
                "message_id": message_id,
                "date": _unix_now(),
                "chat": chat.as_json(self._users),
                "from": self.bot_user,
                "text": shown.text if shown else "",
            }
            query_id = str(next(self._callback_ids))
            self._callbacks[query_id] = None
            self._push(
                {
                    "callback_query": {
                        "id": query_id,
                        "from": self._user(sender),
                        "message": message,
                        "chat_instance": str(chat_id),
                        "data": data,
                    }
                }
            )
            return query_id

    def click(self, message: BotMessage, label: str, *, user_id: int | None = None) -> str:
        """Press the button labelled ``label`` on a message the bot sent."""
        return self.press(
            message.chat_id,
            message.message_id,
            message.button(label)["callback_data"],
            user_id=user_id,
        )

    def block(self, user_id: int) -> None:
        """The user blocks the bot: sends to them fail with 403 and the bot is told."""
        self._set_bot_status(user_id, "kicked", actor=user_id)

    def unblock(self, user_id: int) -> None:
        """The user unblocks the bot (Telegram then tells the bot, as here)."""
        self._set_bot_status(user_id, "member", actor=user_id)

    def remove_bot(self, chat_id: int, *, by: int) -> None:
        """An admin removes the bot from a group: sends fail, the bot is told."""
        self._set_bot_status(chat_id, "left", actor=by)

    def _set_bot_status(self, chat_id: int, status: str, *, actor: int) -> None:
        with self._lock:
            chat = self._chat(chat_id)
            old = chat.bot_status
            chat.bot_status = status
            self._push(
                {
                    "my_chat_member": {
                        "chat": chat.as_json(self._users),
                        "from": self._user(actor),
                        "date": _unix_now(),
                        "old_chat_member": _member(self.bot_user, old),
                        "new_chat_member": _member(self.bot_user, status),
                    }
                }
            )

    # -- reading what the bot did ---------------------------------------------------

    def messages(self, chat_id: int) -> list[BotMessage]:
        """Every message the bot sent to a chat, as shown now, oldest first."""
        with self._lock:
            return [m for (chat, _), m in sorted(self._messages.items()) if chat == chat_id]

    def next_event(self, chat_id: int, timeout: float = 10.0) -> Event:
        """The next thing the bot did in a chat (a message sent or edited), in order.

        Waits up to ``timeout`` seconds; raises :class:`TimeoutError` naming the chat.
        """
        with self._lock:
            if not self._lock.wait_for(lambda: self._events[chat_id] or self._closed, timeout):
                raise TimeoutError(f"the bot did nothing in chat {chat_id} for {timeout} s")
            if not self._events[chat_id]:
                raise TimeoutError("the fake Bot API was closed")
            return self._events[chat_id].popleft()

    def next_message(self, chat_id: int, timeout: float = 10.0) -> BotMessage:
        """The next message sent or edited in a chat (see :meth:`next_event`)."""
        return self.next_event(chat_id, timeout).message

    def pending_events(self, chat_id: int) -> list[Event]:
        """Events not yet taken with :meth:`next_event` (does not wait)."""
        with self._lock:
            return list(self._events[chat_id])

    def callback_answer(self, query_id: str, timeout: float = 10.0) -> JsonObject:
        """The bot's answerCallbackQuery parameters for a pressed button (waits)."""
        with self._lock:
            if not self._lock.wait_for(
                lambda: self._callbacks.get(query_id) is not None or self._closed, timeout
            ):
                raise TimeoutError(f"callback query {query_id} was not answered in {timeout} s")
            answer = self._callbacks.get(query_id)
            if answer is None:
                raise TimeoutError("the fake Bot API was closed")
            return answer

    def wait_for(self, condition: Callable[[], bool], timeout: float = 10.0) -> None:
        """Wait until ``condition()`` (evaluated after each API call) holds."""
        with self._lock:
            if not self._lock.wait_for(condition, timeout):
                raise TimeoutError(f"condition not met within {timeout} s")

    def commands(self, *, scope: str = "default", language_code: str = "") -> list[JsonObject]:
        """The command list the bot registered for a scope type and language."""
        with self._lock:
            return list(self._commands.get((scope, language_code), []))

    def calls(self, method: str) -> list[JsonObject]:
        """Parameters of every call of ``method`` so far."""
        with self._lock:
            return [params for name, params in self.requests if name == method]

    # -- faults ---------------------------------------------------------------------

    def fail(self, fault: Fault) -> None:
        """Inject a fault (see :class:`Fault`); faults are consumed in order."""
        with self._lock:
            self._faults.append(fault)

    # -- the HTTP side ----------------------------------------------------------------

    calls_may_block: ClassVar[bool] = True
    """Whether :meth:`handle` may block (a subclass's own waits): then every call runs
    in a worker thread. A subclass whose calls never block may set it False: they then
    run on the server's event loop, without a thread switch each (the fan-out benchmark:
    a fifth of the server's CPU a message). Long polls and held requests always run in
    threads (see :meth:`may_block`)."""

    def may_block(self, method: str) -> bool:
        """Whether a call of ``method`` arriving now may wait (run it in a thread)."""
        if self.calls_may_block or method.lower() == "getupdates":
            return True
        with self._lock:
            return any(fault.hang for fault in self._faults)

    def handle(self, token: str, method: str, params: JsonObject) -> Any:
        """Run one Bot API call; returns the ``result`` or raises :class:`ApiError`."""
        if token != self.token:
            raise ApiError(401, "Unauthorized")
        with self._lock:
            self.requests.append((method, params))
            self._lock.notify_all()
            wait = self._flood_wait(method)
            fault = self._take_fault(method, params) if wait is None else None
        if wait is not None:
            raise ApiError(429, f"Too Many Requests: retry after {wait}", wait)
        if fault is not None:
            if fault.hang:
                with self._lock:
                    self._lock.wait_for(lambda: self._closed, timeout=MAX_POLL_TIMEOUT)
                raise ApiError(502, "Bad Gateway")
            raise ApiError(fault.error_code, fault.description, fault.retry_after)
        if method.lower() == "getupdates":
            return self._get_updates(params)
        handler = _METHODS.get(method.lower())
        if handler is None:
            raise ApiError(404, "Not Found")
        with self._lock:
            try:
                return handler(self, params)
            finally:
                self._lock.notify_all()

    def _flood_wait(self, method: str) -> int | None:
        """Seconds a ``sendMessage`` over the overall limit must wait, or None."""
        if self._flood is None or method.lower() != "sendmessage":
            return None
        wait = self._flood.take(time.monotonic())
        if wait is not None:
            self.throttled += 1
        return wait

    def _take_fault(self, method: str, params: JsonObject) -> Fault | None:
        chat_id = params.get("chat_id")
        for fault in self._faults:
            if fault.method.lower() != method.lower():
                continue
            if fault.chat_id is not None and str(fault.chat_id) != str(chat_id):
                continue
            fault.times -= 1
            if fault.times <= 0:
                self._faults.remove(fault)
            return fault
        return None

    def _get_updates(self, params: JsonObject) -> list[JsonObject]:
        with self._lock:
            if self._webhook is not None:
                raise ApiError(
                    409,
                    "Conflict: can't use getUpdates method while webhook is active; "
                    "use deleteWebhook to delete the webhook first",
                )
        offset = _int(params.get("offset", 0), "offset")
        limit = min(max(_int(params.get("limit", 100), "limit"), 1), 100)
        timeout = min(max(float(params.get("timeout", 0)), 0.0), MAX_POLL_TIMEOUT)
        with self._lock:
            if offset:
                # As in Telegram: asking from an offset confirms everything before it.
                while self._updates and self._updates[0]["update_id"] < offset:
                    self._updates.popleft()
            self._lock.wait_for(lambda: bool(self._updates) or self._closed, timeout)
            return list(itertools.islice(self._updates, limit))

    # -- methods ----------------------------------------------------------------------

    def _get_me(self, params: JsonObject) -> JsonObject:
        return dict(self.bot_user)

    def _send_message(self, params: JsonObject) -> JsonObject:
        chat = self._writable_chat(params)
        html_text, plain = self._text(params)
        buttons = _keyboard(params.get("reply_markup"))
        message_id = next(self._message_ids[chat.id])
        message = BotMessage(chat.id, message_id, html_text, plain, buttons)
        self._messages[(chat.id, message_id)] = message
        self._events[chat.id].append(Event("sent", _copy(message)))
        return self._message_json(chat, message)

    def _send_document(self, params: JsonObject) -> JsonObject:
        """A file sent as ``multipart/form-data`` (an uploaded ``document`` part); the
        chat shows its caption. A file id or URL (a string) is refused: this fake keeps
        no files to point at."""
        chat = self._writable_chat(params)
        document = params.get("document")
        if not isinstance(document, dict) or not isinstance(document.get("data"), bytes):
            raise ApiError(400, "Bad Request: there is no document in the request")
        caption = str(params.get("caption", ""))
        if len(caption) > MAX_CAPTION_LENGTH:
            raise ApiError(400, "Bad Request: message caption is too long")
        buttons = _keyboard(params.get("reply_markup"))
        message_id = next(self._message_ids[chat.id])
        message = BotMessage(chat.id, message_id, caption, caption, buttons)
        message.document = {
            "file_id": f"file-{chat.id}-{message_id}",
            "file_unique_id": f"u{chat.id}x{message_id}",
            "file_name": document.get("file_name") or "document",
            "mime_type": document.get("mime_type") or "application/octet-stream",
            "file_size": len(document["data"]),
        }
        message.content = document["data"]
        self._messages[(chat.id, message_id)] = message
        self._events[chat.id].append(Event("sent", _copy(message)))
        result = self._message_json(chat, message)
        del result["text"]
        result["document"] = dict(message.document)
        if caption:
            result["caption"] = caption
        return result

    def _edit_message_text(self, params: JsonObject) -> JsonObject:
        chat, message = self._editable(params)
        html_text, plain = self._text(params)
        buttons = _keyboard(params.get("reply_markup"))
        if (html_text, buttons) == (message.html, message.buttons):
            raise ApiError(400, _NOT_MODIFIED)
        message.html, message.text, message.buttons = html_text, plain, buttons
        message.edits += 1
        self._events[chat.id].append(Event("edited", _copy(message)))
        return self._message_json(chat, message)

    def _edit_message_reply_markup(self, params: JsonObject) -> JsonObject:
        chat, message = self._editable(params)
        buttons = _keyboard(params.get("reply_markup"))
        if buttons == message.buttons:
            raise ApiError(400, _NOT_MODIFIED)
        message.buttons = buttons
        message.edits += 1
        self._events[chat.id].append(Event("edited", _copy(message)))
        return self._message_json(chat, message)

    def _answer_callback_query(self, params: JsonObject) -> bool:
        query_id = str(params.get("callback_query_id", ""))
        if query_id not in self._callbacks or self._callbacks[query_id] is not None:
            raise ApiError(
                400,
                "Bad Request: query is too old and response timeout expired or query ID is invalid",
            )
        text = params.get("text")
        if text is not None and len(str(text)) > 200:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        self._callbacks[query_id] = dict(params)
        return True

    def _set_my_commands(self, params: JsonObject) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise ApiError(400, "Bad Request: commands must be a list of at most 100 commands")
        for command in commands:
            name = str(command.get("command", ""))
            description = str(command.get("description", ""))
            if (
                not (1 <= len(name) <= 32)
                or not name.replace("_", "").isalnum()
                or name != name.lower()
            ):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(description) <= 256:
                raise ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        self._commands[_command_key(params)] = [dict(c) for c in commands]
        return True

    def _get_my_commands(self, params: JsonObject) -> list[JsonObject]:
        return list(self._commands.get(_command_key(params), []))

    def _delete_my_commands(self, params: JsonObject) -> bool:
        self._commands.pop(_command_key(params), None)
        return True

    def _ok(self, params: JsonObject) -> bool:
        return True

    def _set_webhook(self, params: JsonObject) -> bool:
        url = str(params.get("url") or "")
        if not url:
            return self._delete_webhook(params)
        if urlsplit(url).scheme not in ("http", "https"):
            raise ApiError(400, "Bad Request: bad webhook: HTTPS url must be provided for webhook")
        self._webhook = {"url": url, "secret_token": params.get("secret_token")}
        if str(params.get("drop_pending_updates", "")).lower() in ("true", "1"):
            self._updates.clear()
        if self._delivery is None:
            self._delivery = threading.Thread(
                target=self._deliver, name="fake-bot-api-webhook", daemon=True
            )
            self._delivery.start()
        return True

    def _delete_webhook(self, params: JsonObject) -> bool:
        self._webhook = None
        if str(params.get("drop_pending_updates", "")).lower() in ("true", "1"):
            self._updates.clear()
        return True

    def _get_webhook_info(self, params: JsonObject) -> JsonObject:
        return {
            "url": self._webhook["url"] if self._webhook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }

    def _deliver(self) -> None:
        """Post queued updates to the webhook one at a time, in order, as Telegram does;
        an update the bot does not accept with a 2xx is retried."""
        with httpx.Client(timeout=10) as client:
            while True:
                with self._lock:
                    self._lock.wait_for(
                        lambda: self._closed or (self._webhook is not None and self._updates)
                    )
                    if self._closed:
                        return
                    assert self._webhook is not None
                    url, secret = self._webhook["url"], self._webhook["secret_token"]
                    update = self._updates[0]
                headers = {"X-Telegram-Bot-Api-Secret-Token": str(secret)} if secret else {}
                try:
                    accepted = client.post(url, json=update, headers=headers).is_success
                except httpx.HTTPError:
                    accepted = False
                with self._lock:
                    if accepted and self._updates and self._updates[0] is update:
                        self._updates.popleft()
                        self._lock.notify_all()
                    elif not accepted:
                        # Telegram backs off too; a closing server ends the wait at once.
                        self._lock.wait_for(lambda: self._closed, timeout=0.2)

    def _send_chat_action(self, params: JsonObject) -> bool:
        self._writable_chat(params)
        return True

    def _get_chat(self, params: JsonObject) -> JsonObject:
        # getChat answers a ChatFullInfo, which has a few fields a Chat has not.
        return {
            **self._lookup_chat(params).as_json(self._users),
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }

    def _get_chat_member(self, params: JsonObject) -> JsonObject:
        chat = self._lookup_chat(params)
        user_id = _int(params.get("user_id"), "user_id")
        if user_id == self.bot_user["id"]:
            return _member(self.bot_user, chat.bot_status)
        if chat.type == "private":
            status = "member" if user_id == chat.id else "left"
        elif user_id in chat.admins:
            status = "administrator"
        else:
            status = "member" if user_id in chat.members else "left"
        return _member(self._user(user_id), status)

    def _get_chat_administrators(self, params: JsonObject) -> list[JsonObject]:
        chat = self._lookup_chat(params)
        if chat.type == "private":
            raise ApiError(400, "Bad Request: there are no administrators in the private chat")
        return [_member(self._user(user_id), "administrator") for user_id in sorted(chat.admins)]

    # -- helpers (called with the lock held) ------------------------------------------

    def _push(self, update: JsonObject) -> None:
        self._updates.append({"update_id": next(self._update_ids), **update})
        self._lock.notify_all()

    def _chat(self, chat_id: int) -> _Chat:
        chat = self._chats.get(chat_id)
        if chat is None:
            raise KeyError(f"no chat {chat_id}: add_user() or add_group() first")
        return chat

    def _user(self, user_id: int) -> JsonObject:
        return self._users.get(user_id) or {"id": user_id, "is_bot": False, "first_name": "User"}

    def _incoming(self, chat: _Chat, text: str, sender: int) -> JsonObject:
        message: JsonObject = {
            "message_id": next(self._message_ids[chat.id]),
            "date": _unix_now(),
            "chat": chat.as_json(self._users),
            "text": text,
        }
        if chat.type != "channel":
            message["from"] = self._user(sender)
        else:
            message["sender_chat"] = chat.as_json(self._users)
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            message["entities"] = [
                {
                    "type": "bot_command",
                    "offset": 0,
                    "length": len(command.encode("utf-16-le")) // 2,
                }
            ]
        return message

    def _lookup_chat(self, params: JsonObject) -> _Chat:
        raw = params.get("chat_id")
        if isinstance(raw, str) and raw.startswith("@"):
            for chat in self._chats.values():
                if chat.username and f"@{chat.username}".lower() == raw.lower():
                    return chat
            raise ApiError(400, "Bad Request: chat not found")
        found = self._chats.get(_int(raw, "chat_id"))
        if found is None:
            raise ApiError(400, "Bad Request: chat not found")
        return found

    def _writable_chat(self, params: JsonObject) -> _Chat:
        chat = self._lookup_chat(params)
        if chat.migrated_to is not None:
            raise ApiError(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                migrate_to_chat_id=chat.migrated_to,
            )
        if chat.bot_status == "kicked" and chat.type == "private":
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        if chat.bot_status in ("kicked", "left"):
            kind = "channel chat" if chat.type == "channel" else f"{chat.type} chat"
            raise ApiError(403, f"Forbidden: bot is not a member of the {kind}")
        if chat.type == "channel" and chat.bot_status != "administrator":
            raise ApiError(400, "Bad Request: need administrator rights in the channel chat")
        return chat

    def _editable(self, params: JsonObject) -> tuple[_Chat, BotMessage]:
        chat = self._writable_chat(params)
        message = self._messages.get((chat.id, _int(params.get("message_id"), "message_id")))
        if message is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        return chat, message

    def _text(self, params: JsonObject) -> tuple[str, str]:
        raw = str(params.get("text", ""))
        mode = str(params.get("parse_mode") or "")
        if mode.upper() == "HTML":
            try:
                plain = parse_html(raw)
            except MarkupError as exc:
                raise ApiError(400, str(exc)) from None
        elif mode:
            raise ApiError(400, f"Bad Request: unsupported parse_mode {mode!r} in the fake API")
        else:
            plain = raw
        if not plain.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if len(plain) > MAX_TEXT_LENGTH:
            raise ApiError(400, "Bad Request: message is too long")
        return raw, plain

    def _message_json(self, chat: _Chat, message: BotMessage) -> JsonObject:
        result: JsonObject = {
            "message_id": message.message_id,
            "date": _unix_now(),
            "chat": chat.as_json(self._users),
            "from": self.bot_user,
            "text": message.text,
        }
        if message.edits:
            result["edit_date"] = _unix_now()
        if message.buttons:
            result["reply_markup"] = {"inline_keyboard": message.buttons}
        return result


_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)

_METHODS: dict[str, Callable[[FakeBotApi, JsonObject], Any]] = {
    "getme": FakeBotApi._get_me,
    "sendmessage": FakeBotApi._send_message,
    "senddocument": FakeBotApi._send_document,
    "editmessagetext": FakeBotApi._edit_message_text,
    "editmessagereplymarkup": FakeBotApi._edit_message_reply_markup,
    "answercallbackquery": FakeBotApi._answer_callback_query,
    "setmycommands": FakeBotApi._set_my_commands,
    "getmycommands": FakeBotApi._get_my_commands,
    "deletemycommands": FakeBotApi._delete_my_commands,
    "setwebhook": FakeBotApi._set_webhook,
    "deletewebhook": FakeBotApi._delete_webhook,
    "getwebhookinfo": FakeBotApi._get_webhook_info,
    "close": FakeBotApi._ok,
    "logout": FakeBotApi._ok,
    "sendchataction": FakeBotApi._send_chat_action,
    "getchat": FakeBotApi._get_chat,
    "getchatmember": FakeBotApi._get_chat_member,
    "getchatadministrators": FakeBotApi._get_chat_administrators,
}


def _unix_now() -> int:
    return int(time.time())


def _member(user: JsonObject, status: str) -> JsonObject:
    member: JsonObject = {"status": status, "user": user}
    if status == "administrator":
        member.update(
            can_be_edited=False,
            is_anonymous=False,
            can_manage_chat=True,
            can_delete_messages=True,
            can_manage_video_chats=True,
            can_restrict_members=True,
            can_promote_members=False,
            can_change_info=True,
            can_invite_users=True,
            can_post_stories=False,
            can_edit_stories=False,
            can_delete_stories=False,
        )
    elif status == "kicked":
        member["until_date"] = 0
    return member


def _command_key(params: JsonObject) -> tuple[str, str]:
    scope = params.get("scope") or {}
    return str(scope.get("type", "default")), str(params.get("language_code") or "")


def _keyboard(markup: Any) -> list[list[JsonObject]]:
    if markup is None:
        return []
    if not isinstance(markup, dict):
        raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
    rows = markup.get("inline_keyboard")
    if rows is None:
        return []
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise ApiError(400, 'Bad Request: field "inline_keyboard" must be an Array of Arrays')
    for row in rows:
        for button in row:
            if not isinstance(button, dict) or not str(button.get("text", "")).strip():
                raise ApiError(
                    400, "Bad Request: text buttons are unallowed in the inline keyboard"
                )
            data = button.get("callback_data")
            if (
                data is not None
                and not 1 <= len(str(data).encode("utf-8")) <= MAX_CALLBACK_DATA_BYTES
            ):
                raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
            if data is None and not button.get("url"):
                raise ApiError(400, "Bad Request: inline keyboard button must have an action")
    return [[dict(button) for button in row] for row in rows]


def _copy(message: BotMessage) -> BotMessage:
    return BotMessage(
        message.chat_id,
        message.message_id,
        message.html,
        message.text,
        [[dict(button) for button in row] for row in message.buttons],
        message.edits,
        None if message.document is None else dict(message.document),
        message.content,
    )


def _int(value: Any, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ApiError(400, f"Bad Request: invalid {name} specified") from None


class _Server:
    """The HTTP side: aiohttp's server (a C HTTP/1.1 parser) on an event loop in a
    background thread, with :meth:`FakeBotApi.handle` run in a small thread pool.

    A paid-broadcast fan-out keeps hundreds of connections open; a thread per
    connection (``http.server``) spent more CPU switching between them than answering,
    and held requests for up to a second behind each other. Here every connection is
    served by the one event loop, and only the calls themselves go to threads: they
    may block (a long poll, a held request), and a subclass may make them block more.
    """

    #: Calls running at once: long polls and held requests each keep one.
    WORKERS = 64
    #: Telegram's upload limit for bots: a multipart body up to this size is read.
    MAX_BODY = 50 * 1024 * 1024

    def __init__(self, api: FakeBotApi) -> None:
        self.api = api
        self._loop = asyncio.new_event_loop()
        self._pool = ThreadPoolExecutor(self.WORKERS, thread_name_prefix="fake-bot-api-call")
        app = web.Application(client_max_size=self.MAX_BODY)
        app.router.add_route("*", "/{path:.*}", self._serve)
        self._runner = web.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=1.0
        )
        self._socket = socket.create_server(("127.0.0.1", 0))
        self.server_address: tuple[str, int] = self._socket.getsockname()[:2]
        try:
            self._loop.run_until_complete(self._runner.setup())
            # A fan-out opens hundreds of connections at once: a short accept backlog
            # would overflow, and the kernel then resets connections or drops SYNs.
            site = web.SockSite(self._runner, self._socket, backlog=1024)
            self._loop.run_until_complete(site.start())
        except BaseException:
            self._loop.run_until_complete(self._runner.cleanup())
            self._loop.close()
            self._pool.shutdown(wait=False)
            self._socket.close()
            raise
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="fake-bot-api", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        """Stop serving and close every connection (held calls are released by the
        API's own close first)."""
        if not self._thread.is_alive():
            return
        cleanup = asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop)
        with contextlib.suppress(Exception):
            cleanup.result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._pool.shutdown(wait=False, cancel_futures=True)
        if not self._thread.is_alive():
            self._loop.close()
        self._socket.close()

    def handle_error(self, request: object, client_address: object) -> None:
        """A request failed inside the server (not an API error): print the traceback,
        as :mod:`socketserver` does. Replaceable per instance (tests quieten it)."""
        traceback.print_exc()

    async def _serve(self, request: web.Request) -> web.Response:
        try:
            params = _form(request.query_string)
            if request.method == "POST":
                params.update(await _body(request))
        except (ValueError, UnicodeDecodeError):
            return _answer(400, {"ok": False, "error_code": 400, "description": _INVALID_BODY})
        parts = request.path.strip("/").split("/")
        if len(parts) != 2 or not parts[0].startswith("bot"):
            return _answer(404, {"ok": False, "error_code": 404, "description": "Not Found"})
        token, method = parts[0][3:], parts[1]
        try:
            if self.api.may_block(method):
                result = await self._loop.run_in_executor(
                    self._pool, self.api.handle, token, method, params
                )
            else:
                result = self.api.handle(token, method, params)
        except ApiError as exc:
            payload: JsonObject = {
                "ok": False,
                "error_code": exc.code,
                "description": exc.description,
            }
            if exc.retry_after is not None:
                payload["parameters"] = {"retry_after": exc.retry_after}
            if exc.migrate_to_chat_id is not None:
                payload["parameters"] = {"migrate_to_chat_id": exc.migrate_to_chat_id}
            return _answer(exc.code, payload)
        except Exception:
            self.handle_error(request, request.remote)
            return _answer(
                500, {"ok": False, "error_code": 500, "description": "Internal Server Error"}
            )
        return _answer(200, {"ok": True, "result": result})


_INVALID_BODY = "Bad Request: invalid request body"


async def _body(request: web.Request) -> JsonObject:
    """The parameters in a POST body: JSON, a form, or multipart with files (a file
    arrives as ``{"file_name", "mime_type", "data"}``). ValueError if unreadable."""
    content_type = request.content_type.lower()
    if content_type == "multipart/form-data":
        params: JsonObject = {}
        for name, value in (await request.post()).items():
            if isinstance(value, web.FileField):
                params[name] = {
                    "file_name": value.filename,
                    "mime_type": value.content_type,
                    "data": value.file.read(),
                }
            else:
                params[name] = _decoded(str(value))
        return params
    body = await request.read()
    if not body:
        return {}
    if content_type == "application/json":
        loaded = json.loads(body)
        if not isinstance(loaded, dict):
            raise ValueError("not an object")
        return loaded
    return _form(body.decode("utf-8"))


def _answer(status: int, payload: JsonObject) -> web.Response:
    return web.Response(
        status=status,
        body=json.dumps(payload, ensure_ascii=False).encode("utf-8"),
        content_type="application/json",
    )


def _form(encoded: str) -> JsonObject:
    """Form or query parameters; objects and arrays arrive JSON-encoded, as in Telegram."""
    return {key: _decoded(value) for key, value in parse_qsl(encoded, keep_blank_values=True)}


def _decoded(value: str) -> Any:
    """A form value: a JSON object or array decoded, anything else as it came."""
    if value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            pass
    return value
