"""What goes into a chat's digest: pure selection and ranking of stories.

Candidates are the articles the store returns for the run (classified, recently
seen); for one chat the digest keeps, per story (one event, possibly reported by
several outlets):

* only stories with an article first seen since the chat's last digest and published
  at most :attr:`SelectionSettings.max_window` ago (a first digest: both within
  :attr:`SelectionSettings.first_window`), in one of the chat's topics and about one
  of its countries, and never sent to the chat before;
* one item per story, in the section of the chat's topic where it scores highest,
  shown through its article in the chat's language when there is one, with the other
  outlets that covered it ("also: ...");
* ranked by :func:`rank`: classification score × freshness × coverage, at most
  :attr:`SelectionSettings.max_per_topic` per topic; sections in the chat's topic order.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from storage.records import ChatHistory, ChatSettings, DigestArticle

#: Freshness halves every this long: a day-old story needs twice the score of a new one.
FRESHNESS_HALF_LIFE = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class SelectionSettings:
    """The content rules an operator may tune (``[digest]`` in the configuration)."""

    max_per_topic: int = 5
    first_window: timedelta = timedelta(hours=24)
    max_window: timedelta = timedelta(hours=48)


@dataclass(frozen=True, slots=True)
class Item:
    """One story in a digest, shown through one article."""

    story_id: int
    topic: str
    """Why it was chosen: the chat's topic it scores highest in."""
    article: DigestArticle
    also: tuple[str, ...]
    """Other outlets that covered the story, in order of publication."""
    rank: float


@dataclass(frozen=True, slots=True)
class Section:
    topic: str
    items: tuple[Item, ...]


@dataclass(frozen=True, slots=True)
class Digest:
    """A chat's digest as data: sections in the chat's topic order (possibly none)."""

    chat_id: int
    built_at: datetime
    since: datetime
    sections: tuple[Section, ...]

    @property
    def items(self) -> tuple[Item, ...]:
        return tuple(item for section in self.sections for item in section.items)

    @property
    def story_ids(self) -> tuple[int, ...]:
        return tuple(item.story_id for item in self.items)

    @property
    def is_empty(self) -> bool:
        return not self.sections


def window_start(history: ChatHistory, now: datetime, settings: SelectionSettings) -> datetime:
    """Where a chat's digest starts: its last digest, clamped to the maximum window."""
    if history.last_sent_at is None:
        return now - settings.first_window
    return max(history.last_sent_at, now - settings.max_window)


def rank(score: float, newest: datetime, outlets: int, now: datetime) -> float:
    """A story's rank: its topic score (0..1), halved per :data:`FRESHNESS_HALF_LIFE`
    of age of its newest article, and grown by the log of how many outlets covered it
    (a second outlet counts as much as a day of freshness)."""
    age = max((now - newest) / FRESHNESS_HALF_LIFE, 0.0)
    freshness: float = 0.5**age
    return score * freshness * (1.0 + math.log2(max(outlets, 1)))


def select(
    chat: ChatSettings,
    articles: Iterable[DigestArticle],
    history: ChatHistory,
    now: datetime,
    settings: SelectionSettings = SelectionSettings(),
) -> Digest:
    """The chat's digest at ``now``: see the module documentation for the rules."""
    since = window_start(history, now, settings)
    # "First seen" since the last digest makes an article collected late still new;
    # the publication bound keeps a feed's backlog out (a first digest: its window).
    first = history.last_sent_at is None
    oldest = now - (settings.first_window if first else settings.max_window)
    topics, countries = set(chat.topics), set(chat.countries)
    stories: dict[int, list[DigestArticle]] = defaultdict(list)
    for article in articles:
        if (
            article.story_id not in history.story_ids
            and article.first_seen_at >= since
            and article.published_at >= oldest
            and topics.intersection(article.topics)
            and countries.intersection(article.countries)
        ):
            stories[article.story_id].append(article)
    by_topic: dict[str, list[Item]] = defaultdict(list)
    for story_id, members in stories.items():
        item = _item(chat, story_id, members, now)
        by_topic[item.topic].append(item)
    sections = []
    for topic in chat.topics:
        ranked = sorted(by_topic.get(topic, ()), key=lambda i: (-i.rank, i.story_id))
        if ranked:
            sections.append(Section(topic, tuple(ranked[: settings.max_per_topic])))
    return Digest(chat.id, now, since, tuple(sections))


def _item(
    chat: ChatSettings, story_id: int, members: Sequence[DigestArticle], now: datetime
) -> Item:
    scores = {topic: max(a.topics.get(topic, 0.0) for a in members) for topic in chat.topics}
    # Highest score wins; a tie goes to the chat's first topic (dict keeps that order).
    topic = max(scores, key=lambda t: scores[t])
    in_language = [a for a in members if a.language == chat.language]
    pool = in_language or list(members)
    shown = min(pool, key=lambda a: (-a.topics.get(topic, 0.0), a.published_at, a.id))
    outlets = list(dict.fromkeys(a.outlet for a in sorted(members, key=_published)))
    also = tuple(o for o in outlets if o != shown.outlet)
    newest = max(a.published_at for a in members)
    return Item(story_id, topic, shown, also, rank(scores[topic], newest, len(outlets), now))


def _published(article: DigestArticle) -> tuple[datetime, int]:
    return article.published_at, article.id
