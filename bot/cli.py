"""The ``steppe`` command line: run the service and operate it.

Exit codes: 0 success; 1 the command ran but found problems (``check-config`` /
``db check``); 2 bad usage or bad configuration; 3 the database is unavailable.
A collection whose feeds failed still exits 0: failures are in the report.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO
from urllib.parse import urlsplit

from bot.alerts import AdminNotifier, after_collection
from bot.config import ConfigError, Settings, load_config
from bot.demo import run_demo
from bot.i18n import Translator
from bot.logs import configure_logging
from bot.metrics import build_registry
from bot.ops_server import OpsServer
from bot.search_output import marks_for, print_search_results
from bot.telegram.digest_render import render_digest, visible_text
from bot.telegram.digest_wiring import build_dispatcher, selection_settings
from bot.telegram.runner import BotRunner
from bot.telegram.wiring import bot_runner
from bot.wiring import (
    build_classifier,
    collect_settings,
    feed_specs,
    open_store,
    process_clock,
)
from jobs import heap
from jobs.classify import classify_json_lines
from jobs.collect import CollectionReport, Collector, FeedStatus
from jobs.digest.dispatch import DispatchReport
from jobs.digest.preview import preview
from jobs.reclassify import reclassify_archive
from jobs.scheduler import WorkerScheduler
from jobs.telemetry import log_event
from storage import FeedState, MigrationError, StorageError, Store, mask_url
from storage import check as check_schema
from storage import upgrade as upgrade_schema
from storage.ops import BackupNotSupportedError, CompactNotSupportedError
from storage.ops import backup as backup_database
from storage.ops import compact as compact_database
from storage.search.results import SearchStatus

log = logging.getLogger("steppe")

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_USAGE = 2
EXIT_DATABASE = 3

ROLES = ("all", "bot", "worker")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="steppe",
        description="Steppe Digest: Central Asian tech news, collected, classified, delivered.",
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        metavar="PATH",
        help="TOML configuration file (default: ./config.toml, else config.example.toml)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run", help="run the service: scheduled collection, digest delivery, the bot"
    )
    run.add_argument(
        "--role",
        choices=ROLES,
        default="all",
        help="bot: take updates; worker: collect (one worker at a time) and deliver "
        "digests; all (default): both in one process",
    )
    digest = commands.add_parser("digest", help="show a chat's next digest without sending it")
    digest.add_argument(
        "--preview", type=int, required=True, metavar="CHAT_ID", help="the chat's Telegram id"
    )
    dispatch = commands.add_parser("dispatch", help="deliver the digests that are due")
    dispatch.add_argument(
        "--once", action="store_true", required=True, help="send what is due now, then exit"
    )
    demo = commands.add_parser(
        "demo", help="try the bot in this terminal: local Bot API, sample feeds, no token"
    )
    demo.add_argument(
        "--language", default="en", metavar="CODE", help="your Telegram language (en, ru, kk, uz)"
    )

    collect = commands.add_parser("collect", help="collect the feeds")
    collect.add_argument(
        "--once", action="store_true", help="run one pass over every enabled feed and exit"
    )
    collect.add_argument(
        "--feed", action="append", default=[], metavar="KEY", help="only this feed (repeatable)"
    )

    commands.add_parser("check-config", help="validate the configuration and show it")
    commands.add_parser("feeds", help="list the feeds with their health")
    commands.add_parser(
        "classify",
        help="classify JSON Lines from stdin: {title, text, language?} -> topics, countries",
    )
    commands.add_parser("reclassify", help="re-apply the classifier rules to the whole archive")

    find = commands.add_parser(
        "find",
        help="search the archive",
        description=(
            'Search the archive. Plain words must all match; "quoted phrases"; -excluded; '
            "filters topic:energy country:uz lang:ru since:7d since:2026-01-01."
        ),
    )
    find.add_argument("query", nargs="+", help="the query (several arguments are joined)")
    find.add_argument(
        "--limit", type=_positive, default=10, metavar="N", help="results per page (default 10)"
    )
    find.add_argument("--page", type=_positive, default=1, metavar="N", help="page (default 1)")
    commands.add_parser("reindex", help="rebuild the search index from the archive")

    db = commands.add_parser("db", help="database maintenance")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    db_commands.add_parser("upgrade", help="migrate the schema to the newest revision")
    db_commands.add_parser("check", help="verify the schema matches the models (no drift)")
    backup = db_commands.add_parser(
        "backup",
        help="copy the SQLite database (consistent while the bot runs); PostgreSQL: pg_dump",
    )
    backup.add_argument(
        "path",
        nargs="?",
        type=Path,
        default=None,
        metavar="PATH",
        help="the backup file, or a directory for a timestamped one "
        "(default: <data_dir>/backups/steppe-YYYYmmdd-HHMMSS.db)",
    )
    db_commands.add_parser(
        "compact",
        help="rewrite the SQLite file (VACUUM) with the service stopped: "
        "reclaim deleted articles' space, upgrade to 16 KB pages",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_config(args.config)
        if args.command != "classify":
            configure_logging(settings.log_level, _secrets(settings), fmt=settings.log_format)
        return _dispatch(args, settings)
    except ConfigError as exc:
        print(f"steppe: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except StorageError as exc:
        print(f"steppe: database error: {exc}", file=sys.stderr)
        return EXIT_DATABASE
    except KeyboardInterrupt:
        return 130


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    command: str = args.command
    if command == "check-config":
        return _check_config(settings, sys.stdout)
    if command == "classify":
        return _classify(settings, sys.stdin, sys.stdout)
    if command == "run":
        return _run(settings, args.role)
    if command == "digest":
        return _preview(settings, args.preview, sys.stdout)
    if command == "dispatch":
        return _dispatch_once(settings, sys.stdout)
    if command == "demo":
        return run_demo(settings, sys.stdin, sys.stdout, language=args.language)
    if command == "collect":
        if not args.once:
            return _run(settings)
        return _collect_once(settings, args.feed, sys.stdout)
    if command == "feeds":
        with open_store(settings) as store:
            _print_feeds(store.feed_states(enabled_only=False), sys.stdout)
        return EXIT_OK
    if command == "reclassify":
        return _reclassify(settings, sys.stdout)
    if command == "db":
        if args.db_command == "backup":
            return _backup(settings, args.path, sys.stdout)
        if args.db_command == "compact":
            return _compact(settings, sys.stdout)
        return _db(args.db_command, settings, sys.stdout)
    if command == "find":
        return _find(settings, " ".join(args.query), args.limit, args.page, sys.stdout)
    if command == "reindex":
        with open_store(settings) as store:
            count = store.rebuild_search_index()
        print(f"search index rebuilt: {count} articles", file=sys.stdout)
        return EXIT_OK
    raise AssertionError(f"unhandled command {command!r}")


# -- commands ---------------------------------------------------------------------------


def _check_config(settings: Settings, out: TextIO) -> int:
    build_classifier(settings)  # validates the [classifier] overrides
    enabled = [feed for feed in settings.feeds if feed.enabled]
    token_set = bool(settings.telegram.token.get_secret_value())
    print(f"configuration OK: {settings.source}", file=out)
    print(f"  data directory   {settings.data_dir}", file=out)
    print(f"  database         {mask_url(settings.database_url)}", file=out)
    print(f"  telegram token   {'set' if token_set else 'not set'}", file=out)
    print(f"  bot API          {settings.telegram.api_base_url}", file=out)
    print(f"  admins           {len(settings.telegram.admins)}", file=out)
    collection = settings.collection
    hints = (
        f"longer when a feed asks, up to {collection.max_refresh_hint_hours:g} h"
        if collection.max_refresh_hint_hours
        else "feeds' refresh hints ignored"
    )
    print(f"  collect every    {collection.interval_minutes} min ({hints})", file=out)
    keep_days = settings.collection.keep_days
    print(f"  keep articles    {f'{keep_days} days' if keep_days else 'for ever'}", file=out)
    print(f"  classifier       {'overridden' if settings.classifier else 'defaults'}", file=out)
    print(f"  feeds            {len(enabled)} enabled of {len(settings.feeds)}", file=out)
    for feed in settings.feeds:
        state = "" if feed.enabled else " (disabled)"
        language = feed.language or "auto"
        print(
            f"    {feed.key:<18} {language:<4} {feed.country:<3} {feed.url}{state}",
            file=out,
        )
    if not settings.feeds:
        print("  warning: no [[feeds]] configured: nothing will be collected", file=out)
    return EXIT_OK


def _classify(settings: Settings, source: TextIO, out: TextIO) -> int:
    classifier = build_classifier(settings)
    for line in classify_json_lines(source, classifier):
        out.write(line + "\n")
        out.flush()
    return EXIT_OK


def _collect_once(settings: Settings, only: Sequence[str], out: TextIO) -> int:
    known = {feed.key for feed in settings.feeds}
    unknown = [key for key in only if key not in known]
    if unknown:
        raise ConfigError(settings.source, "feeds", f"no feed with key {', '.join(unknown)}")
    classifier = build_classifier(settings)
    clock = process_clock()
    with (
        open_store(settings) as store,
        Collector(store, classifier, collect_settings(settings), clock=clock) as collector,
    ):
        report = asyncio.run(collector.run(force=True, only=only))
    print_report(report, out)
    return EXIT_OK


def _reclassify(settings: Settings, out: TextIO) -> int:
    classifier = build_classifier(settings)
    with open_store(settings) as store:
        report = reclassify_archive(
            store, classifier, progress=lambda n: print(f"  {n} articles...", file=out)
        )
    print(f"reclassified {report.articles} articles", file=out)
    return EXIT_OK


def _find(settings: Settings, query: str, limit: int, page: int, out: TextIO) -> int:
    with open_store(settings) as store:
        results = store.find(query, now=datetime.now(UTC), limit=limit, offset=(page - 1) * limit)
    print_search_results(results, out, marks=marks_for(out))
    return EXIT_USAGE if results.status in (SearchStatus.TOO_LONG, SearchStatus.EMPTY) else EXIT_OK


def _db(action: str, settings: Settings, out: TextIO) -> int:
    url = settings.database_url
    if action == "upgrade":
        upgrade_schema(url)
        print(f"database schema is up to date: {mask_url(url)}", file=out)
        return EXIT_OK
    try:
        check_schema(url)
    except MigrationError as exc:
        print(f"the database schema differs from the models: {exc}", file=out)
        return EXIT_PROBLEMS
    print("database schema matches the models", file=out)
    return EXIT_OK


def _backup(settings: Settings, path: Path | None, out: TextIO) -> int:
    """``steppe db backup [PATH]``: exit 0 with the copy made, 2 on PostgreSQL."""
    stamp = datetime.now(UTC).strftime("steppe-%Y%m%d-%H%M%S.db")
    if path is None:
        path = settings.data_dir / "backups" / stamp
    elif path.is_dir():
        path = path / stamp
    with open_store(settings, upgrade=False) as store:
        try:
            result = backup_database(store, path)
        except BackupNotSupportedError as exc:
            print(f"steppe: {exc}", file=sys.stderr)
            return EXIT_USAGE
    print(
        f"backup written: {result.path} ({result.bytes} bytes, {result.articles} articles)",
        file=out,
    )
    return EXIT_OK


def _compact(settings: Settings, out: TextIO) -> int:
    """``steppe db compact``: exit 0 when done, 2 on PostgreSQL; while the database is
    in use (or missing) the storage error gives 3, as for every command."""
    try:
        result = compact_database(settings.database_url)
    except CompactNotSupportedError as exc:
        print(f"steppe: {exc}", file=sys.stderr)
        return EXIT_USAGE
    pages = (
        f"{result.page_size} B pages"
        if result.page_size == result.page_size_before
        else f"pages {result.page_size_before} -> {result.page_size} B"
    )
    print(
        f"compacted {result.path}: {result.bytes_before:,} -> {result.bytes_after:,} bytes"
        f" ({pages})",
        file=out,
    )
    return EXIT_OK


def _preview(settings: Settings, chat_id: int, out: TextIO) -> int:
    with open_store(settings) as store:
        chat = store.chats.get(chat_id)
        if chat is None:
            print(f"steppe: no chat with id {chat_id}", file=sys.stderr)
            return EXIT_PROBLEMS
        digest = preview(store, chat, datetime.now(UTC), selection_settings(settings))
    messages = render_digest(Translator(), chat, digest)
    for number, message in enumerate(messages, start=1):
        if len(messages) > 1:
            print(f"--- message {number} of {len(messages)} ---", file=out)
        print(visible_text(message), file=out)
    return EXIT_OK


def _dispatch_once(settings: Settings, out: TextIO) -> int:
    if not settings.telegram.token.get_secret_value():
        raise ConfigError(settings.source, "telegram.token", "needed to send digests")
    with open_store(settings) as store:
        report = asyncio.run(_deliver_due(settings, store))
    print_dispatch_report(report, out)
    return EXIT_PROBLEMS if report.failed else EXIT_OK


async def _deliver_due(settings: Settings, store: Store) -> DispatchReport:
    dispatcher, telegram_bot = build_dispatcher(settings, store, clock=process_clock())
    async with telegram_bot:
        return await dispatcher.run_once()


def _run(settings: Settings, role: str = "all") -> int:
    classifier = build_classifier(settings)
    token_set = bool(settings.telegram.token.get_secret_value())
    with (
        open_store(settings) as store,
        Collector(store, classifier, collect_settings(settings)) as collector,
    ):
        bot: BotRunner | None = None
        if role in ("all", "bot"):
            if token_set:
                bot = bot_runner(settings, store, collector if role == "all" else None)
            elif role == "bot":
                raise ConfigError(settings.source, "telegram.token", "needed for --role bot")
            else:
                log_event(log, "collector_only", reason="no Telegram token configured")
        working = role in ("all", "worker")
        if working:
            collector.start()
            log_event(log, "started", role=role, feeds=sum(f.enabled for f in feed_specs(settings)))
        asyncio.run(_serve(settings, store, collector if working else None, bot, token_set))
    return EXIT_OK


async def _serve(
    settings: Settings,
    store: Store,
    collector: Collector | None,
    bot: BotRunner | None,
    deliver: bool,
) -> None:
    """The worker's jobs (with a collector) and the bot, in one event loop, until a signal."""
    telegram_bot = None
    dispatcher = None
    if collector is not None and deliver:
        dispatcher, telegram_bot = build_dispatcher(settings, store)
        await telegram_bot.initialize()
    notifier = None
    if telegram_bot is not None and settings.alerts.enabled and settings.telegram.admins:
        notifier = AdminNotifier(telegram_bot, Translator(), store, settings.telegram.admins)
    scheduler = WorkerScheduler(
        store,
        dispatcher=dispatcher,
        collector=collector,
        after_collect=after_collection(
            store,
            notifier,
            failing_for=timedelta(hours=settings.alerts.feed_failing_hours),
            clock=lambda: datetime.now(UTC),
        ),
    )
    metrics = _metrics_server(settings, store)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # not on Windows
            loop.add_signal_handler(signum, stop.set)
    scheduler.start()
    try:
        if bot is not None:
            await bot.start()
        # Start-up is over: what it built lives as long as the process (jobs.heap).
        heap.settle()
        await stop.wait()
    finally:
        log.info("shutting down")
        if bot is not None:
            await bot.stop()
        scheduler.shutdown()
        if metrics is not None:
            metrics.stop()
        if collector is not None:
            await collector.wait_idle()  # let a collection in progress finish its writes
        if telegram_bot is not None:
            await telegram_bot.shutdown()


def _metrics_server(settings: Settings, store: Store) -> OpsServer | None:
    """The ``[metrics]`` endpoint, started; ``None`` when it is off."""
    config = settings.metrics
    if not config.enabled:
        return None
    server = OpsServer(
        store,
        build_registry(store, late_after=timedelta(minutes=config.late_after_minutes)),
        listen=config.listen,
        port=config.port,
    )
    try:
        server.start()
    except OSError as exc:
        raise ConfigError(
            settings.source,
            "metrics.port",
            f"cannot listen on {config.listen}:{config.port}: {exc}",
        ) from None
    return server


# -- output -----------------------------------------------------------------------------


def _count(number: int, noun: str, plural: str | None = None) -> str:
    """``1 article``, ``2 articles``."""
    return f"{number} {noun if number == 1 else plural or noun + 's'}"


def print_report(report: CollectionReport, out: TextIO) -> None:
    """The per-feed table of ``steppe collect --once``."""
    print(f"{'FEED':<18} {'STATUS':<13} {'NEW':>5} {'UPD':>5} {'SAME':>5}  NOTE", file=out)
    for feed in report.feeds:
        note = ""
        if feed.status is FeedStatus.FAILED:
            when = _short_time(feed.next_attempt_at)
            note = f"{feed.error} (next try {when})"
        else:
            notes = list(feed.warnings)
            if feed.skipped:
                notes.append(f"{feed.skipped} entries skipped (no usable link)")
            if feed.expired:
                notes.append(
                    f"{_count(feed.expired, 'entry', 'entries')} past keep_days not stored"
                )
            if feed.refresh_hint is not None:
                minutes = round(feed.refresh_hint.total_seconds() / 60)
                when = _short_time(feed.next_attempt_at)
                notes.append(f"the outlet asks to wait {minutes} min: next fetch {when}")
            note = "; ".join(notes)
        print(
            f"{feed.key:<18} {feed.status.value:<13} {feed.new:>5} {feed.updated:>5} "
            f"{feed.unchanged:>5}  {note}",
            file=out,
        )
    seconds = (report.finished_at - report.started_at).total_seconds()
    print(
        f"{len(report.feeds)} feeds: {report.new} new, {report.updated} updated, "
        f"{report.failed} failed, {report.not_due} not due ({seconds:.1f} s)",
        file=out,
    )
    if report.pruned:
        print(f"{_count(report.pruned, 'article')} past keep_days deleted", file=out)


def print_dispatch_report(report: DispatchReport, out: TextIO) -> None:
    """The summary of ``steppe dispatch --once``."""
    print(
        f"digests: {report.sent} sent, {report.empty} with nothing new, "
        f"{report.requeued} requeued, {report.failed} failed, {report.blocked} blocked, "
        f"{report.skipped} skipped (due before the grace period); "
        f"{report.messages} messages, {report.plain_fallbacks} sent as plain text",
        file=out,
    )
    for error in report.errors:
        print(f"  problem: {error}", file=out)


def _print_feeds(states: Sequence[FeedState], out: TextIO) -> None:
    print(
        f"{'FEED':<18} {'ARTICLES':>8} {'LAST SUCCESS':<17} {'FAILS':>5} "
        f"{'NEXT TRY':<17} LAST ERROR",
        file=out,
    )
    for state in states:
        key = state.spec.key + ("" if state.spec.enabled else " (off)")
        print(
            f"{key:<18} {state.article_count:>8} {_short_time(state.last_success_at):<17} "
            f"{state.consecutive_failures:>5} {_short_time(state.next_attempt_at):<17} "
            f"{state.last_error or ''}",
            file=out,
        )


def _short_time(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if moment else "-"


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, not {value!r}")
    return number


def _secrets(settings: Settings) -> list[str]:
    secrets = [settings.telegram.token.get_secret_value()]
    password = urlsplit(settings.database_url).password
    if password:
        secrets.append(password)
    return secrets
