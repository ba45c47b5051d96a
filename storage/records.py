"""Plain records that cross the storage boundary.

The jobs layer builds these and hands them to :class:`storage.store.Store`; the store
returns them. They carry no SQLAlchemy state, so the layers above never see an ORM
object. Every datetime is timezone-aware UTC.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

#: Topic codes the classifier may assign.
TOPICS: tuple[str, ...] = ("it_hubs", "energy", "policy", "society")
#: ISO 3166-1 alpha-2 codes (lower case) of the countries the bot follows.
COUNTRIES: tuple[str, ...] = ("kz", "uz", "kg", "tj", "tm", "az")
#: Article languages the project knows (ISO 639-1).
LANGUAGES: tuple[str, ...] = ("en", "ru", "kk", "uz")


@dataclass(frozen=True, slots=True)
class FeedSpec:
    """One outlet's feed as the operator configured it."""

    key: str
    """Stable short identifier, e.g. ``"astanatimes"``; unique."""
    name: str
    """Outlet name shown to users, e.g. ``"The Astana Times"``."""
    url: str
    language: str | None
    """Language of the feed's articles; ``None`` means detect per article."""
    country: str
    """Home country of the outlet (one of :data:`COUNTRIES`)."""
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class Validators:
    """What a conditional GET needs from the previous successful fetch."""

    etag: str | None = None
    last_modified: str | None = None
    body_sha256: str | None = None
    """SHA-256 (hex) of the last body parsed: a byte-identical body is not parsed again."""


@dataclass(frozen=True, slots=True)
class FeedState:
    """A stored feed with its fetch validators and health."""

    id: int
    spec: FeedSpec
    validators: Validators
    last_attempt_at: datetime | None
    last_success_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    consecutive_failures: int
    next_attempt_at: datetime | None
    """Earliest time the scheduler should fetch this feed again; ``None``: now."""
    article_count: int = 0


@dataclass(frozen=True, slots=True)
class FetchRecord:
    """The outcome of one fetch attempt, to be written to the feed's health."""

    attempted_at: datetime
    succeeded: bool
    """True for a 200 (parsed or byte-identical) and for a 304."""
    error: str | None
    """Human-readable reason when the attempt failed."""
    validators: Validators | None
    """New validators after a success; ``None`` keeps the stored ones."""
    next_attempt_at: datetime


@dataclass(frozen=True, slots=True)
class Classification:
    """Topics and countries of one article, with the evidence that decided them."""

    topics: Mapping[str, float]
    """Assigned topics with their scores (only assigned ones; possibly empty)."""
    countries: Sequence[str]
    """Countries the article is about, most prominent first (possibly empty)."""
    evidence: Mapping[str, Sequence[str]] = field(default_factory=dict)
    """For each assigned topic or country code, the matched terms that decided it."""

    def __reduce__(self) -> tuple[type[Classification], tuple[Any, ...]]:
        # Every new article's classification comes back from a parse worker process.
        # The pickling that ``slots=True`` gives a frozen dataclass looks its fields up
        # for each object, on both sides; rebuilt from its three values, it pickles in
        # half the time and unpickles in a third.
        return Classification, (self.topics, self.countries, self.evidence)


@dataclass(frozen=True, slots=True)
class ArticleInput:
    """A normalised, classified article ready to be stored."""

    guid: str
    """Identifier unique within its feed (the entry id, else the canonical URL)."""
    url: str
    """Canonical absolute URL (tracking parameters removed); unique across feeds."""
    title: str
    summary: str
    content: str
    """Full plain text where the feed carries it, else ``""``."""
    language: str
    published_at: datetime
    content_hash: str
    """SHA-256 (hex) of title, summary and content: tells an edited article."""
    classification: Classification


@dataclass(frozen=True, slots=True)
class KnownArticle:
    """Identity of an article already stored, for de-duplication."""

    id: int
    feed_id: int
    guid: str
    url: str
    content_hash: str


@dataclass(frozen=True, slots=True)
class StoryCandidate:
    """A recent article that a new article may join as the same story."""

    article_id: int
    story_id: int
    feed_id: int
    title: str
    language: str
    published_at: datetime


@dataclass(frozen=True, slots=True)
class SavedArticle:
    """An article the store just inserted or updated."""

    id: int
    story_id: int
    inserted: bool
    """True when new, False when an existing row was updated."""


@dataclass(frozen=True, slots=True)
class ArticleText:
    """The fields the classifier reads, for re-classifying the archive."""

    id: int
    title: str
    summary: str
    content: str
    language: str


@dataclass(frozen=True, slots=True)
class StoryInfo:
    """One story: when it was started, its newest publication time, its articles."""

    id: int
    created_at: datetime
    updated_at: datetime
    """Publication time of the story's newest article."""
    article_ids: tuple[int, ...]
    """Its articles, oldest publication first."""


@dataclass(frozen=True, slots=True)
class StoreStats:
    """Row counts for status output."""

    feeds: int
    enabled_feeds: int
    articles: int
    stories: int


# -- chats (the bot) --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChatSettings:
    """One chat the bot serves and what it subscribed to."""

    id: int
    """Telegram's chat id."""
    kind: str
    """``private``, ``group``, ``supergroup`` or ``channel``."""
    title: str | None
    language: str
    topics: tuple[str, ...]
    """Subscribed topics, in the order of :data:`TOPICS`."""
    countries: tuple[str, ...]
    """Followed countries, in the order of :data:`COUNTRIES`."""
    timezone: str
    """IANA time zone name."""
    delivery_time: time
    """Local time of the daily digest in :attr:`timezone`."""
    paused: bool
    active: bool
    """False once Telegram refused messages to the chat (blocked, removed)."""
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ChatCounts:
    """Subscription figures for the operators' ``/stats``."""

    chats: int
    active: int
    """Active and not paused: chats that get digests."""
    paused: int
    inactive: int
    per_topic: Mapping[str, int]
    """Chats that get digests, per subscribed topic."""


@dataclass(frozen=True, slots=True)
class RecentArticle:
    """An article for the simple ``/digest`` list and the operators' figures."""

    id: int
    title: str
    url: str
    outlet: str
    published_at: datetime
    topics: tuple[str, ...]
    countries: tuple[str, ...]


# -- digest deliveries -------------------------------------------------------------------

#: Ledger states. ``pending`` and ``sending`` are open; the others are final.
DELIVERY_PENDING = "pending"
DELIVERY_SENDING = "sending"
DELIVERY_SENT = "sent"
DELIVERY_EMPTY = "empty"
"""Nothing new and the chat asked for no "quiet day" note: nothing was sent."""
DELIVERY_SKIPPED = "skipped"
"""Due longer ago than the grace period (the service was down): not sent, on purpose."""
DELIVERY_FAILED = "failed"
DELIVERY_BLOCKED = "blocked"
"""Telegram refused the chat (blocked, removed): the chat was marked inactive."""
FINAL_DELIVERY_STATES: tuple[str, ...] = (
    DELIVERY_SENT,
    DELIVERY_EMPTY,
    DELIVERY_SKIPPED,
    DELIVERY_FAILED,
    DELIVERY_BLOCKED,
)


@dataclass(frozen=True, slots=True)
class ChatSchedule:
    """What the scheduler needs to know about a chat that is due (or not yet planned)."""

    chat_id: int
    timezone: str
    delivery_time: time
    next_digest_at: datetime | None
    """``None``: never computed, or the settings changed since."""


@dataclass(frozen=True, slots=True)
class Opening:
    """A ledger row to create: the chat's digest for ``local_date``, due at ``due_at``."""

    local_date: date
    due_at: datetime
    skipped: bool = False
    """Created final (``skipped``): it was due longer ago than the grace period."""


@dataclass(frozen=True, slots=True)
class SchedulePlan:
    """A chat's scheduling decision, applied only if nobody else changed it meanwhile."""

    chat_id: int
    expected: datetime | None
    """The ``next_digest_at`` the decision was based on (compare-and-set)."""
    next_digest_at: datetime
    openings: tuple[Opening, ...] = ()


@dataclass(frozen=True, slots=True)
class Delivery:
    """A ledger row: one chat's digest for one local date."""

    id: int
    chat_id: int
    local_date: date
    due_at: datetime
    state: str
    attempts: int
    not_before: datetime
    worker: str | None
    parts: tuple[str, ...] | None
    """The rendered messages, once built (``None`` before; empty: nothing to send)."""
    story_ids: tuple[int, ...]
    sent_parts: int
    error: str | None
    sent_at: datetime | None


@dataclass(frozen=True, slots=True)
class ChatHistory:
    """What a chat received recently: when its last digest went out, and which stories."""

    last_sent_at: datetime | None
    story_ids: frozenset[int]


@dataclass(frozen=True, slots=True)
class DigestArticle:
    """An article a digest may carry, with everything ranking and rendering need."""

    id: int
    story_id: int
    title: str
    summary: str
    url: str
    outlet: str
    outlet_country: str
    language: str
    published_at: datetime
    first_seen_at: datetime
    topics: Mapping[str, float]
    """Assigned topics with the classifier's scores."""
    countries: tuple[str, ...]
    """Countries the article is about, most prominent first."""
