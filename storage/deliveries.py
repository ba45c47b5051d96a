"""The digest ledger: one row per chat and local date, claimed by workers, never doubled.

Reached as ``store.deliveries``. The exactly-once rules live here, in the database,
where every worker sees them:

* ``UNIQUE (chat_id, local_date)``: a chat's day has one row, whoever opens it;
* planning is compare-and-set on ``chats.next_digest_at``: two workers that planned the
  same chat at once cannot both move it (and the row insert ignores a conflict);
* a claim moves rows from ``pending`` to ``sending`` under a lease, taking them with
  ``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL (concurrent workers take
  different rows instead of waiting) and inside ``BEGIN IMMEDIATE`` on SQLite (one
  writer at a time); a row whose lease ran out belongs to a worker that died and is
  claimed again, resuming after its last recorded message;
* every later write names the worker (a fence): a worker whose row was taken over
  after its lease expired cannot record anything more on it.

The one thing no ledger can know is whether a message Telegram received in the instant
before a crash (or a timeout) was delivered; that one message may be sent again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Row, Table, and_, bindparam, case, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from storage.models import Chat, Delivery
from storage.records import (
    DELIVERY_EMPTY,
    DELIVERY_PENDING,
    DELIVERY_SENDING,
    DELIVERY_SENT,
    DELIVERY_SKIPPED,
    FINAL_DELIVERY_STATES,
    ChatHistory,
    ChatSchedule,
    SchedulePlan,
)
from storage.records import Delivery as DeliveryRecord

if TYPE_CHECKING:
    from storage.store import Store


_SKIPPED_REASON = "due longer ago than the grace period: not sent"


class Deliveries:
    """The ledger part of the store's interface; shares the store's engine."""

    def __init__(self, store: Store) -> None:
        self._store = store

    # -- planning ------------------------------------------------------------------------

    def schedules(self, now: datetime, *, limit: int = 1000) -> list[ChatSchedule]:
        """Chats that get digests and are due at ``now`` or were never planned.

        Paused and inactive chats are left out; their ``next_digest_at`` is reset when
        they come back (see :meth:`storage.chats.Chats.update`), so a chat never gets
        the digests it missed while paused.
        """
        now = _aware(now)
        stmt = (
            select(Chat.id, Chat.timezone, Chat.delivery_time, Chat.next_digest_at)
            .where(
                Chat.active.is_(True),
                Chat.paused.is_(False),
                or_(Chat.next_digest_at.is_(None), Chat.next_digest_at <= now),
            )
            .order_by(Chat.next_digest_at.is_(None).desc(), Chat.next_digest_at, Chat.id)
            .limit(max(limit, 0))
        )
        with self._store._read() as session:
            return [
                ChatSchedule(
                    chat_id=chat_id, timezone=zone, delivery_time=at, next_digest_at=next_at
                )
                for chat_id, zone, at, next_at in session.execute(stmt)
            ]

    def apply(self, plans: Sequence[SchedulePlan], *, now: datetime) -> int:
        """Apply scheduling decisions; returns how many ledger rows were opened.

        Each plan moves its chat's ``next_digest_at`` only if it still holds
        ``plan.expected`` (another worker may have planned it first: then this plan
        is dropped whole) and opens its rows, ignoring a date that already has one.
        The chats are read and locked first (``FOR UPDATE`` on PostgreSQL, in id
        order so two planners never deadlock; SQLite's write transaction serialises
        planners), then every update and every new row goes in one statement each.
        """
        now = _aware(now)
        if not plans:
            return 0
        chats = cast("Table", Chat.__table__)
        with self._store._write() as session:
            locked = session.execute(
                select(chats.c.id, chats.c.next_digest_at)
                .where(chats.c.id.in_(sorted({plan.chat_id for plan in plans})))
                .order_by(chats.c.id)
                .with_for_update()
            )
            current: dict[int, datetime | None] = {row.id: row.next_digest_at for row in locked}
            winners = [
                plan
                for plan in plans
                if plan.chat_id in current and _same_instant(current[plan.chat_id], plan.expected)
            ]
            if not winners:
                return 0
            session.execute(
                update(chats)
                .where(chats.c.id == bindparam("chat"))
                .values(next_digest_at=bindparam("next")),
                [{"chat": p.chat_id, "next": _aware(p.next_digest_at)} for p in winners],
            )
            rows = [
                {
                    "chat_id": plan.chat_id,
                    "local_date": opening.local_date,
                    "due_at": _aware(opening.due_at),
                    "state": DELIVERY_SKIPPED if opening.skipped else DELIVERY_PENDING,
                    "attempts": 0,
                    "not_before": _aware(opening.due_at),
                    "sent_parts": 0,
                    "error": "due longer ago than the grace period" if opening.skipped else None,
                    "created_at": now,
                    "updated_at": now,
                }
                for plan in winners
                for opening in plan.openings
            ]
            if not rows:
                return 0
            inserted = session.execute(
                self._insert_ignoring_conflict(session).returning(Delivery.id), rows
            )
            return len(inserted.all())

    def _insert_ignoring_conflict(self, session: Session) -> Any:
        """``INSERT INTO deliveries ... ON CONFLICT (chat_id, local_date) DO NOTHING``,
        for the caller's rows."""
        dialect = session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        return insert(Delivery).on_conflict_do_nothing(index_elements=["chat_id", "local_date"])

    # -- claiming and recording -----------------------------------------------------------

    def claim(
        self, now: datetime, *, worker: str, limit: int, lease: timedelta
    ) -> list[DeliveryRecord]:
        """Take up to ``limit`` rows to send now, oldest due first, for ``lease``.

        Claimable: ``pending`` rows whose ``not_before`` has come, and ``sending`` rows
        whose lease ran out (their worker died; the new claim resumes after the last
        message it recorded). Concurrent claimers never get the same row.
        """
        now = _aware(now)
        with self._store._write() as session:
            ids = list(
                session.scalars(
                    select(Delivery.id)
                    .where(
                        or_(
                            and_(Delivery.state == DELIVERY_PENDING, Delivery.not_before <= now),
                            and_(Delivery.state == DELIVERY_SENDING, Delivery.lease_until < now),
                        )
                    )
                    .order_by(Delivery.due_at, Delivery.id)
                    .limit(max(limit, 0))
                    # PostgreSQL: lock the rows, skipping those another claimer holds.
                    # SQLite renders no FOR UPDATE; its BEGIN IMMEDIATE serialises claims.
                    .with_for_update(skip_locked=True)
                )
            )
            if not ids:
                return []
            session.execute(
                update(Delivery)
                .where(Delivery.id.in_(ids))
                .values(
                    state=DELIVERY_SENDING,
                    worker=worker,
                    lease_until=now + lease,
                    attempts=Delivery.attempts + 1,
                    updated_at=now,
                )
                .execution_options(synchronize_session=False)
            )
            # Core, not the ORM: a fan-out claims every row it sends.
            table = cast("Table", Delivery.__table__)
            rows = session.execute(
                select(table).where(table.c.id.in_(ids)).order_by(table.c.due_at, table.c.id)
            )
            return [_record(row) for row in rows]

    def save_parts(
        self, delivery_id: int, *, worker: str, parts: Sequence[str], story_ids: Iterable[int]
    ) -> DeliveryRecord | None:
        """Fix a claimed row's content, unless it already has some (then that is kept:
        a resumed delivery sends what was built the first time). ``None`` if the row is
        no longer this worker's."""
        return self.save_many([(delivery_id, parts, story_ids)], worker=worker).get(delivery_id)

    def save_many(
        self, contents: Sequence[tuple[int, Sequence[str], Iterable[int]]], *, worker: str
    ) -> dict[int, DeliveryRecord]:
        """:meth:`save_parts` for many rows in one transaction: ``(delivery id, parts,
        story ids)`` each; returns the rows still this worker's, by id."""
        if not contents:
            return {}
        table = cast("Table", Delivery.__table__)
        ids = sorted({delivery_id for delivery_id, _, _ in contents})
        mine = (table.c.id.in_(ids), table.c.state == DELIVERY_SENDING, table.c.worker == worker)
        # Core, not the ORM: a fan-out builds every row it sends.
        with self._store._write_connection() as connection:
            held = dict(connection.execute(select(table.c.id, table.c.parts).where(*mine)).all())
            fixing: list[dict[str, Any]] = []
            for delivery_id, parts, stories in contents:
                if delivery_id in held and held[delivery_id] is None:
                    # A row's content is fixed once (the first, if one came twice).
                    held[delivery_id] = list(parts)
                    fixing.append(
                        {
                            "row": delivery_id,
                            "new_parts": list(parts),
                            "new_stories": sorted(set(stories)),
                        }
                    )
            if fixing:
                connection.execute(
                    update(table)
                    .where(table.c.id == bindparam("row"))
                    .values(parts=bindparam("new_parts"), story_ids=bindparam("new_stories")),
                    fixing,
                )
            return {row.id: _record(row) for row in connection.execute(select(table).where(*mine))}

    def part_sent(
        self, delivery_id: int, *, worker: str, index: int, now: datetime, lease: timedelta
    ) -> bool:
        """Record that message ``index`` went out (renewing the lease); the last one
        makes the row ``sent``. False if the row is no longer this worker's."""
        now = _aware(now)
        with self._store._write() as session:
            row = _held(session, delivery_id, worker)
            if row is None:
                return False
            row.sent_parts = max(row.sent_parts, index + 1)
            row.lease_until, row.updated_at = now + lease, now
            if row.parts is not None and row.sent_parts >= len(row.parts):
                row.state, row.sent_at = DELIVERY_SENT, now
                row.worker, row.lease_until = None, None
            return True

    def parts_sent(
        self,
        sent: Sequence[tuple[int, int, int]],
        *,
        worker: str,
        now: datetime,
        lease: timedelta,
    ) -> set[int]:
        """:meth:`part_sent` for many messages in one transaction: ``(delivery id,
        message index, messages in the row)`` each (the caller knows the count, so the
        rows' messages are not read back); returns the ids of the rows no longer this
        worker's. A fan-out records every message: this is its hot path."""
        now = _aware(now)
        if not sent:
            return set()
        table = cast("Table", Delivery.__table__)  # a mapped class's table is a Table
        # Core, not the ORM: this runs for every message a fan-out sends.
        with self._store._write_connection() as connection:
            held = set(
                connection.scalars(
                    select(table.c.id).where(
                        table.c.id.in_(sorted({delivery_id for delivery_id, _, _ in sent})),
                        table.c.state == DELIVERY_SENDING,
                        table.c.worker == worker,
                    )
                )
            )
            going: list[dict[str, Any]] = []
            done: list[dict[str, Any]] = []
            for delivery_id, index, total in sent:
                if delivery_id in held:
                    values = {"row": delivery_id, "count": index + 1}
                    (done if index + 1 >= total else going).append(values)
            progress = case(
                (table.c.sent_parts > bindparam("count"), table.c.sent_parts),
                else_=bindparam("count"),
            )
            if going:
                connection.execute(
                    update(table)
                    .where(table.c.id == bindparam("row"))
                    .values(sent_parts=progress, lease_until=now + lease, updated_at=now),
                    going,
                )
            if done:
                connection.execute(
                    update(table)
                    .where(table.c.id == bindparam("row"))
                    .values(
                        sent_parts=progress,
                        state=DELIVERY_SENT,
                        sent_at=now,
                        worker=None,
                        lease_until=None,
                        updated_at=now,
                    ),
                    done,
                )
            return {delivery_id for delivery_id, _, _ in sent if delivery_id not in held}

    def requeue(
        self, delivery_id: int, *, worker: str, not_before: datetime, error: str, now: datetime
    ) -> bool:
        """Give a claimed row back as ``pending`` until ``not_before`` (flood control,
        a retry later). False if the row is no longer this worker's."""
        now = _aware(now)
        with self._store._write() as session:
            row = _held(session, delivery_id, worker)
            if row is None:
                return False
            row.state, row.worker, row.lease_until = DELIVERY_PENDING, None, None
            row.not_before, row.error, row.updated_at = _aware(not_before), error, now
            return True

    def finish(
        self, delivery_id: int, *, worker: str, state: str, now: datetime, error: str | None = None
    ) -> bool:
        """Close a claimed row in a final state (see :data:`FINAL_DELIVERY_STATES`).

        ``empty`` counts as delivered (its ``sent_at`` is set: the next digest starts
        from it). False if the row is no longer this worker's.
        """
        if state not in FINAL_DELIVERY_STATES:
            raise ValueError(f"{state!r} is not a final delivery state")
        now = _aware(now)
        with self._store._write() as session:
            row = _held(session, delivery_id, worker)
            if row is None:
                return False
            row.state, row.error, row.updated_at = state, error, now
            row.worker, row.lease_until = None, None
            if state in (DELIVERY_SENT, DELIVERY_EMPTY):
                row.sent_at = now
            return True

    # -- reading ---------------------------------------------------------------------------

    def history(self, chat_ids: Iterable[int], *, since: datetime) -> dict[int, ChatHistory]:
        """For each chat, its last delivered digest (``sent`` or ``empty``) and the
        stories of the digests delivered or being delivered since ``since``."""
        ids = sorted(set(chat_ids))
        since = _aware(since)
        last: dict[int, datetime] = {}
        stories: dict[int, set[int]] = {}
        with self._store._read() as session:
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                for chat_id, sent_at, story_ids in session.execute(
                    select(Delivery.chat_id, Delivery.sent_at, Delivery.story_ids)
                    .where(Delivery.chat_id.in_(chunk), Delivery.due_at >= since)
                    .where(Delivery.state.in_((DELIVERY_SENT, DELIVERY_EMPTY, DELIVERY_SENDING)))
                ):
                    if sent_at is not None and (chat_id not in last or sent_at > last[chat_id]):
                        last[chat_id] = sent_at
                    stories.setdefault(chat_id, set()).update(story_ids or ())
        return {
            chat_id: ChatHistory(last.get(chat_id), frozenset(stories.get(chat_id, ())))
            for chat_id in ids
        }

    def of_chat(self, chat_id: int) -> list[DeliveryRecord]:
        """A chat's ledger, oldest date first (operators, tests)."""
        with self._store._read() as session:
            rows = session.scalars(
                select(Delivery).where(Delivery.chat_id == chat_id).order_by(Delivery.local_date)
            ).all()
            return [_record(row) for row in rows]

    def failures(self, *, since: datetime) -> list[DeliveryRecord]:
        """Rows that ended ``failed`` or ``skipped`` since ``since``: what an operator
        should look at."""
        since = _aware(since)
        with self._store._read() as session:
            rows = session.scalars(
                select(Delivery)
                .where(Delivery.state.in_(("failed", DELIVERY_SKIPPED)))
                .where(Delivery.updated_at >= since)
                .order_by(Delivery.updated_at)
            ).all()
            return [_record(row) for row in rows]

    def move_chat(self, session: Session, old_id: int, new_id: int) -> None:
        """Move a chat's ledger to its new id (inside the caller's transaction: a group
        that became a supergroup)."""
        session.execute(update(Delivery).where(Delivery.chat_id == old_id).values(chat_id=new_id))

    def forget_chat(self, session: Session, chat_id: int) -> None:
        """Delete a chat's ledger (inside the caller's transaction: ``/stop``)."""
        session.execute(delete(Delivery).where(Delivery.chat_id == chat_id))


def _same_instant(stored: datetime | None, expected: datetime | None) -> bool:
    """Compare-and-set on ``next_digest_at`` (read back aware, as its column type does)."""
    return stored == (None if expected is None else _aware(expected))


def _held(session: Session, delivery_id: int, worker: str) -> Delivery | None:
    row = session.get(Delivery, delivery_id)
    if row is None or row.state != DELIVERY_SENDING or row.worker != worker:
        return None
    return row


def _record(row: Delivery | Row[Any]) -> DeliveryRecord:
    """The record of an ORM row or a Core row of the whole table."""
    return DeliveryRecord(
        id=row.id,
        chat_id=row.chat_id,
        local_date=row.local_date,
        due_at=row.due_at,
        state=row.state,
        attempts=row.attempts,
        not_before=row.not_before,
        worker=row.worker,
        parts=None if row.parts is None else tuple(row.parts),
        story_ids=tuple(row.story_ids or ()),
        sent_parts=row.sent_parts,
        error=row.error,
        sent_at=row.sent_at,
    )


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"expected a timezone-aware datetime, got naive {value}")
    return value
