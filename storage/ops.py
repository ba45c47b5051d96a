"""What the operator's tools read and keep: metrics figures, health, feed alerts, backups.

Functions over an open :class:`~storage.store.Store` (they share its engine), but
:func:`compact`, which takes the URL: it needs the database to itself:

* :func:`snapshot` — a few aggregate queries, cheap enough to run at every
  Prometheus scrape: feeds ok/failing, articles, the digest ledger by state, late
  digests, and the delivery queue;
* :func:`ping` — does the database answer (``/healthz``);
* :func:`feed_alert_view` and :func:`save_feed_alerts` — each enabled feed's health
  beside its alert state (table ``feed_alerts``), for :mod:`jobs.feed_alerts`;
* :func:`backup` — a consistent copy of a SQLite database while the bot runs
  (SQLite's online backup API); PostgreSQL is refused, pointing to ``pg_dump``;
* :func:`compact` — a SQLite file rewritten (``VACUUM``) with the service stopped:
  free pages back to the file system, 16 KB pages for a database made with 4 KB.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import case, delete, func, or_, select
from sqlalchemy.exc import DBAPIError

from storage.engine import SQLITE_PAGE_SIZE, parse_url
from storage.errors import DatabaseUnavailableError, StorageError
from storage.models import Article, Chat, Delivery, Feed, FeedAlert
from storage.records import DELIVERY_PENDING, DELIVERY_SENDING, DELIVERY_SENT

if TYPE_CHECKING:
    from storage.store import Store


#: How far back :attr:`OpsSnapshot.digests_late` looks.
LATE_WINDOW = timedelta(days=1)


class BackupNotSupportedError(StorageError):
    """The database is not a SQLite file (PostgreSQL has ``pg_dump`` for this)."""


class CompactNotSupportedError(StorageError):
    """The database is not a SQLite file (PostgreSQL's autovacuum reclaims space)."""


class DatabaseInUseError(StorageError):
    """Another process has the SQLite database open; stop it first."""


@dataclass(frozen=True, slots=True)
class OpsSnapshot:
    """The figures of one metrics scrape, read in one transaction."""

    feeds_ok: int
    """Enabled feeds whose last attempt succeeded (or that were never tried)."""
    feeds_failing: int
    """Enabled feeds whose last attempt failed."""
    feeds_disabled: int
    articles: int
    digests: Mapping[str, int]
    """Ledger rows by state (``sent``, ``empty``, ``failed``, ``skipped``, ...)."""
    digests_late: int
    """``sent`` digests due in the last day (:data:`LATE_WINDOW`) that went out more
    than ``late_after`` after they were due."""
    queue_depth: int
    """Digests due now and not delivered yet: ledger rows ``pending``/``sending`` due
    at or before now, plus chats whose next digest is due but not planned yet."""
    chats_active: int


@dataclass(frozen=True, slots=True)
class FeedAlertView:
    """An enabled feed's health beside its alert state (no row: ``failing_since`` None)."""

    feed_id: int
    key: str
    name: str
    enabled: bool
    consecutive_failures: int
    last_success_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    failing_since: datetime | None
    alerted_at: datetime | None


@dataclass(frozen=True, slots=True)
class FeedAlertState:
    """What to store for a feed: ``failing_since`` None deletes its alert row."""

    feed_id: int
    failing_since: datetime | None
    alerted_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class BackupResult:
    path: Path
    bytes: int
    articles: int


def snapshot(store: Store, *, now: datetime, late_after: timedelta) -> OpsSnapshot:
    """The metrics figures at ``now`` (aggregates only; no row is loaded)."""
    now = _aware(now)
    with store._read() as session:

        def count(stmt: Any) -> int:
            return int(session.scalar(stmt) or 0)

        failing_now = func.sum(case((Feed.consecutive_failures > 0, 1), else_=0))
        ok = failing = disabled = 0
        for enabled, failed, number in session.execute(
            select(Feed.enabled, failing_now, func.count()).group_by(Feed.enabled)
        ):
            if not enabled:
                disabled += int(number)
            else:
                failing += int(failed or 0)
                ok += int(number) - int(failed or 0)
        by_state = {
            str(state): int(number)
            for state, number in session.execute(
                select(Delivery.state, func.count()).group_by(Delivery.state)
            )
        }
        # "sent_at - due_at > late_after" needs interval arithmetic that differs by
        # backend; the last day's rows sent after their due time are few: compare here.
        late = 0
        for due_at, sent_at in session.execute(
            select(Delivery.due_at, Delivery.sent_at).where(
                Delivery.state == DELIVERY_SENT,
                Delivery.due_at >= now - LATE_WINDOW,
                Delivery.sent_at > Delivery.due_at,
            )
        ):
            if sent_at is not None and sent_at - due_at > late_after:
                late += 1
        queued = count(
            select(func.count())
            .select_from(Delivery)
            .where(
                Delivery.state.in_((DELIVERY_PENDING, DELIVERY_SENDING)),
                Delivery.due_at <= now,
            )
        )
        unplanned = count(
            select(func.count())
            .select_from(Chat)
            .where(
                Chat.active.is_(True),
                Chat.paused.is_(False),
                Chat.next_digest_at.is_not(None),
                Chat.next_digest_at <= now,
            )
        )
        return OpsSnapshot(
            feeds_ok=ok,
            feeds_failing=failing,
            feeds_disabled=disabled,
            articles=count(select(func.count()).select_from(Article)),
            digests=by_state,
            digests_late=late,
            queue_depth=queued + unplanned,
            chats_active=count(select(func.count()).select_from(Chat).where(Chat.active.is_(True))),
        )


def ping(store: Store) -> bool:
    """True when the database answers a trivial query; never raises."""
    try:
        with store._connect() as connection:
            connection.exec_driver_sql("SELECT 1")
    except (StorageError, DBAPIError, OSError):
        return False
    return True


# -- feed alerts ---------------------------------------------------------------------------


def feed_alert_view(store: Store) -> list[FeedAlertView]:
    """Every enabled feed, and every feed with an alert row, by key."""
    stmt = (
        select(Feed, FeedAlert.failing_since, FeedAlert.alerted_at)
        .outerjoin(FeedAlert, FeedAlert.feed_id == Feed.id)
        .where(or_(Feed.enabled.is_(True), FeedAlert.feed_id.is_not(None)))
        .order_by(Feed.key)
    )
    with store._read() as session:
        return [
            FeedAlertView(
                feed_id=feed.id,
                key=feed.key,
                name=feed.name,
                enabled=feed.enabled,
                consecutive_failures=feed.consecutive_failures,
                last_success_at=feed.last_success_at,
                last_error=feed.last_error,
                last_error_at=feed.last_error_at,
                failing_since=failing_since,
                alerted_at=alerted_at,
            )
            for feed, failing_since, alerted_at in session.execute(stmt)
        ]


def save_feed_alerts(store: Store, states: Sequence[FeedAlertState]) -> None:
    """Write alert states in one transaction (insert, update, or delete the row)."""
    if not states:
        return
    with store._write() as session:
        gone = [s.feed_id for s in states if s.failing_since is None]
        if gone:
            session.execute(delete(FeedAlert).where(FeedAlert.feed_id.in_(gone)))
        kept = {s.feed_id: s for s in states if s.failing_since is not None}
        if not kept:
            return
        rows = {
            row.feed_id: row
            for row in session.scalars(select(FeedAlert).where(FeedAlert.feed_id.in_(kept)))
        }
        for feed_id, state in kept.items():
            assert state.failing_since is not None
            row = rows.get(feed_id)
            if row is None:
                session.add(
                    FeedAlert(
                        feed_id=feed_id,
                        failing_since=_aware(state.failing_since),
                        alerted_at=state.alerted_at and _aware(state.alerted_at),
                    )
                )
            else:
                row.failing_since = _aware(state.failing_since)
                row.alerted_at = state.alerted_at and _aware(state.alerted_at)


# -- backup --------------------------------------------------------------------------------


def backup(store: Store, target: Path) -> BackupResult:
    """Copy the SQLite database to ``target`` (a file; its directory is created).

    Uses SQLite's online backup API on a connection of the running store, so the
    copy is one consistent snapshot even while the bot and the collector write (in
    WAL mode readers do not block them). The copy is written beside ``target`` and
    renamed into place, so ``target`` is either the old file or a complete backup.
    Raises :class:`BackupNotSupportedError` for PostgreSQL, :class:`StorageError`
    when the copy fails.
    """
    engine = store._engine
    if engine.dialect.name != "sqlite":
        raise BackupNotSupportedError(
            f"steppe db backup copies SQLite databases only; {store.url} is "
            f"{engine.dialect.name}: use pg_dump (e.g. pg_dump -Fc -f steppe.dump DBNAME)"
        )
    source_file = engine.url.database or ""
    target = target.expanduser().resolve()
    if source_file and Path(source_file).resolve() == target:
        raise StorageError(f"the backup would overwrite the database itself: {target}")
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, scratch = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(handle)
    try:
        raw = engine.raw_connection()
        try:
            source = raw.driver_connection
            assert isinstance(source, sqlite3.Connection)
            copy = sqlite3.connect(scratch)
            try:
                source.backup(copy)
                # A single file: the copy carries no WAL beside it.
                copy.execute("PRAGMA journal_mode = DELETE")
                articles = int(copy.execute("SELECT count(*) FROM articles").fetchone()[0])
            finally:
                copy.close()
        finally:
            raw.close()
        os.replace(scratch, target)
    except sqlite3.Error as exc:
        raise StorageError(f"backup to {target} failed: {exc}") from exc
    finally:
        if os.path.exists(scratch):
            os.unlink(scratch)
    return BackupResult(path=target, bytes=target.stat().st_size, articles=articles)


@dataclass(frozen=True, slots=True)
class CompactResult:
    path: Path
    bytes_before: int
    """The database file with its write-ahead log, before."""
    bytes_after: int
    page_size_before: int
    page_size: int


def compact(database_url: str) -> CompactResult:
    """Rewrite a SQLite database with ``VACUUM``, in the pages new databases get
    (:data:`storage.engine.SQLITE_PAGE_SIZE`).

    The pages freed by deleted articles go back to the file system, and a database
    created with 4 KB pages gets 16 KB ones. ``VACUUM`` needs free disk space about the
    size of the database, and the database to itself: while another process has it
    open (``steppe run``), this raises :class:`DatabaseInUseError` and changes nothing.
    Raises :class:`CompactNotSupportedError` for PostgreSQL,
    :class:`DatabaseUnavailableError` when there is no such file.
    """
    url = parse_url(database_url)  # as the store reads it; a bad URL is never echoed
    if url.get_backend_name() != "sqlite":
        raise CompactNotSupportedError(
            f"steppe db compact rewrites SQLite files only; this database is "
            f"{url.get_backend_name()}: PostgreSQL's autovacuum reclaims the space of "
            "deleted rows (VACUUM FULL would rewrite the tables, locking them)"
        )
    path = Path(url.database or "").expanduser()
    if not url.database or not path.is_file():
        raise DatabaseUnavailableError(f"no SQLite database file at {path}")
    before = _sqlite_bytes(path)
    # Autocommit: VACUUM cannot run in a transaction. No busy timeout: a database in
    # use is reported at once.
    connection = sqlite3.connect(path, isolation_level=None, timeout=0)
    try:
        page_before = int(connection.execute("PRAGMA page_size").fetchone()[0])
        # The page size of a WAL database cannot change: leaving WAL needs the
        # database to ourselves, which is also what VACUUM needs.
        mode = str(connection.execute("PRAGMA journal_mode = DELETE").fetchone()[0])
        if mode.lower() != "delete":
            raise DatabaseInUseError(_in_use(path))
        try:
            connection.execute(f"PRAGMA page_size = {SQLITE_PAGE_SIZE}")
            connection.execute("VACUUM")
        finally:
            connection.execute("PRAGMA journal_mode = WAL")
        page_after = int(connection.execute("PRAGMA page_size").fetchone()[0])
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            raise DatabaseInUseError(_in_use(path)) from exc
        raise StorageError(f"compacting {path} failed: {exc}") from exc
    except sqlite3.Error as exc:
        raise StorageError(f"compacting {path} failed: {exc}") from exc
    finally:
        connection.close()
    return CompactResult(path, before, _sqlite_bytes(path), page_before, page_after)


def _in_use(path: Path) -> str:
    return f"{path} is in use by another process: stop steppe first, then compact it"


def _sqlite_bytes(path: Path) -> int:
    """The database file and its write-ahead log, if any."""
    wal = path.with_name(path.name + "-wal")
    return path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"expected a timezone-aware datetime, got naive {value}")
    return value


__all__ = [
    "BackupNotSupportedError",
    "BackupResult",
    "CompactNotSupportedError",
    "CompactResult",
    "DatabaseInUseError",
    "FeedAlertState",
    "FeedAlertView",
    "OpsSnapshot",
    "backup",
    "compact",
    "feed_alert_view",
    "ping",
    "save_feed_alerts",
    "snapshot",
]
