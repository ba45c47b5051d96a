"""``steppe demo``: the whole bot on one machine, no token and no internet needed.

It serves the sample feeds of ``bot/data/demo_feeds.toml`` as RSS from loopback, opens
a fresh SQLite archive in a temporary directory, collects the feeds into it, starts the
fake Bot API server the tests use (:mod:`bot.fake_api`), runs the real bot against it,
and turns the terminal into the chat: type ``/start`` or any command, a number to press
that button of the last message with buttons, ``/quit`` (or end of input) to leave.
The demo user is an operator, so ``/stats`` and ``/collect`` work too.
"""

from __future__ import annotations

import logging
import tempfile
import threading
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any, Final, TextIO

from pydantic import SecretStr

from bot.config import FeedConfig, Settings
from bot.fake_api import BotMessage, FakeBotApi
from bot.telegram.runner import ThreadedBot
from bot.telegram.wiring import bot_runner
from bot.wiring import build_classifier, collect_settings, open_store
from jobs.collect import Collector

DEMO_USER: Final = 1
QUIT: Final = "/quit"
#: How long the terminal waits for the bot's first answer, then for it to go quiet.
ANSWER_TIMEOUT: Final = 15.0
QUIET: Final = 0.4


@dataclass(frozen=True)
class DemoFeed:
    key: str
    name: str
    language: str
    country: str
    rss: bytes


def load_demo_feeds(now: datetime) -> list[DemoFeed]:
    """The sample outlets, each as an RSS document dated relative to ``now``."""
    raw = (resources.files("bot") / "data" / "demo_feeds.toml").read_text("utf-8")
    feeds = []
    for feed in tomllib.loads(raw)["feeds"]:
        feeds.append(
            DemoFeed(
                key=feed["key"],
                name=feed["name"],
                language=feed["language"],
                country=feed["country"],
                rss=_rss(feed, now),
            )
        )
    return feeds


def _rss(feed: dict[str, Any], now: datetime) -> bytes:
    items = []
    for number, item in enumerate(feed["items"]):
        published = now - timedelta(hours=float(item["hours_ago"]))
        link = f"https://demo.invalid/{feed['key']}/{number}"
        items.append(
            f"<item><title>{escape(item['title'])}</title><link>{link}</link>"
            f"<guid>{link}</guid><description>{escape(item['summary'])}</description>"
            f"<pubDate>{format_datetime(published)}</pubDate></item>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{escape(feed['name'])}</title><link>https://demo.invalid/</link>"
        f"{''.join(items)}</channel></rss>"
    ).encode()


@contextmanager
def serve_feeds(feeds: list[DemoFeed]) -> Iterator[str]:
    """Serve ``/<key>.xml`` for each feed on loopback; yields the base URL."""
    documents = {f"/{feed.key}.xml": feed.rss for feed in feeds}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = documents.get(self.path)
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, format: str, *args: object) -> None:
            """Quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield f"http://{host!s}:{port}"
    finally:
        server.shutdown()
        server.server_close()


def run_demo(settings: Settings, stdin: TextIO, out: TextIO, *, language: str = "en") -> int:
    """Run the demo until ``/quit`` or the end of ``stdin``."""
    # The terminal is the chat: routine INFO logs would bury it (DEBUG still shows all).
    root = logging.getLogger()
    level = root.level
    if level > logging.DEBUG:
        root.setLevel(logging.WARNING)
    try:
        _run(settings, stdin, out, language)
    finally:
        root.setLevel(level)
    return 0


def _run(settings: Settings, stdin: TextIO, out: TextIO, language: str) -> None:
    feeds = load_demo_feeds(datetime.now(UTC))
    with (
        tempfile.TemporaryDirectory(prefix="steppe-demo-") as scratch,
        serve_feeds(feeds) as feeds_url,
        FakeBotApi() as api,
    ):
        demo_settings = _demo_settings(settings, Path(scratch), feeds, feeds_url, api)
        api.add_user(DEMO_USER, first_name="Demo", language_code=language)
        with (
            open_store(demo_settings) as store,
            Collector(
                store, build_classifier(demo_settings), collect_settings(demo_settings)
            ) as collector,
        ):
            runner = bot_runner(demo_settings, store, collector)
            print("Collecting the sample feeds and starting the bot…", file=out)
            with ThreadedBot(runner, prepare=lambda: collector.run(force=True)):
                print(
                    f"Ready: {store.article_count()} articles. Type /start, a number to "
                    f"press a button, {QUIT} to leave.",
                    file=out,
                )
                TerminalChat(api, out).loop(stdin)


def _demo_settings(
    settings: Settings, scratch: Path, feeds: list[DemoFeed], feeds_url: str, api: FakeBotApi
) -> Settings:
    telegram = settings.telegram.model_copy(
        update={
            "token": SecretStr(api.token),
            "api_base_url": api.base_url,
            "admins": (DEMO_USER,),
            "poll_timeout": 2,
            "webhook_url": "",
        }
    )
    # Parsing in the main process: a few small documents do not need worker processes.
    collection = settings.collection.model_copy(update={"workers": 0})
    return settings.model_copy(
        update={
            "data_dir": scratch,
            "database": settings.database.model_copy(update={"url": SecretStr("")}),
            "telegram": telegram,
            "collection": collection,
            "feeds": tuple(
                FeedConfig(
                    key=f.key,
                    name=f.name,
                    url=f"{feeds_url}/{f.key}.xml",
                    language=f.language,
                    country=f.country,
                )
                for f in feeds
            ),
        }
    )


class TerminalChat:
    """The demo user's private chat, in a terminal."""

    def __init__(self, api: FakeBotApi, out: TextIO) -> None:
        self._api = api
        self._out = out
        self._keyboard: BotMessage | None = None

    def loop(self, stdin: TextIO) -> None:
        while True:
            print("you> ", end="", file=self._out, flush=True)
            line = stdin.readline()
            if not line or line.strip() == QUIT:
                print("", file=self._out)
                return
            self.act(line.strip())

    def act(self, line: str) -> None:
        """Send a message, or press button number ``line``; then show the answers."""
        if not line:
            return
        if line.isascii() and line.isdigit():  # "²" is a digit int() refuses
            buttons = [b for row in self._keyboard.buttons for b in row] if self._keyboard else []
            number = int(line)
            if not 1 <= number <= len(buttons) or self._keyboard is None:
                print(f"(no button {number})", file=self._out)
                return
            button = buttons[number - 1]
            query = self._api.press(DEMO_USER, self._keyboard.message_id, button["callback_data"])
            answer = self._api.callback_answer(query, ANSWER_TIMEOUT)
            if answer.get("text"):
                print(f"bot (alert): {answer['text']}", file=self._out)
        else:
            self._api.send(DEMO_USER, line)
            try:
                self._show(ANSWER_TIMEOUT)
            except TimeoutError:
                print("(no answer)", file=self._out)
                return
        while True:
            try:
                self._show(QUIET)
            except TimeoutError:
                return

    def _show(self, timeout: float) -> None:
        event = self._api.next_event(DEMO_USER, timeout)
        message = event.message
        prefix = "bot (edited)" if event.kind == "edited" else "bot"
        print(f"{prefix}: {message.text}", file=self._out)
        if message.buttons:
            self._keyboard = message
            number = 0
            for row in message.buttons:
                labels = []
                for button in row:
                    number += 1
                    labels.append(f"[{number}] {button['text']}")
                print("     " + "   ".join(labels), file=self._out)
        elif self._keyboard is not None and self._keyboard.message_id == message.message_id:
            self._keyboard = None
