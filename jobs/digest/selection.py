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

import heapq
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from storage.records import ChatHistory, ChatSettings, DigestArticle

#: The article a story is shown through, and the other outlets that covered it.
_Shown = tuple[DigestArticle, tuple[str, ...]]
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


class Candidates:
    """A run's candidate articles, grouped into stories and scored once for every chat.

    A fan-out builds thousands of digests from the same few hundred articles, so the
    per-story work that does not depend on the chat (grouping, each topic's best
    score, the rank with every article of the story) is done here once. Ranks are
    computed as of ``ranked_at`` (the run's start): a chat's :func:`select` may come a
    few minutes later, which moves no story's freshness enough to matter.
    """

    __slots__ = ("_on_subject", "_parts", "_shown", "ranked_at", "stories")

    def __init__(self, articles: Iterable[DigestArticle], ranked_at: datetime) -> None:
        members: dict[int, list[DigestArticle]] = defaultdict(list)
        for article in articles:
            members[article.story_id].append(article)
        self.ranked_at = ranked_at
        self.stories = tuple(
            _Story.of(story_id, group, ranked_at) for story_id, group in members.items()
        )
        self._on_subject: dict[
            tuple[tuple[str, ...], frozenset[str]], tuple[tuple[_Story, str], ...]
        ] = {}
        self._parts: dict[tuple[int, ...], _Story] = {}
        self._shown: dict[
            tuple[str, str, tuple[int, ...]], tuple[DigestArticle, tuple[str, ...]]
        ] = {}

    def __len__(self) -> int:
        return len(self.stories)

    def part(self, story: _Story, members: Sequence[DigestArticle]) -> _Story:
        """The figures of part of ``story`` (the ``members`` a chat's window and subject
        keep), as :meth:`_Story.of` computes them; the same part is computed once."""
        key = tuple(a.id for a in members)
        found = self._parts.get(key)
        if found is None:
            found = self._parts[key] = _Story.of(story.id, members, self.ranked_at)
        return found

    def shown(self, language: str, topic: str, members: Sequence[DigestArticle]) -> _Shown:
        """:func:`_shown` for a story's ``members``, computed once for each language
        and topic."""
        key = (language, topic, tuple(a.id for a in members))
        found = self._shown.get(key)
        if found is None:
            found = self._shown[key] = _shown(language, topic, members)
        return found

    def on_subject(
        self, topics: Sequence[str], countries: frozenset[str]
    ) -> tuple[tuple[_Story, str], ...]:
        """The stories in one of ``topics`` and about one of ``countries``, in order,
        each with the topic of ``topics`` it scores highest in (see :func:`_best_topic`).

        Kept per subscription: thousands of chats share a few dozen of them, so a
        chat's :func:`select` looks only at the stories on its subject.
        """
        key = (tuple(topics), countries)
        found = self._on_subject.get(key)
        if found is None:
            wanted = frozenset(topics)
            found = self._on_subject[key] = tuple(
                (story, _best_topic(key[0], story.scores))
                for story in self.stories
                if not wanted.isdisjoint(story.topics) and not countries.isdisjoint(story.countries)
            )
        return found


@dataclass(frozen=True, slots=True)
class _Story:
    """One story's candidates with what every chat would compute the same way."""

    id: int
    members: tuple[DigestArticle, ...]
    topics: frozenset[str]
    countries: frozenset[str]
    uniform: bool
    """Every member has the same topics and countries: a chat takes all or none of
    them on subject, so the precomputed scores and ranks apply when the time window
    keeps them all."""
    earliest_seen: datetime
    earliest_published: datetime
    scores: dict[str, float]
    """Topic -> the best score among the members."""
    ranks: dict[str, float]
    """Topic -> :func:`rank` with every member."""

    @classmethod
    def of(cls, story_id: int, members: Sequence[DigestArticle], ranked_at: datetime) -> _Story:
        topics = frozenset(t for a in members for t in a.topics)
        countries = frozenset(c for a in members for c in a.countries)
        shapes = {(frozenset(a.topics), frozenset(a.countries)) for a in members}
        scores = {t: max(a.topics.get(t, 0.0) for a in members) for t in topics}
        newest = max(a.published_at for a in members)
        outlets = len({a.outlet for a in members})
        return cls(
            id=story_id,
            members=tuple(members),
            topics=topics,
            countries=countries,
            uniform=len(shapes) == 1,
            earliest_seen=min(a.first_seen_at for a in members),
            earliest_published=min(a.published_at for a in members),
            scores=scores,
            ranks={t: rank(s, newest, outlets, ranked_at) for t, s in scores.items()},
        )


#: A story that made a chat's cut so far: minus its rank and its id (the order: best
#: first, ties by id, compared as plain tuples), the story, the members shown.
_Entry = tuple[float, int, _Story, Sequence[DigestArticle]]


def select(
    chat: ChatSettings,
    articles: Candidates | Iterable[DigestArticle],
    history: ChatHistory,
    now: datetime,
    settings: SelectionSettings = SelectionSettings(),
) -> Digest:
    """The chat's digest at ``now``: see the module documentation for the rules.

    ``articles`` are the run's candidates, best given as :class:`Candidates` built
    once for many chats (plain articles are grouped and ranked as of ``now``).
    """
    pool = articles if isinstance(articles, Candidates) else Candidates(articles, now)
    since = window_start(history, now, settings)
    # "First seen" since the last digest makes an article collected late still new;
    # the publication bound keeps a feed's backlog out (a first digest: its window).
    first = history.last_sent_at is None
    oldest = now - (settings.first_window if first else settings.max_window)
    topics, countries = frozenset(chat.topics), frozenset(chat.countries)
    sent = history.story_ids
    by_topic: dict[str, list[_Entry]] = defaultdict(list)
    for story, best in pool.on_subject(chat.topics, countries):
        if story.id in sent:
            continue
        if story.uniform and story.earliest_seen >= since and story.earliest_published >= oldest:
            # The common case: the whole story qualifies, its figures are ready.
            by_topic[best].append((-story.ranks.get(best, 0.0), story.id, story, story.members))
            continue
        members = [
            a
            for a in story.members
            if a.first_seen_at >= since
            and a.published_at >= oldest
            and not topics.isdisjoint(a.topics)
            and not countries.isdisjoint(a.countries)
        ]
        if members:
            # Part of the story qualifies: its figures, from that part alone.
            part = pool.part(story, members)
            topic = _best_topic(chat.topics, part.scores)
            by_topic[topic].append((-part.ranks.get(topic, 0.0), story.id, story, members))
    sections = []
    for topic in chat.topics:
        entries = by_topic.get(topic)
        if entries:
            # (rank, id) is unique: the tuples never compare the stories themselves.
            kept = heapq.nsmallest(settings.max_per_topic, entries)
            items = tuple(
                Item(story_id, topic, *pool.shown(chat.language, topic, shown), -minus_rank)
                for minus_rank, story_id, _story, shown in kept
            )
            sections.append(Section(topic, items))
    return Digest(chat.id, now, since, tuple(sections))


def _best_topic(chat_topics: Sequence[str], scores: Mapping[str, float]) -> str:
    """The chat's topic the story scores highest in; a tie goes to the chat's first."""
    best, chosen = -1.0, chat_topics[0]
    for topic in chat_topics:
        score = scores.get(topic, 0.0)
        if score > best:
            best, chosen = score, topic
    return chosen


def _shown(
    language: str, topic: str, members: Sequence[DigestArticle]
) -> tuple[DigestArticle, tuple[str, ...]]:
    """The article a story is shown through (in ``language`` when there is one, the best
    scored in ``topic``) and the other outlets that covered it, in order of publication."""
    in_language = [a for a in members if a.language == language]
    pool = in_language or list(members)
    shown = min(pool, key=lambda a: (-a.topics.get(topic, 0.0), a.published_at, a.id))
    outlets = list(dict.fromkeys(a.outlet for a in sorted(members, key=_published)))
    also = tuple(o for o in outlets if o != shown.outlet)
    return shown, also


def _published(article: DigestArticle) -> tuple[datetime, int]:
    return article.published_at, article.id
