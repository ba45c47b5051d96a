"""Messages as Telegram HTML: settings, search results, sources, stats (the digest:
:mod:`bot.telegram.digest_render`).

Everything that came from outside (titles, snippets, outlet names, queries) is escaped
through :mod:`bot.i18n`; and every message fits Telegram's 4096 characters: lists are
cut at a whole item (the HTML length bounds the length Telegram counts, which is that
of the text without markup), and over-long titles are shortened before markup is added.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime

from bot.i18n import Html, Translator, escape
from bot.telegram.choices import COUNTRIES, format_time
from storage.records import ChatCounts, ChatSettings, FeedState
from storage.search.results import NoteKind, SearchHit, SearchResults
from storage.search.snippets import Snippet

MAX_MESSAGE: int = 4096
MAX_TITLE = 300
#: What the operators' "articles of the last 24 hours" counts.
DIGEST_WINDOW = timedelta(hours=24)
_ELLIPSIS = "…"


def fit(blocks: Iterable[str], *, limit: int = MAX_MESSAGE, separator: str = "\n\n") -> str:
    """Join whole blocks while the result stays within ``limit`` (UTF-16 units of the
    HTML, which bound those of the text Telegram counts); ``…`` marks a cut."""
    out = ""
    for block in blocks:
        candidate = f"{out}{separator}{block}" if out else block
        # Telegram counts UTF-16 units (an emoji is two): count them, or a page of
        # emoji-heavy titles passes here and is refused as too long.
        if _units(candidate) > limit - _units(separator) - len(_ELLIPSIS):
            return f"{out}{separator}{_ELLIPSIS}" if out else _shorten(block, limit)
        out = candidate
    return out


def _units(text: str) -> int:
    """Length in UTF-16 code units, as Telegram counts (bounds the visible text's)."""
    return len(text.encode("utf-16-le")) // 2


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + _ELLIPSIS


def settings(t: Translator, chat: ChatSettings) -> str:
    lang = chat.language
    return t.text(
        lang,
        "settings",
        topics=topic_list(t, lang, chat.topics),
        countries=country_list(t, lang, chat.countries),
        time=format_time(chat.delivery_time),
        timezone=chat.timezone,
        language=t.text(lang, "language_name"),
        status=t.text(lang, "status_paused" if chat.paused else "status_active"),
    )


def topic_list(t: Translator, language: str, topics: Sequence[str]) -> str:
    return ", ".join(t.text(language, f"topic_{topic}") for topic in topics)


def country_list(t: Translator, language: str, countries: Sequence[str]) -> str:
    if len(countries) == len(COUNTRIES):
        return t.text(language, "all_countries")
    return ", ".join(t.text(language, f"country_{c}") for c in countries)


def marked(fragments: Snippet, *, limit: int | None = None) -> Html:
    """Search fragments as HTML, matches in bold, the plain text cut at ``limit``."""
    out: list[str] = []
    left = limit
    for fragment in fragments:
        text = fragment.text
        if left is not None:
            if left <= 0:
                out.append(_ELLIPSIS)
                break
            if len(text) > left:
                text = text[: max(left - 1, 0)] + _ELLIPSIS
            left -= len(text)
        out.append(f"<b>{escape(text)}</b>" if fragment.match else escape(text))
    return Html("".join(out))


def local_date(moment: datetime, chat: ChatSettings) -> str:
    return format_date(moment.astimezone(ZoneInfo(chat.timezone)), "medium", locale=chat.language)


def local_datetime(moment: datetime, chat: ChatSettings) -> str:
    return format_datetime(
        moment.astimezone(ZoneInfo(chat.timezone)), "short", locale=chat.language
    )


def search_page(t: Translator, chat: ChatSettings, query: str, results: SearchResults) -> str:
    """One page of ``/find`` results (status OK with hits)."""
    lang = chat.language
    first = results.offset + 1
    header = t.text(
        lang,
        "find_header",
        first=first,
        last=results.offset + len(results.hits),
        total=results.total,
        query=_shorten(query, 100),
    )
    blocks = [header, *notes(t, lang, results)]
    for number, hit in enumerate(results.hits, start=first):
        blocks.append(_hit(t, chat, number, hit))
    return fit(blocks)


def notes(t: Translator, language: str, results: SearchResults) -> list[str]:
    keys = {
        NoteKind.UNKNOWN_TOPIC: "note_unknown_topic",
        NoteKind.UNKNOWN_COUNTRY: "note_unknown_country",
        NoteKind.UNKNOWN_LANGUAGE: "note_unknown_language",
        NoteKind.BAD_SINCE: "note_bad_since",
        NoteKind.TOO_MANY_WORDS: "note_too_many_words",
    }
    return [
        "ℹ️ " + t.text(language, keys[note.kind], value=_shorten(note.value, 50))
        for note in results.notes
    ]


def _hit(t: Translator, chat: ChatSettings, number: int, hit: SearchHit) -> str:
    title = marked(hit.title, limit=MAX_TITLE)
    lines = [
        f'<b>{number}.</b> <a href="{escape(hit.url)}">{title}</a>',
        f"<i>{escape(hit.outlet)}</i> · {escape(local_date(hit.published_at, chat))}",
    ]
    text = marked(hit.snippet, limit=400)
    if text:
        lines.append(text)
    if hit.also:
        lines.append(t.text(chat.language, "also_in", outlets=", ".join(hit.also[:5])))
    return "\n".join(lines)


def sources(t: Translator, chat: ChatSettings, feeds: Sequence[FeedState]) -> str:
    lang = chat.language
    lines = []
    for feed in feeds:
        if feed.consecutive_failures:
            health = t.text(lang, "health_failing", count=feed.consecutive_failures)
        elif feed.last_success_at is None:
            health = t.text(lang, "health_never")
        else:
            health = t.text(lang, "health_ok", when=local_datetime(feed.last_success_at, chat))
        language = (
            t.text(feed.spec.language, "language_name")
            if feed.spec.language
            else t.text(lang, "language_mixed")
        )
        lines.append(
            "• "
            + t.text(
                lang,
                "source_line",
                name=feed.spec.name,
                language=language,
                country=t.text(lang, f"country_{feed.spec.country}"),
                health=Html(health),
            )
        )
    return fit([t.text(lang, "sources_header", count=len(feeds)), *lines], separator="\n")


def stats(
    t: Translator,
    *,
    chat: ChatSettings | None,
    language: str,
    counts: ChatCounts,
    articles: int,
    feeds: Sequence[FeedState],
) -> str:
    per_topic = ", ".join(
        f"{t.text(language, f'topic_{topic}')} {n}" for topic, n in counts.per_topic.items()
    )
    attempts = [f.last_attempt_at for f in feeds if f.last_attempt_at is not None]
    last = max(attempts) if attempts else None
    if last is None:
        last_text = t.text(language, "never")
    elif chat is not None:
        last_text = local_datetime(last, chat)
    else:
        last_text = last.strftime("%Y-%m-%d %H:%M UTC")
    return t.text(
        language,
        "stats",
        chats=counts.chats,
        active=counts.active,
        paused=counts.paused,
        topics=per_topic,
        articles=articles,
        healthy=sum(1 for f in feeds if not f.consecutive_failures),
        failing=sum(1 for f in feeds if f.consecutive_failures),
        last=last_text,
    )
