"""Telling the operators about feeds that fail for a day, once, and once when they recover.

:func:`decide_feed_alerts` (pure) looks at every feed's health beside its stored alert
state (:class:`storage.ops.FeedAlertView`) and returns what to say and what to store:

* a feed seen failing for the first time gets an alert row whose ``failing_since`` is
  its last failed attempt (the job runs after every collection, so that is the first
  failure of the run; a feed already failing when alerts were switched on is timed
  from when it was first seen, which can only delay its alert, never hurry it);
* a feed failing for at least ``after`` (a day) whose admins were not told yet: an
  alert, and ``alerted_at`` is stored, so the next failing runs say nothing;
* a feed that succeeded again: its row goes, with a "recovered" message only if an
  alert had been sent. A disabled feed's row goes silently.

:func:`check_feed_alerts` runs it against the store after a collection and sends
through an :class:`AlertSender` (the bot's, to each admin's private chat). A message
that could not be sent to anyone is tried again after the next collection.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from jobs.telemetry import log_event
from storage import Store
from storage.ops import FeedAlertState, FeedAlertView, feed_alert_view, save_feed_alerts

log = logging.getLogger(__name__)

#: A feed failing this long is reported.
DEFAULT_AFTER = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class FeedAlert:
    """A feed that has been failing for a day."""

    feed_id: int
    key: str
    name: str
    failing_since: datetime
    failures: int
    last_error: str


@dataclass(frozen=True, slots=True)
class FeedRecovery:
    """A reported feed that works again."""

    feed_id: int
    key: str
    name: str
    failing_since: datetime
    recovered_at: datetime


@dataclass(frozen=True, slots=True)
class AlertDecision:
    alerts: tuple[FeedAlert, ...] = ()
    recoveries: tuple[FeedRecovery, ...] = ()
    states: tuple[FeedAlertState, ...] = ()
    """Alert rows to write (``failing_since`` None: delete), assuming every message
    goes out."""


def decide_feed_alerts(
    feeds: Sequence[FeedAlertView], now: datetime, *, after: timedelta = DEFAULT_AFTER
) -> AlertDecision:
    """What to tell the admins at ``now`` and which alert rows to write (pure)."""
    alerts: list[FeedAlert] = []
    recoveries: list[FeedRecovery] = []
    states: list[FeedAlertState] = []
    for feed in feeds:
        if not feed.enabled:
            if feed.failing_since is not None:
                states.append(FeedAlertState(feed.feed_id, None))
            continue
        if feed.consecutive_failures > 0:
            since = feed.failing_since
            if since is None:
                since = feed.last_error_at or now
            alerted_at = feed.alerted_at
            if alerted_at is None and now - since >= after:
                alerted_at = now
                alerts.append(
                    FeedAlert(
                        feed_id=feed.feed_id,
                        key=feed.key,
                        name=feed.name,
                        failing_since=since,
                        failures=feed.consecutive_failures,
                        last_error=feed.last_error or "unknown error",
                    )
                )
            if (since, alerted_at) != (feed.failing_since, feed.alerted_at):
                states.append(FeedAlertState(feed.feed_id, since, alerted_at))
        elif feed.failing_since is not None:
            states.append(FeedAlertState(feed.feed_id, None))
            if feed.alerted_at is not None:
                recoveries.append(
                    FeedRecovery(
                        feed_id=feed.feed_id,
                        key=feed.key,
                        name=feed.name,
                        failing_since=feed.failing_since,
                        recovered_at=feed.last_success_at or now,
                    )
                )
    return AlertDecision(tuple(alerts), tuple(recoveries), tuple(states))


class AlertSender(Protocol):
    """Delivers alerts to the operators; True when at least one of them got it."""

    async def feed_failing(self, alert: FeedAlert) -> bool: ...

    async def feed_recovered(self, recovery: FeedRecovery) -> bool: ...


async def check_feed_alerts(
    store: Store, sender: AlertSender, *, now: datetime, after: timedelta = DEFAULT_AFTER
) -> AlertDecision:
    """Decide, send, and store what was sent. Returns the decision (for tests, logs).

    Run it where only one worker runs at a time (after a collection, under the
    collection lock), so two workers never announce the same feed.
    """
    view = await asyncio.to_thread(feed_alert_view, store)
    decision = decide_feed_alerts(view, now, after=after)
    states = {state.feed_id: state for state in decision.states}
    for alert in decision.alerts:
        if await sender.feed_failing(alert):
            log_event(log, "feed_alert", level=logging.WARNING, feed=alert.key)
        else:  # nobody was told: keep the run's start, try again next time
            states[alert.feed_id] = FeedAlertState(alert.feed_id, alert.failing_since, None)
    for recovery in decision.recoveries:
        if await sender.feed_recovered(recovery):
            log_event(log, "feed_recovered", feed=recovery.key)
        else:  # leave the row as it is: announced again after the next collection
            del states[recovery.feed_id]
    if states:
        await asyncio.to_thread(save_feed_alerts, store, list(states.values()))
    return decision


__all__ = [
    "DEFAULT_AFTER",
    "AlertDecision",
    "AlertSender",
    "FeedAlert",
    "FeedRecovery",
    "check_feed_alerts",
    "decide_feed_alerts",
]
