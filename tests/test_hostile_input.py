"""Hostile input: every command and every button fed arbitrary text and data.

Property-based (hypothesis) tests through the real bot (python-telegram-bot over the
fake Bot API on loopback, on the test's database). Whatever a user types after any
command (unicode, control characters, RTL marks, emoji, HTML, entities, ``@bot``
suffixes, 4096-character messages) and whatever data a pressed button carries (any
string up to Telegram's 64 bytes, including forgeries of the bot's own formats):

* the bot never fails: its error handler never runs (nothing logged at ERROR, nobody
  told "something went wrong") and every pressed button is answered;
* every message and every button answer fits Telegram's limits (the fake API refuses
  invalid HTML and over-long text; UTF-16 lengths are checked here too);
* nothing changes in a chat the sender has no right to change: another user's
  private chat, a group whose administrator they are not, a channel.

The search (``parse_query`` and ``Store.find`` end to end) gets the same text.

Example counts are fixed and the generation is derandomised (no example database), so
a run is repeatable and bounded in time.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.fake_api import BotMessage, parse_html
from bot.telegram import callbacks as cb
from bot.telegram import render
from bot.telegram.app import MENU, register_handlers
from bot.telegram.choices import COUNTRIES, TOPICS
from storage import ArticleInput, Classification, FeedSpec, Store
from storage.records import ChatSettings
from storage.search.query import MAX_QUERY_CHARS, MAX_TERMS, is_too_long, parse_query
from storage.search.results import SearchStatus
from tests.botharness import NOW, OPERATOR, BotWorld, world

__all__ = ["world"]

#: Telegram's limits, counted as Telegram counts them (UTF-16 code units).
MAX_TEXT_UNITS = 4096
MAX_ALERT_CHARS = 200
BOT_NAME = "steppe_digest_bot"
#: Telegram HTML in a text that is shown as typed (button alerts).
_MARKUP = re.compile(r"</?[a-z]+[ >]|&(?:lt|gt|amp|quot|#\d+);")

VICTIM, ATTACKER, MEMBER, ADMIN, NEWCOMER, SENTINEL = 41, 42, 12, 11, 43, 77
GROUP = -1001500000001
CHANNEL = -1001600000001

#: Examples per property and run (a bot example is two round trips, ~15 ms); a deeper
#: search: ``STEPPE_FUZZ_EXAMPLES=5000 pytest tests/test_hostile_input.py``.
BOT_EXAMPLES = int(os.environ.get("STEPPE_FUZZ_EXAMPLES", "200"))
SEARCH_EXAMPLES = BOT_EXAMPLES
FUZZ = settings(
    max_examples=BOT_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# -- strategies -------------------------------------------------------------------------

_ANY_CHAR = st.characters(codec="utf-8")  # any character but lone surrogates
#: Pieces that have broken bots before: markup, entities, direction marks, joiners,
#: control characters, look-alike digits, the bot's own syntax.
_NASTY = (
    "<b>",
    "</b>",
    "<a href='javascript:alert(1)'>x</a>",
    "<script>",
    "&amp;",
    "&lt;",
    "&#0;",
    "&#x110000;",
    "&",
    "<",
    ">",
    '"',
    "'",
    "\u202e",
    "\u200f",
    "\u200b",
    "\u2066",
    "\ufeff",
    "\x00",
    "\x1b[31m",
    "\r\n",
    "\t",
    "👩‍👩‍👧‍👦",
    "🇰🇿",
    "𝟗",
    "²",
    "٠٧:٣٠",
    "07:30",
    "25:61",
    "-5",
    "--1",
    "99999999999999999999999",
    "Asia/Almaty",
    "../../etc/passwd",
    "off",
    "ru",
    "@",
    f"@{BOT_NAME}",
    "@other_bot",
    "/start",
    "topic:energy",
    "since:99999y",
    "since:0001-01-01",
    "country:",
    '"',
    "«",
    "-",
    "*",
    "NEAR(",
    "'; DROP TABLE chats;--",
    "%s%n",
    "{time}",
    "{0}",
)
_NASTY_TEXT = st.lists(
    st.one_of(st.sampled_from(_NASTY), st.text(_ANY_CHAR, max_size=8)), max_size=12
).map("".join)
_HUGE_TEXT = st.tuples(st.text(_ANY_CHAR, min_size=1, max_size=6), st.integers(100, 4200)).map(
    lambda pair: pair[0] * pair[1]
)
_ARGUMENT = st.one_of(
    st.just(""),
    st.sampled_from(_NASTY),
    st.lists(st.sampled_from(_NASTY), min_size=2, max_size=4).map(" ".join),
    st.text(_ANY_CHAR, max_size=80),
    _NASTY_TEXT,
    _HUGE_TEXT,
)
_KNOWN_COMMANDS = sorted({*MENU, "channel", "stats", "collect"})
#: Mostly the bot's own commands (each argument reaches a handler), sometimes others.
_COMMAND_NAMES = st.one_of(
    st.sampled_from(_KNOWN_COMMANDS),
    st.sampled_from(_KNOWN_COMMANDS),
    st.sampled_from(_KNOWN_COMMANDS),
    st.sampled_from(["START", "Find", "finder", "stat", "x" * 40, ""]),
    st.text(st.characters(codec="ascii", categories=("Ll", "Nd")), max_size=12),
)
_SUFFIXES = st.sampled_from(
    ["", "", "", f"@{BOT_NAME}", f"@{BOT_NAME.upper()}", "@other_bot", "@", "@@x"]
)
_SEPARATORS = st.sampled_from([" ", " ", "  ", "\n", "\t", "\u00a0", "\u3000", ""])


def _fit_message(text: str) -> str:
    """Cut ``text`` to what Telegram accepts from a user (4096 UTF-16 units, not empty)."""
    encoded = text.encode("utf-16-le")[: 2 * MAX_TEXT_UNITS]
    cut = encoded.decode("utf-16-le", errors="ignore")
    return cut if cut.strip() else "/"


@st.composite
def message_texts(draw: st.DrawFn) -> str:
    """A command with any suffix and argument, or any text at all."""
    if draw(st.integers(0, 9)) == 0:
        return _fit_message(draw(st.one_of(_NASTY_TEXT, st.text(_ANY_CHAR, max_size=100))))
    command = "/" + draw(_COMMAND_NAMES) + draw(_SUFFIXES)
    return _fit_message(command + draw(_SEPARATORS) + draw(_ARGUMENT))


def _fit_data(data: str) -> str:
    """Cut ``data`` to Telegram's 1..64 bytes of button data."""
    encoded = data.encode("utf-8")[: cb.MAX_BYTES]
    cut = encoded.decode("utf-8", errors="ignore")
    return cut or "x"


#: Stands for the id of a search the chat really holds (replaced when pressed): forged
#: pages of a real search reach further into the handler than unknown ids.
SEARCH = "<search>"
_VALUES = st.one_of(
    st.sampled_from(
        [
            *TOPICS,
            *COUNTRIES,
            "all",
            "topics",
            "countries",
            "yes",
            "no",
            "settings",
            "pause",
            "07:00",
            "7.30",
            "24:00",
            "Asia/Tashkent",
            "asia/baku",
            "UTC",
            "ru",
            "uz",
            f"{SEARCH}:5",
            f"{SEARCH}:0",
            f"{SEARCH}:-5",
            "0:5",
            f"{SEARCH}:5:5",
            f"{SEARCH}: 5",
            f"{SEARCH}:٥",
            f"{SEARCH}:²",
            f"{SEARCH}:99999999999999999999",
            "999999:5",
            ":",
            "::",
            "",
        ]
    ),
    st.text(_ANY_CHAR, max_size=20),
    _NASTY_TEXT,
)


@st.composite
def callback_data(draw: st.DrawFn) -> str:
    """Any button data Telegram could carry: forgeries of the bot's shape, or anything."""
    kind = draw(st.integers(0, 3))
    if kind == 0:
        raw = draw(st.binary(min_size=1, max_size=cb.MAX_BYTES))
        return _fit_data(raw.decode("utf-8", errors="replace"))
    if kind == 1:
        return _fit_data(draw(st.text(_ANY_CHAR, min_size=1, max_size=cb.MAX_BYTES)))
    action = draw(st.one_of(st.sampled_from(sorted(cb.ACTIONS)), st.text(_ANY_CHAR, max_size=3)))
    mode = draw(st.sampled_from([cb.SETUP, cb.SINGLE, "x", "", "ss"]))
    return _fit_data(f"{action}:{mode}:{draw(_VALUES)}")


@dataclass(frozen=True)
class Actor:
    """Who acts where, and whether they may change that chat's settings."""

    user: int | None
    """The sender; ``None`` for a channel post (a channel's posts have no sender)."""
    chat: int
    may_change: bool


#: Users in their own chats may change them; a member in the group and anyone pressing
#: a button in the channel may not; a channel's own posts come from its administrators.
ACTORS = (
    Actor(ATTACKER, ATTACKER, may_change=True),
    Actor(OPERATOR, OPERATOR, may_change=True),
    Actor(NEWCOMER, NEWCOMER, may_change=True),
    Actor(MEMBER, GROUP, may_change=False),
    Actor(None, CHANNEL, may_change=True),
)
BUTTON_ACTORS = (
    Actor(ATTACKER, ATTACKER, may_change=True),
    Actor(MEMBER, GROUP, may_change=False),
    Actor(MEMBER, CHANNEL, may_change=False),
)
CHATS = (VICTIM, ATTACKER, OPERATOR, NEWCOMER, GROUP, CHANNEL)


# -- the world --------------------------------------------------------------------------


class _Errors(logging.Handler):
    """Every record at ERROR or above, from any thread (the bot runs in its own)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@dataclass
class Arena:
    """The bot with a few chats set up, and what a check needs to see."""

    world: BotWorld
    errors: _Errors
    requests_seen: int = 0
    queries: list[str] = field(default_factory=list)

    def settle(self) -> None:
        """Return once the bot has handled everything sent so far: updates are handled
        one at a time, in order, so the answer to a later update proves it."""
        reply = self.world.say(SENTINEL, "/help")
        assert reply.text.startswith("Steppe Digest")

    def snapshot(self) -> dict[int, ChatSettings | None]:
        return {chat: self.world.store.chats.get(chat) for chat in CHATS}

    def check(self, before: dict[int, ChatSettings | None], actor: Actor) -> None:
        """The properties every update must keep (see the module's docstring)."""
        self.settle()
        failures = [self.errors.format(record) for record in self.errors.records]
        self.errors.records.clear()  # each example answers for itself (shrinking)
        assert failures == [], "the bot failed"
        after = self.snapshot()
        for chat in CHATS:
            if chat == actor.chat and actor.may_change:
                continue
            assert after[chat] == before[chat], f"chat {chat} was changed by {actor}"
        requests = self.world.api.requests
        new, self.requests_seen = requests[self.requests_seen :], len(requests)
        generic = parse_html(self.world.translator.text("en", "error_generic"))
        for method, params in new:
            if method.lower() in ("sendmessage", "editmessagetext"):
                shown = parse_html(str(params["text"]))
                assert len(shown.encode("utf-16-le")) // 2 <= MAX_TEXT_UNITS, method
                assert shown != generic
            if method.lower() == "answercallbackquery" and params.get("text") is not None:
                alert = str(params["text"])
                assert len(alert) <= MAX_ALERT_CHARS
                assert not _MARKUP.search(alert), f"an alert is plain text: {alert!r}"
        for query in self.queries:
            self.world.api.callback_answer(query, timeout=5)  # every button is answered
        self.queries.clear()


def _archive(store: Store) -> None:
    """A small archive, with titles full of markup, astral emoji and RTL text."""
    feeds = [
        FeedSpec("steppe", "Steppe <Wire> & Co", "https://wire.example.kz/rss", "en", "kz"),
        FeedSpec("dala", "Дала 🐎", "https://dala.example.uz/rss", None, "uz"),
    ]
    store.sync_feeds(feeds, now=NOW)
    ids = {state.spec.key: state.id for state in store.feed_states()}
    titles = [
        "Solar <plant> & wind farm open near Almaty",
        "Astana Hub welcomes 40 startups 🚀🚀🚀",
        "Энергетика: новая ГЭС в Узбекистане",
        "\u202eRTL title\u202c with <script>alert(1)</script>",
        "🇰🇿" * 150 + " flags",
        "Policy of solar energy " + "𝟗" * 280,
        "Solar " + "🐎" * 400,
    ]
    articles = []
    for number, title in enumerate(titles * 2):
        slug = f"a{number}"
        articles.append(
            ArticleInput(
                guid=f"urn:{slug}",
                url=f"https://wire.example.kz/{slug}?a=1&b=<2>",
                title=title,
                summary=f"{title}. " + ("solar " + "🐎" * 60 + " ") * 20,
                content="",
                language="en",
                published_at=NOW - timedelta(hours=number + 1),
                content_hash=hashlib.sha256(slug.encode()).hexdigest(),
                classification=Classification(
                    topics={TOPICS[number % len(TOPICS)]: 2.0},
                    countries=[COUNTRIES[number % len(COUNTRIES)]],
                ),
            )
        )
    store.save_articles(ids["steppe"], [(a, None) for a in articles], [], now=NOW)


@pytest.fixture
def arena(world: BotWorld) -> Iterator[Arena]:
    api = world.api
    _archive(world.store)
    for user, language in (
        (VICTIM, "en"),
        (ATTACKER, "ru"),
        (OPERATOR, "kk"),
        (NEWCOMER, None),
        (MEMBER, "uz"),
        (ADMIN, "en"),
        (SENTINEL, "en"),
    ):
        api.add_user(user, first_name=f"<i>{user}</i> \u202e", language_code=language)
    api.add_group(GROUP, title="<b>Tech</b> & Almaty", admins={ADMIN}, members={MEMBER})
    api.add_group(
        CHANNEL, title="Steppe \u202eTech", admins={ADMIN}, kind="channel", username="steppetech"
    )
    for user in (VICTIM, ATTACKER, OPERATOR):
        world.say(user, "/start")
        api.next_message(user)
    world.say(VICTIM, "/time 06:15")
    world.say(GROUP, "/start", user_id=ADMIN)
    api.next_message(GROUP)
    world.say(GROUP, "/find solar", user_id=ADMIN)
    world.say(CHANNEL, "/start")
    world.say(CHANNEL, "/find solar")
    world.say(ATTACKER, "/find solar")
    world.say(ATTACKER, "/stop")
    errors = _Errors()
    root = logging.getLogger()
    root.addHandler(errors)
    try:
        arena = Arena(world, errors)
        arena.settle()
        arena.requests_seen = len(api.requests)
        yield arena
    finally:
        root.removeHandler(errors)


# -- the properties -------------------------------------------------------------------


def test_every_command_survives_any_text(arena: Arena) -> None:
    @FUZZ
    @given(actor=st.sampled_from(ACTORS), text=message_texts())
    def typed(actor: Actor, text: str) -> None:
        before = arena.snapshot()
        arena.world.api.send(actor.chat, text, user_id=actor.user)
        arena.check(before, actor)

    typed()


def test_every_button_survives_any_data(arena: Arena) -> None:
    @FUZZ
    @given(actor=st.sampled_from(BUTTON_ACTORS), data=callback_data(), pick=st.integers(0, 99))
    def pressed(actor: Actor, data: str, pick: int) -> None:
        api = arena.world.api
        shown = api.messages(actor.chat)
        if not shown:  # the attacker deleted their chat: start again to have messages
            arena.world.say(actor.chat, "/start", user_id=actor.user)
            arena.settle()
            arena.requests_seen = len(api.requests)
            shown = api.messages(actor.chat)
        message = shown[pick % len(shown)]
        data = _fit_data(data.replace(SEARCH, _search_id(shown)))
        before = arena.snapshot()
        arena.queries.append(api.press(actor.chat, message.message_id, data, user_id=actor.user))
        arena.check(before, actor)

    pressed()


#: Arguments that have broken handlers (or could): each one goes to every command.
SWEEP_ARGUMENTS = (
    "²",
    "--5",
    "-0",
    "٠٧:٣٠",
    "𝟗:𝟑𝟎",
    "99999999999999999999999",
    "<b>x</b> &amp; &#0; \u202e\x00",
    "@steppetech",
    "-1001600000001",
    "🇰🇿" * 1000,
    "x" * 4000,
    "off",
)
SWEEP_DATA_VALUES = (
    f"{SEARCH}:²",
    f"{SEARCH}:99999999999999999999",
    f"{SEARCH}:-1",
    f"{SEARCH}:5:5",
    f"{SEARCH}:5",
    "²",
    "٠٧:٣٠",
    "𝟗.𝟑𝟎",
    "<b>",
    "all",
    "topics",
    "countries",
    "settings",
    "pause",
    "Asia/Almaty",
    "no",
    "yes",
)


@pytest.mark.parametrize("actor", [ATTACKER, MEMBER])
def test_every_command_takes_each_known_trap(arena: Arena, actor: int) -> None:
    where = Actor(actor, ATTACKER if actor == ATTACKER else GROUP, actor == ATTACKER)
    for command in _KNOWN_COMMANDS:
        before = arena.snapshot()
        for argument in SWEEP_ARGUMENTS:
            suffix = f"@{BOT_NAME}" if where.chat == GROUP else ""
            text = _fit_message(f"/{command}{suffix} {argument}")
            arena.world.api.send(where.chat, text, user_id=where.user)
        arena.check(before, where)


@pytest.mark.parametrize("actor", [ATTACKER, MEMBER])
def test_every_button_takes_each_known_trap(arena: Arena, actor: int) -> None:
    where = Actor(actor, ATTACKER if actor == ATTACKER else GROUP, actor == ATTACKER)
    api = arena.world.api
    for action in sorted(cb.ACTIONS):
        before = arena.snapshot()
        for mode in (cb.SETUP, cb.SINGLE):
            for value in SWEEP_DATA_VALUES:
                shown = api.messages(where.chat)
                data = _fit_data(f"{action}:{mode}:{value}".replace(SEARCH, _search_id(shown)))
                query = api.press(where.chat, shown[-1].message_id, data, user_id=where.user)
                arena.queries.append(query)
        arena.check(before, where)


def _search_id(shown: list[BotMessage]) -> str:
    """The id of a search shown in a chat (its "More" button), else one never issued."""
    for message in reversed(shown):
        for row in message.buttons:
            for button in row:
                action, _, rest = str(button.get("callback_data", "")).partition(":")
                if action == cb.FIND:
                    return rest.split(":")[1]
    return "0"


def test_the_registered_handlers_are_the_ones_fuzzed() -> None:
    """A new command must join the fuzzing: this lists what ``message_texts`` covers."""

    class _Recorder:
        def __init__(self) -> None:
            self.commands: set[str] = set()

        def add_handler(self, handler: object) -> None:
            self.commands.update(getattr(handler, "commands", ()))

        def add_error_handler(self, handler: object) -> None:
            pass

    recorder = _Recorder()
    register_handlers(recorder)  # type: ignore[arg-type]
    assert recorder.commands == {*MENU, "channel", "stats", "collect"}


def test_a_page_of_emoji_fits_as_telegram_counts() -> None:
    """Telegram counts UTF-16 units: 60 blocks of 50 horses are 3,050 characters but
    6,050 units; the page is cut at a whole block within 4096 units."""
    page = render.fit(["🐎" * 50] * 60, separator="\n")
    assert len(page.encode("utf-16-le")) // 2 <= MAX_TEXT_UNITS
    assert page.endswith("\n…")
    assert page.count("🐎" * 50) == 40


# -- the search -----------------------------------------------------------------------

_QUERY = st.one_of(
    st.text(_ANY_CHAR, max_size=MAX_QUERY_CHARS + 20),
    _NASTY_TEXT,
    st.lists(
        st.sampled_from(
            [
                "solar",
                "-solar",
                '"solar energy',
                "topic:energy,it",
                "country:kz,",
                "lang:",
                "since:7d",
                "since:10000y",
                "since:2026-02-30",
                "«Астана",
                "🐎",
                "AND",
                "-",
                "NEAR(a b)",
                "x*",
                "title:",
                "\x00",
                "\u202e",
            ]
        ),
        max_size=MAX_TERMS + 4,
    ).map(" ".join),
)


@settings(max_examples=SEARCH_EXAMPLES, deadline=None, derandomize=True, database=None)
@given(text=_QUERY)
def test_the_query_parser_takes_anything(text: str) -> None:
    query = parse_query(text, now=NOW)
    assert len(query.required) + len(query.excluded) <= MAX_TERMS
    assert query.since is None or query.since.tzinfo is not None


def test_find_takes_anything_end_to_end(store: Store) -> None:
    _archive(store)

    @settings(
        max_examples=SEARCH_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(text=_QUERY, offset=st.integers(-5, 10**20), limit=st.integers(-5, 100))
    def search(text: str, offset: int, limit: int) -> None:
        results = store.find(text, now=NOW, limit=limit, offset=offset)
        assert len(results.hits) <= max(limit, 1)
        if is_too_long(text):
            assert results.status is SearchStatus.TOO_LONG
        if results.status is not SearchStatus.OK:
            assert results.hits == ()

    search()
