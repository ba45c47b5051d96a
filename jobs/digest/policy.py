"""What Telegram said about one message, and what the dispatcher does about it.

A :class:`Sender` (the bot layer's, over the Bot API) turns each answer into an
:class:`Outcome`; :func:`decide` (pure) turns the outcome into an :class:`Action`.
The rules:

* 429 (flood control): wait ``retry_after`` and send again; a wait longer than
  :attr:`RetryPolicy.max_inline_wait` gives the row back to the ledger until then.
  Never dropped.
* 403 (blocked, kicked, removed): the chat is marked inactive; ``/start`` brings it back.
* 400 "group chat was upgraded to a supergroup chat": the chat moves to its new id and
  the digest goes there.
* 400 "can't parse entities": the same message again as plain text (and a log line).
* timeouts, connection errors, 5xx: retry after an exponential backoff, capped; after
  :attr:`RetryPolicy.max_attempts` attempts the row goes back to the ledger for a later
  tick while its grace period lasts (Telegram down for an hour must not cost the day's
  digests), and is failed, visibly, once it is over.
* any other refusal: failed, with Telegram's description.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol


class OutcomeKind(enum.Enum):
    SENT = "sent"
    FLOOD = "flood"
    UNREACHABLE = "unreachable"
    BAD_MARKUP = "bad_markup"
    TRANSIENT = "transient"
    REJECTED = "rejected"
    MIGRATED = "migrated"


@dataclass(frozen=True, slots=True)
class Outcome:
    """Telegram's answer to one ``sendMessage``."""

    kind: OutcomeKind
    detail: str = ""
    retry_after: float = 0.0
    """Seconds Telegram asked to wait (``FLOOD`` only)."""
    moved_to: int | None = None
    """The supergroup's chat id (``MIGRATED`` only)."""


SENT = Outcome(OutcomeKind.SENT)


class Sender(Protocol):
    """Sends one message of a digest. Never raises for a Telegram answer: returns it."""

    async def send(
        self, chat_id: int, text: str, *, plain: bool, footer_language: str | None
    ) -> Outcome:
        """Send ``text`` (Telegram HTML, or plain text when ``plain``: the markup removed
        and links spelt out); with ``footer_language`` the digest's footer buttons
        (settings, pause) in that language are attached."""
        ...


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Retry rules (``[delivery]`` in the configuration)."""

    max_attempts: int = 5
    """Attempts at one message through timeouts and 5xx answers, the first included."""
    backoff: timedelta = timedelta(seconds=2)
    max_backoff: timedelta = timedelta(minutes=2)
    max_inline_wait: timedelta = timedelta(seconds=60)
    """A longer flood wait gives the row back to the ledger instead of holding it."""


class ActionKind(enum.Enum):
    RECORD = "record"
    """Sent: record it and go on."""
    WAIT = "wait"
    """Send the same message again after ``delay``."""
    PLAIN = "plain"
    """Send the same message again as plain text."""
    REQUEUE = "requeue"
    """Give the row back to the ledger, to be claimed after ``delay``."""
    BLOCKED = "blocked"
    """Mark the chat inactive; the row ends ``blocked``."""
    FAIL = "fail"
    """The row ends ``failed`` with ``reason``."""
    MOVE = "move"
    """Move the chat to ``moved_to`` and give the row back, to go there now."""


@dataclass(frozen=True, slots=True)
class Action:
    kind: ActionKind
    delay: timedelta = timedelta(0)
    reason: str = ""
    pause_all: bool = False
    """The delay is Telegram's flood control: it holds every send, not only this one."""
    moved_to: int | None = None
    """The chat's new id (``MOVE`` only)."""


def backoff(attempt: int, policy: RetryPolicy) -> timedelta:
    """Wait before retry number ``attempt`` (1, 2, ...): doubling, capped."""
    wait: timedelta = policy.backoff * (2 ** max(attempt - 1, 0))
    return min(wait, policy.max_backoff)


def decide(
    outcome: Outcome,
    *,
    failures: int,
    plain: bool,
    policy: RetryPolicy,
    grace_left: timedelta = timedelta(0),
) -> Action:
    """The action for ``outcome``; ``failures`` counts this message's transient failures
    before this one, ``plain`` says whether it was already sent as plain text, and
    ``grace_left`` is how long the digest may still go out late."""
    match outcome.kind:
        case OutcomeKind.SENT:
            return Action(ActionKind.RECORD)
        case OutcomeKind.FLOOD:
            wait = timedelta(seconds=max(outcome.retry_after, 1.0))
            kind = ActionKind.WAIT if wait <= policy.max_inline_wait else ActionKind.REQUEUE
            return Action(
                kind, wait, f"flood control: retry after {wait.total_seconds():g} s", True
            )
        case OutcomeKind.UNREACHABLE:
            return Action(ActionKind.BLOCKED, reason=outcome.detail)
        case OutcomeKind.BAD_MARKUP:
            if plain:
                return Action(
                    ActionKind.FAIL, reason=f"refused even as plain text: {outcome.detail}"
                )
            return Action(ActionKind.PLAIN, reason=outcome.detail)
        case OutcomeKind.TRANSIENT:
            attempt = failures + 1
            if attempt >= policy.max_attempts:
                if grace_left > timedelta(0):
                    later = min(policy.max_backoff, grace_left)
                    return Action(
                        ActionKind.REQUEUE,
                        later,
                        f"{attempt} attempts failed ({outcome.detail}): trying again later",
                    )
                return Action(
                    ActionKind.FAIL, reason=f"gave up after {attempt} attempts: {outcome.detail}"
                )
            return Action(ActionKind.WAIT, backoff(attempt, policy), outcome.detail)
        case OutcomeKind.REJECTED:
            return Action(ActionKind.FAIL, reason=outcome.detail)
        case OutcomeKind.MIGRATED:
            if outcome.moved_to is None:
                return Action(ActionKind.FAIL, reason=outcome.detail)
            return Action(ActionKind.MOVE, reason=outcome.detail, moved_to=outcome.moved_to)
    raise AssertionError(f"unhandled outcome {outcome.kind}")  # pragma: no cover
