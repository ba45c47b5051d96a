"""Faults: the process killed, the database dropped or locked, the Bot API down.

The kill tests are black-box: the real ``steppe collect --once`` / ``steppe dispatch
--once`` runs in a subprocess against feeds on loopback (``tests/feedserver.py``), the
fake Bot API (``bot.fake_api``) and the test's database (SQLite, or PostgreSQL with
STEPPE_TEST_DATABASE=postgresql), and is SIGKILLed at seeded random moments. Its clock
is pinned with ``STEPPE_TEST_NOW`` so a restart can happen "after the lease" at once.
What counts is what a user would see: the archive against the feeds served, and every
message the Bot API accepted, per chat and local date, against the ledger.

The Bot API outage tests run the dispatcher as ``steppe`` wires it, in-process, with a
fake clock: a minute of 429, 5xx or hanging requests passes in a moment.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from bot.config import ConfigError, Settings, load_config
from bot.telegram.digest_wiring import build_dispatcher
from bot.wiring import TEST_CLOCK_VARIABLE, process_clock
from jobs.digest import schedule
from storage import Store
from storage.records import TOPICS
from tests.conftest import backend, postgres_url
from tests.digestharness import FakeClock, add_articles, add_chat
from tests.faultharness import (
    Cli,
    CliRun,
    CountingFeedServer,
    FastClock,
    FaultyBotApi,
    Item,
    Outage,
    alive,
    children,
    rss,
)

#: Kills per phase (collection, fan-out), as the issue asks.
KILLS = 20
#: Seeds: a failure names its kill number; rerun with the same seed to repeat it.
SEED = 6

GRACE = timedelta(hours=6)
LEASE_SECONDS = 30


@dataclass
class Outlets:
    """The feeds as the outlets publish them, round after round."""

    count: int
    feeds: list[list[Item]] = field(default_factory=list)
    rounds: int = 0

    def __post_init__(self) -> None:
        self.feeds = [[] for _ in range(self.count)]

    def publish(self, now: datetime) -> None:
        """A round of news: new items everywhere, one shared by two outlets (same
        link), and one older headline corrected."""
        r = self.rounds
        self.rounds += 1
        for number, items in enumerate(self.feeds):
            for n in range(3):
                items.append(
                    Item(
                        guid=f"f{number}-r{r}-{n}",
                        link=f"https://outlet{number}.example/news/{r}-{n}",
                        title=f"Outlet {number} round {r} story {n} on solar power",
                        published=now - timedelta(minutes=10 * n + number),
                    )
                )
        a, b = r % self.count, (r + 1) % self.count
        shared = f"https://wire.example/story/{r}"
        for feed in (a, b):
            self.feeds[feed].append(
                Item(f"wire-{feed}-{r}", shared, f"Wire story {r} about a wind farm", now)
            )
        if r:
            items = self.feeds[(r * 5) % self.count]
            old = items[0]
            items[0] = Item(old.guid, old.link, f"{old.title} (corrected {r})", old.published)

    def serve(self, server: CountingFeedServer, *, delay: float = 0.01) -> None:
        for number, items in enumerate(self.feeds):
            body = rss(items, title=f"Outlet {number}")
            # Half the outlets answer conditional GETs, half send the whole body again.
            etag = f'"{self.rounds}"' if number % 2 else None
            server.route(f"/f{number}.xml", body, etag=etag, delay=delay)

    def titles_by_link(self) -> dict[str, str]:
        return {item.link: item.title for items in self.feeds for item in items}


def _config(
    path: Path,
    database_url: str,
    *,
    api: FaultyBotApi | None = None,
    feeds: Sequence[str] = (),
    workers: int = 0,
) -> Path:
    lines = [
        'data_dir = "state"',
        'log_level = "WARNING"',
        "[database]",
        f'url = "{database_url}"',
        "[collection]",
        f"workers = {workers}",
        "retries = 0",
        "connect_timeout = 2",
        "read_timeout = 5",
        "total_timeout = 10",
        "max_per_host = 4",
        "[digest]",
        "max_per_topic = 8",
        "[delivery]",
        "messages_per_second = 200",
        "chat_interval_seconds = 0.05",
        f"lease_seconds = {LEASE_SECONDS}",
        "request_timeout = 5",
    ]
    if api is not None:
        lines += ["[telegram]", f'token = "{api.token}"', f'api_base_url = "{api.base_url}"']
    for number, url in enumerate(feeds):
        lines += [
            "[[feeds]]",
            f'key = "f{number}"',
            f'name = "Outlet {number}"',
            f'url = "{url}"',
            'language = "en"',
            'country = "kz"',
        ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _until(check: Callable[[], bool], run: CliRun, timeout: float = 30.0) -> bool:
    """Poll ``check`` (a bounded wait each time) until it holds (True) or ``run`` exits
    (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        if run.exited:
            return False
    raise AssertionError(f"nothing happened in {timeout} s:\n{run.output}")


# -- SIGKILL during a collection ------------------------------------------------------


def test_collection_killed_twenty_times_loses_and_duplicates_nothing(
    tmp_path: Path, database_url: str, store: Store
) -> None:
    rng = random.Random(SEED)
    outlets = Outlets(12)
    with CountingFeedServer() as server:
        urls = [server.url(f"/f{n}.xml") for n in range(outlets.count)]
        config = _config(tmp_path / "config.toml", database_url, feeds=urls)
        with Cli(config, tmp_path / "logs") as cli:
            kills = 0
            completed = 0
            for attempt in range(3 * KILLS):
                if kills == KILLS:
                    break
                outlets.publish(datetime.now(UTC))
                outlets.serve(server)
                target = server.count + rng.randint(1, outlets.count)
                delay = rng.uniform(0.0, 0.1)
                run = cli.start("collect", "--once")
                if _until(partial(server.wait_requests, target, 0.05), run):
                    time.sleep(delay)  # the random moment itself
                if run.kill():
                    kills += 1
                else:
                    assert run.wait() == 0, f"attempt {attempt}:\n{run.output}"
                    completed += 1
            assert kills == KILLS
            final = cli.run("collect", "--once")
            assert final.returncode == 0, final.output
            assert " 0 failed" in final.output, final.output

    articles = _check_archive(store, outlets)
    print(
        f"collection on {backend()}: {kills} kills survived, {completed} runs finished "
        f"between them; {articles} articles, none lost or duplicated"
    )


# -- SIGKILL during a digest fan-out -----------------------------------------------------

DAY0 = datetime(2026, 11, 20, tzinfo=UTC)
CHATS = range(101, 111)


def _news(store: Store, day: date, now: datetime) -> None:
    """Eight articles per topic: a digest of two or three messages."""
    for topic in TOPICS:
        add_articles(
            store,
            [
                f"{topic} day {day.isoformat()} item {n}: ministry announces a long-awaited "
                f"programme for the region's {topic.replace('_', ' ')} sector number {n}"
                for n in range(8)
            ],
            now=now,
            topic=topic,
        )


def _plan(store: Store, now: datetime) -> None:
    """What the first tick of a running service does: plan every new chat."""
    due = store.deliveries.schedules(now)
    store.deliveries.apply([schedule.plan(chat, now, grace=GRACE) for chat in due], now=now)


@dataclass
class Received:
    """Every message the Bot API accepted, matched against the ledger."""

    digests: int = 0
    messages: int = 0
    repeated: int = 0
    """Messages accepted twice (the README's known limit: a crash in the accept window)."""
    takeovers: int = 0
    """Rows resumed by another process after their worker died."""


def _check_exactly_once(api: FaultyBotApi, store: Store, days: Sequence[date]) -> Received:
    """Each chat got each day's digest once, in order; a crash repeated at most the one
    message it interrupted (never the digest from the top, never a second digest)."""
    seen = Received()
    for chat in CHATS:
        rows = store.deliveries.of_chat(chat)
        assert [r.local_date for r in rows] == list(days), f"chat {chat}: a day missing"
        assert {r.state for r in rows} == {"sent"}, f"chat {chat}: {rows}"
        where = {
            part: (i, n) for i, row in enumerate(rows) for n, part in enumerate(row.parts or ())
        }
        got = [where.get(m.html) for m in api.messages(chat)]
        assert None not in got, f"chat {chat}: a message that is in no digest of the ledger"
        expected = [(i, n) for i, row in enumerate(rows) for n in range(len(row.parts or ()))]
        # Collapsing a message repeated right after itself gives each digest once, in order.
        assert [key for key, _ in itertools.groupby(got)] == expected, f"chat {chat}: {got}"
        for i, row in enumerate(rows):
            assert len(row.parts or ()) >= 2
            repeated = sum(1 for g in got if g is not None and g[0] == i) - len(row.parts or ())
            # At most one repeated message per crash that interrupted this digest.
            assert repeated <= row.attempts - 1, f"chat {chat} {row.local_date}: {got}"
            seen.repeated += repeated
            seen.takeovers += row.attempts - 1
            seen.digests += 1
            seen.messages += len(row.parts or ())
    return seen


def test_fan_out_killed_twenty_times_sends_one_digest_per_chat_and_day(
    tmp_path: Path, database_url: str, store: Store
) -> None:
    rng = random.Random(SEED)
    with FaultyBotApi() as api:
        for chat in CHATS:
            add_chat(api, store, chat, now=DAY0)  # 08:00 in Almaty: 03:00 UTC
        config = _config(tmp_path / "config.toml", database_url, api=api)
        with Cli(config, tmp_path / "logs") as cli:
            days: list[date] = []
            kinds: Counter[str] = Counter()
            now = DAY0
            for attempt in range(3 * KILLS):
                if sum(kinds.values()) == KILLS:
                    break
                if not days or _day_done(store, days[-1]):
                    day = DAY0 + timedelta(days=len(days))
                    days.append(day.date())
                    _news(store, day.date(), day + timedelta(hours=1))
                    _plan(store, day + timedelta(hours=1))
                    now = day + timedelta(hours=3, seconds=5)
                start = api.accepted
                getme = len(api.calls("getMe"))
                kind = rng.choice(("in flight", "after a message", "any moment"))
                target = start + rng.randint(1, 12)
                delay = rng.uniform(0.0, 0.4)
                run = cli.start("dispatch", "--once", now=now)
                if kind == "in flight":
                    api.kill_after(target, run.pid)
                    run.wait()
                    api.disarm()
                elif kind == "after a message":
                    _until(partial(api.wait_accepted, target, 0.05), run)
                elif _until(partial(api.wait_call, "getMe", getme + 1, 0.05), run):
                    time.sleep(delay)
                if run.kill() or run.wait() < 0:
                    kinds[kind] += 1
                else:
                    assert run.returncode == 0, f"attempt {attempt}:\n{run.output}"
                # The next run comes after the dead worker's lease, as the next tick would.
                now += timedelta(seconds=LEASE_SECONDS + 1)
            assert sum(kinds.values()) == KILLS
            final = cli.run("dispatch", "--once", now=now)
            assert final.returncode == 0, final.output
            seen = _check_exactly_once(api, store, days)
    print(
        f"fan-out on {backend()}: {KILLS} kills survived ({dict(kinds)}), {len(days)} days, "
        f"{seen.digests} digests of {seen.messages} messages, each once; "
        f"{seen.takeovers} digests resumed after a kill, {seen.repeated} single messages "
        "accepted twice (a crash in the accept window)"
    )


def _day_done(store: Store, day: date) -> bool:
    rows = [r for chat in CHATS for r in store.deliveries.of_chat(chat) if r.local_date == day]
    return len(rows) == len(CHATS) and all(r.state == "sent" for r in rows)


# -- the database drops connections or stays locked -------------------------------------

#: A second process that holds SQLite's write lock (``BEGIN IMMEDIATE``) for a while.
_LOCK_HOLDER = """
import sqlite3, sys, time
connection = sqlite3.connect(sys.argv[1], timeout=30, isolation_level=None)
connection.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))  # holding the lock is the point
connection.execute("COMMIT")
"""


@contextlib.contextmanager
def _write_lock_held(database_url: str, seconds: float) -> Iterator[None]:
    """Another process takes the SQLite write lock now and keeps it ``seconds``."""
    path = database_url.removeprefix("sqlite:///")
    holder = subprocess.Popen(
        [sys.executable, "-c", _LOCK_HOLDER, path, str(seconds)], stdout=subprocess.PIPE
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == b"locked\n"
        yield
    finally:
        assert holder.wait(timeout=seconds + 30) == 0
        if holder.stdout is not None:
            holder.stdout.close()


def _database_for(fault: str, database_url: str) -> tuple[str, Callable[[], int] | None]:
    """The URL the CLI uses for ``fault`` and, on PostgreSQL ("connections dropped"),
    the function that drops its connections; skips a fault of the other backend."""
    on_postgres = backend() == "postgresql"
    if on_postgres != (fault == "connections dropped"):
        pytest.skip(f"{fault}: a {'SQLite' if on_postgres else 'PostgreSQL'} fault")
    return _own_connections(database_url) if on_postgres else (database_url, None)


def _own_connections(database_url: str) -> tuple[str, Callable[[], int]]:
    """The URL the CLI should use, tagged with an ``application_name`` of its own, and
    a function that drops every server connection so tagged, as a server restart would
    (other sessions on the shared server are left alone)."""
    name = f"steppe_faults_{uuid.uuid4().hex[:12]}"
    url = make_url(database_url).update_query_dict({"application_name": name})

    def drop() -> int:
        engine = sa.create_engine(postgres_url(), poolclass=sa.NullPool)
        try:
            with engine.begin() as connection:
                dropped = connection.execute(
                    sa.text(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND application_name = :name "
                        "AND pid <> pg_backend_pid()"
                    ),
                    {"name": name},
                ).scalar_one()
        finally:
            engine.dispose()
        return int(dropped)

    return url.render_as_string(hide_password=False), drop


def _check_archive(store: Store, outlets: Outlets) -> int:
    """The archive holds every article served, once, with its latest title."""
    served = outlets.titles_by_link()
    stored: list[tuple[str, int]] = []
    for state in store.feed_states():
        stored += [(a.url, a.id) for a in store.articles_for_feed(state.id)]
    copies = Counter(url for url, _ in stored)
    assert [url for url, n in copies.items() if n > 1] == []  # nothing twice
    assert sorted(copies) == sorted(served)  # nothing lost, nothing made up
    titles = {a.id: a.title for a in store.iter_article_texts()}
    assert {url: titles[i] for url, i in stored} == served  # every correction kept
    return len(served)


@pytest.mark.parametrize("fault", ["connections dropped", "locked 2 s", "locked 7 s"])
def test_a_collection_survives_the_database_failing_under_it(
    tmp_path: Path, database_url: str, store: Store, fault: str
) -> None:
    url, drop = _database_for(fault, database_url)
    outlets = Outlets(6)
    with CountingFeedServer() as server:
        outlets.publish(datetime.now(UTC))
        outlets.serve(server, delay=0.15)  # a collection of about half a second
        feeds = [server.url(f"/f{n}.xml") for n in range(outlets.count)]
        with Cli(_config(tmp_path / "config.toml", url, feeds=feeds), tmp_path / "logs") as cli:
            run = cli.start("collect", "--once")
            assert _until(partial(server.wait_requests, 3, 0.05), run)
            if drop is not None:
                assert drop() >= 1
                code = run.wait()
            else:
                with _write_lock_held(database_url, 2.0 if fault == "locked 2 s" else 7.0):
                    code = run.wait()
            # The failure is recorded (the feed's error, in the report: exit 0), or the run
            # stops with a clear "database unavailable" (3); never an unhandled crash.
            assert code in (0, 3), run.output
            assert ("feeds:" in run.output) if code == 0 else ("database error" in run.output)
            if code == 3:  # the database's failure, not the feeds': no feed was blamed
                assert [s.spec.key for s in store.feed_states() if s.consecutive_failures] == []
            if fault == "locked 2 s":  # within the busy timeout: it just waited
                assert (code, " 0 failed" in run.output) == (0, True), run.output
            outlets.publish(datetime.now(UTC))
            outlets.serve(server)
            final = cli.run("collect", "--once")
            assert final.returncode == 0, final.output
            assert " 0 failed" in final.output, final.output
    articles = _check_archive(store, outlets)
    print(f"collection, {fault}: first run exit {code}, then {articles} articles, all once")


@pytest.mark.parametrize("fault", ["connections dropped", "locked 2 s", "locked 7 s"])
def test_a_fan_out_survives_the_database_failing_under_it(
    tmp_path: Path, database_url: str, store: Store, fault: str
) -> None:
    url, drop = _database_for(fault, database_url)
    with FaultyBotApi() as api:
        for chat in CHATS:
            add_chat(api, store, chat, now=DAY0)
        _news(store, DAY0.date(), DAY0 + timedelta(hours=1))
        _plan(store, DAY0 + timedelta(hours=1))
        now = DAY0 + timedelta(hours=3, seconds=5)
        config = _config(tmp_path / "config.toml", url, api=api)
        with Cli(config, tmp_path / "logs") as cli:
            run = cli.start("dispatch", "--once", now=now)
            assert _until(partial(api.wait_accepted, 5, 0.05), run)
            if drop is not None:
                assert drop() >= 1
                code = run.wait()
            else:
                with _write_lock_held(database_url, 2.0 if fault == "locked 2 s" else 7.0):
                    code = run.wait()
            # Done (0), a digest recorded as failed (1): both with the summary; or a clear
            # "database unavailable" (3). Never an unhandled crash.
            assert code in (0, 1, 3), run.output
            assert ("digests:" in run.output) if code < 3 else ("database error" in run.output)
            if fault == "locked 2 s":  # within the busy timeout: it just waited
                assert code == 0, run.output
            final = cli.run("dispatch", "--once", now=now + timedelta(seconds=LEASE_SECONDS + 1))
            assert final.returncode == 0, final.output
        seen = _check_exactly_once(api, store, [DAY0.date()])
    print(
        f"fan-out, {fault}: first run exit {code}; {seen.digests} digests, each once, "
        f"{seen.repeated} single messages accepted twice"
    )


# -- the Bot API down for a minute ---------------------------------------------------------

OUTAGE_CHATS = range(1, 7)
MINUTE = timedelta(minutes=1)


def _outage_config(path: Path, database_url: str, api: FaultyBotApi, timeout: float) -> Settings:
    """Every [delivery] setting at its default, except the request timeout."""
    path.write_text(
        f'data_dir = "state"\n[database]\nurl = "{database_url}"\n'
        f'[telegram]\ntoken = "{api.token}"\napi_base_url = "{api.base_url}"\n'
        f"[delivery]\nrequest_timeout = {timeout}\n",
        encoding="utf-8",
    )
    return load_config(path)


def _due_digests(api: FaultyBotApi, store: Store, chats: Sequence[int]) -> datetime:
    """Chats whose digests are due at 03:00 UTC (planned at 01:00); returns that time."""
    planned = DAY0 + timedelta(hours=1)
    for chat in chats:
        add_chat(api, store, chat, now=planned)
    add_articles(store, ["Solar plant opens", "Wind farm approved"], now=planned)
    _plan(store, planned)
    return DAY0 + timedelta(hours=3)


def _delivered_once_after(api: FaultyBotApi, store: Store, chats: Sequence[int]) -> list[datetime]:
    rows = [row for chat in chats for row in store.deliveries.of_chat(chat)]
    assert [row.state for row in rows] == ["sent"] * len(chats), rows
    assert {chat: len(api.messages(chat)) for chat in chats} == dict.fromkeys(chats, 1)
    return [row.sent_at for row in rows if row.sent_at is not None]


@pytest.mark.parametrize("kind", ["429", "hang"])
def test_a_minute_of_flood_control_or_hanging_requests_delays_every_digest_but_loses_none(
    tmp_path: Path, database_url: str, store: Store, kind: str
) -> None:
    with FaultyBotApi() as api:
        due = _due_digests(api, store, OUTAGE_CHATS)
        # 0.2 s of real time is the default 10 s request timeout on the fast clock.
        clock = FastClock(due, speed=50)
        settings = _outage_config(tmp_path / "config.toml", database_url, api, timeout=0.2)
        api.clock = clock
        api.outage(Outage(kind, until=due + MINUTE, retry_after=7))
        dispatcher, bot = build_dispatcher(settings, store, clock=clock, sleep=clock.sleep)

        async def ticks() -> None:
            # The worker's scheduler: a tick a minute, for ten minutes.
            async with bot:
                for tick in range(1, 11):
                    await dispatcher.run_once()
                    clock.jump(due + tick * MINUTE)

        asyncio.run(ticks())
    assert api.refused[kind] >= len(OUTAGE_CHATS)
    sent_at = _delivered_once_after(api, store, OUTAGE_CHATS)
    assert min(sent_at) >= due + MINUTE  # nothing got through the outage
    print(
        f"Bot API {kind} for a minute: {api.refused[kind]} requests refused; every digest "
        f"sent once, the last {max(sent_at) - due} after it was due"
    )


def test_a_minute_of_server_errors_delays_the_digest_but_loses_none(
    tmp_path: Path, database_url: str, store: Store
) -> None:
    # One chat and a clock that only waiting moves on: the retry times are exact.
    with FaultyBotApi() as api:
        due = _due_digests(api, store, [1])
        clock = FakeClock(due)
        settings = _outage_config(tmp_path / "config.toml", database_url, api, timeout=5)
        api.clock = clock
        api.outage(Outage("5xx", until=due + MINUTE))
        dispatcher, bot = build_dispatcher(settings, store, clock=clock, sleep=clock.sleep)

        async def ticks() -> None:
            async with bot:
                for tick in range(1, 11):
                    await dispatcher.run_once()
                    clock.now = max(clock.now, due + tick * MINUTE)

        asyncio.run(ticks())
    assert api.refused["5xx"] >= 1
    [sent_at] = _delivered_once_after(api, store, [1])
    assert sent_at >= due + MINUTE


# -- what a killed process leaves behind ---------------------------------------------------


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads Linux /proc")
def test_a_killed_collection_leaves_no_worker_process_behind(tmp_path: Path) -> None:
    outlets = Outlets(6)
    outlets.publish(datetime.now(UTC))
    url = f"sqlite:///{tmp_path / 'steppe.db'}"
    leftovers: dict[int, str] = {}
    with CountingFeedServer() as server, Store.open(url) as store:
        outlets.serve(server, delay=3.0)
        server.route("/f0.xml", rss(outlets.feeds[0], title="Outlet 0"))  # at once
        feeds = [server.url(f"/f{n}.xml") for n in range(outlets.count)]
        config = _config(tmp_path / "config.toml", url, feeds=feeds, workers=1)
        with Cli(config, tmp_path / "logs") as cli:
            run = cli.start("collect", "--once")
            # The worker process is up and has parsed the first feed; five are to come.
            assert _until(lambda: store.article_count() > 0, run)
            leftovers = children(run.pid)
            assert any("spawn" in command for command in leftovers.values())
            assert run.kill()
    try:
        deadline = time.monotonic() + 3.0
        while any(alive(pid) for pid in leftovers) and time.monotonic() < deadline:
            time.sleep(0.05)  # bounded: they have three seconds to notice
        running = {pid: cmd for pid, cmd in leftovers.items() if alive(pid)}
        assert running == {}
    finally:
        for pid in leftovers:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


# -- the test-only clock hook ----------------------------------------------------------------


def test_the_pinned_clock_starts_at_the_given_instant_and_runs_on() -> None:
    assert process_clock({})() - datetime.now(UTC) < timedelta(seconds=1)
    pinned = process_clock({TEST_CLOCK_VARIABLE: "2026-11-20T03:00:00+00:00"})
    first, second = pinned(), pinned()
    assert DAY0 + timedelta(hours=3) <= first <= second < DAY0 + timedelta(hours=3, minutes=1)
    for bad in ("tomorrow", "2026-11-20T03:00:00"):  # not a date; no UTC offset
        with pytest.raises(ConfigError, match=TEST_CLOCK_VARIABLE):
            process_clock({TEST_CLOCK_VARIABLE: bad})
