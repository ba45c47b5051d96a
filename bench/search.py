"""Search benchmark: a synthetic archive of N articles on SQLite and PostgreSQL.

For each backend, in one run:

1. load N synthetic articles (:mod:`bench.corpus`: mixed English and Russian, Zipf word
   frequencies, feed-item lengths) through ``Store.save_articles`` in batches of one
   outlet's articles, so the index is maintained exactly as the collector maintains it
   (articles/s);
2. time ``Store.rebuild_search_index`` over the loaded archive (articles/s);
3. measure the database size per article (SQLite: the file with the WAL checkpointed;
   PostgreSQL: ``pg_database_size`` growth of a dedicated database), after the load
   and again after the rebuild;
4. measure the latency of ``Store.find(query, limit=10)`` for a fixed, seeded mix of
   query classes (rare word, common word, two words, a phrase, a word with a filter):
   p50/p95/p99 per class and overall, and the share of queries that found something;
5. time a plain ``LIKE`` scan for a few queries of each class, as the reference the
   index has to beat.

Targets (issue 3) at 1,000,000 articles: find p95 under 20 ms on SQLite and under 50 ms
on PostgreSQL; index build at least 5,000 articles/s; the database under 2 KB (2,048
bytes) per article.

    python -m bench.search [--articles 1000000] [--backend sqlite|postgresql|both]
                           [--queries 150] [--like-queries 5] [--json bench/results/search.json]
                           [--workdir DIR [--keep | --reuse]]

``--keep --workdir DIR`` keeps the databases; a later ``--reuse --workdir DIR`` measures
the same archive again without loading it (the rebuild, sizes and queries are measured
again; there are no load figures).

PostgreSQL runs in a database of its own (``steppe_bench``, dropped and created again
on the server of ``--postgres-url``, by default the test server); it is skipped with a
message when the server does not answer.
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import psycopg
from sqlalchemy.engine import URL, make_url

from bench.corpus import WORDS_PER_ARTICLE, Corpus, SyntheticArticle, document_rate
from bench.report import write_figures
from jobs import heap
from storage import SavedArticle, Store
from storage.search.analyser import query_word
from storage.search.results import SearchStatus

ROOT: Final = Path(__file__).resolve().parent.parent
#: ``now`` of every search: just after the newest article, so recency ranking acts.
FIXED_NOW: Final = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
DEFAULT_POSTGRES_URL: Final = os.environ.get(
    "STEPPE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
BENCH_DATABASE: Final = "steppe_bench"
RESULTS_PER_PAGE: Final = 10

#: Query classes, in report order; all but ``filter`` are drawn so that they must match.
CLASSES: Final = ("rare", "common", "two_words", "phrase", "filter")
MUST_FIND: Final = frozenset({"rare", "common", "two_words", "phrase"})
#: Expected number of articles holding a "rare" word.
RARE_DOCUMENTS: Final = (10, 200)
#: Share of a language's articles holding a "common" word.
COMMON_RATE: Final = (0.03, 0.4)
#: Words of "two words" and "phrase" queries hold at least this share (no tail words
#: that only their own article has: a user types words they expect to be found).
PAIR_RATE: Final = 0.0005
#: The word of a filtered query.
FILTER_RATE: Final = (0.005, 0.4)
#: Query articles are sampled from this many batches spread over the archive.
SAMPLE_BATCHES: Final = 40
WARM_UP_QUERIES: Final = 25

TARGET_P95_MS: Final = {"sqlite": 20.0, "postgresql": 50.0}
TARGET_BUILD_PER_S: Final = 5000.0
TARGET_BYTES_PER_ARTICLE: Final = 2048.0


# -- queries -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Query:
    """One benchmark query: the text typed, and the same query as ``LIKE`` patterns."""

    kind: str
    text: str
    patterns: tuple[str, ...]
    """Each must occur in the title or the summary (``%`` around each)."""
    filter: tuple[str, str] | None = None
    """``("topic" | "country" | "lang", code)``."""


def _searchable(word: str) -> bool:
    """True when the analyser gives the word a term (not a stopword, number or sign)."""
    return word.replace("-", "").isalpha() and bool(query_word(word))


class QueryMaker:
    """Draws the query mix from the corpus's vocabulary and from sampled articles."""

    def __init__(self, corpus: Corpus, seed: int) -> None:
        self._rng = random.Random(f"{seed}:queries")
        self._counts = corpus.language_counts()
        self._languages = [language for language, count in self._counts.items() if count]
        self._weights = [self._counts[language] for language in self._languages]
        # Expected share of each language's articles that hold a word, from its rank;
        # a word in several entries (a collocation and alone) adds up.
        self._rates: dict[str, dict[str, float]] = {}
        for language, vocabulary in corpus.vocabularies.items():
            rates: dict[str, float] = {}
            for rank, entry in enumerate(vocabulary.entries):
                rate = document_rate(vocabulary, rank, WORDS_PER_ARTICLE)
                for word in entry.split():
                    rates[word] = 1.0 - (1.0 - rates.get(word, 0.0)) * (1.0 - rate)
            self._rates[language] = rates
        self._bands: dict[tuple[str, str], list[str]] = {}
        sample = random.Random(f"{seed}:sample")
        numbers = sorted(
            sample.sample(range(corpus.batch_count), min(SAMPLE_BATCHES, corpus.batch_count))
        )
        self._articles = [
            article for number in numbers for article in corpus.batch(number).articles
        ]

    def make(self, kind: str) -> Query:
        """One query of class ``kind``."""
        return getattr(self, f"_{kind}")()  # type: ignore[no-any-return]

    def _language(self) -> str:
        return self._rng.choices(self._languages, weights=self._weights)[0]

    def _band(self, language: str, name: str, low: float, high: float) -> list[str]:
        key = (language, name)
        if key not in self._bands:
            self._bands[key] = [
                word
                for word, rate in self._rates[language].items()
                if low <= rate <= high and _searchable(word)
            ]
        return self._bands[key]

    def _rare(self) -> Query:
        language = self._language()
        count = self._counts[language]
        low, high = RARE_DOCUMENTS
        band = self._band(language, "rare", low / count, high / count)
        word = self._rng.choice(band)
        return Query("rare", word, (word,))

    def _common(self) -> Query:
        word = self._rng.choice(self._band(self._language(), "common", *COMMON_RATE))
        return Query("common", word, (word,))

    def _article_words(self, article: SyntheticArticle) -> list[str]:
        rates = self._rates[article.article.language]
        return [
            word
            for word in dict.fromkeys(article.title_words + article.summary_words)
            if rates.get(word, 0.0) >= PAIR_RATE and _searchable(word)
        ]

    def _two_words(self) -> Query:
        while True:
            article = self._rng.choice(self._articles)
            words = self._article_words(article)
            # Two words with different terms (not "energy energies").
            distinct = list({query_word(word): word for word in words}.values())
            if len(distinct) >= 2:
                first, second = self._rng.sample(distinct, 2)
                return Query("two_words", f"{first} {second}", (first, second))

    def _phrase(self) -> Query:
        while True:
            article = self._rng.choice(self._articles)
            rates = self._rates[article.article.language]
            # Adjacent in the text, not across a comma or a full stop: what a reader
            # would quote.
            text = f"{article.article.title}\n{article.article.summary}".lower()
            pairs = [
                (first, second)
                for words in (article.title_words, article.summary_words)
                for first, second in itertools.pairwise(words)
                if _searchable(first)
                and _searchable(second)
                and first != second
                and f"{first} {second}".lower() in text
            ]
            # Prefer words a user would know (both past the tail); any pair else.
            known = [
                pair
                for pair in pairs
                if rates.get(pair[0], 0.0) >= PAIR_RATE and rates.get(pair[1], 0.0) >= PAIR_RATE
            ]
            if known or pairs:
                first, second = self._rng.choice(known or pairs)
                return Query("phrase", f'"{first} {second}"', (f"{first} {second}",))

    def _filter(self) -> Query:
        language = self._language()
        word = self._rng.choice(self._band(language, "filter", *FILTER_RATE))
        kind = self._rng.choice(("topic", "country", "lang"))
        if kind == "topic":
            code = self._rng.choice(("energy", "it_hubs", "policy", "society"))
        elif kind == "country":
            code = self._rng.choice(("kz", "uz", "kg", "az"))
        else:
            code = language
        return Query("filter", f"{word} {kind}:{code}", (word,), (kind, code))


def make_queries(corpus: Corpus, per_class: int, seed: int) -> tuple[list[Query], list[Query]]:
    """The measured queries (``per_class`` of each class, shuffled) and the warm-up ones."""
    maker = QueryMaker(corpus, seed)
    measured = [maker.make(kind) for kind in CLASSES for _ in range(per_class)]
    warm_up = [maker.make(CLASSES[i % len(CLASSES)]) for i in range(WARM_UP_QUERIES)]
    # Interleaved, so that no class profits from the pages the one before it read.
    random.Random(f"{seed}:order").shuffle(measured)
    return measured, warm_up


# -- measuring ---------------------------------------------------------------------------


def percentiles(samples: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99 (milliseconds, from seconds) and the count."""
    if not samples:
        return {"n": 0}
    ms = sorted(sample * 1000 for sample in samples)
    if len(ms) == 1:
        return {"n": 1, "p50": round(ms[0], 2), "p95": round(ms[0], 2), "p99": round(ms[0], 2)}
    cuts = statistics.quantiles(ms, n=100, method="inclusive")
    return {
        "n": len(ms),
        "p50": round(cuts[49], 2),
        "p95": round(cuts[94], 2),
        "p99": round(cuts[98], 2),
    }


def measure_find(
    store: Store, queries: Sequence[Query], warm_up: Sequence[Query]
) -> dict[str, Any]:
    """Latency of ``Store.find`` per class and overall, and the share that found something."""
    for query in warm_up:
        store.find(query.text, now=FIXED_NOW, limit=RESULTS_PER_PAGE)
    # As ``steppe run`` does after start-up: this process's own heap (the corpus's
    # vocabularies of 400,000 words a language) is not the bot's, and each full
    # collection walking it added 40-90 ms to one query.
    heap.settle()
    timings: dict[str, list[float]] = {kind: [] for kind in CLASSES}
    found: dict[str, int] = dict.fromkeys(CLASSES, 0)
    for query in queries:
        started = time.perf_counter()
        results = store.find(query.text, now=FIXED_NOW, limit=RESULTS_PER_PAGE)
        timings[query.kind].append(time.perf_counter() - started)
        found[query.kind] += results.status is SearchStatus.OK
    report: dict[str, Any] = {}
    for kind in CLASSES:
        report[kind] = percentiles(timings[kind])
        report[kind]["found"] = round(found[kind] / max(1, len(timings[kind])), 3)
    report["overall"] = percentiles([t for kind in CLASSES for t in timings[kind]])
    report["overall"]["found"] = round(sum(found.values()) / max(1, len(queries)), 3)
    return report


def like_sql(query: Query, placeholder: str) -> tuple[str, list[str]]:
    """The plain scan for ``query``: every pattern in the title or the summary."""
    conditions: list[str] = []
    params: list[str] = []
    for pattern in query.patterns:
        conditions.append(f"(a.title LIKE {placeholder} OR a.summary LIKE {placeholder})")
        params += [f"%{pattern}%", f"%{pattern}%"]
    if query.filter is not None:
        kind, code = query.filter
        if kind == "lang":
            conditions.append(f"a.language = {placeholder}")
        else:
            table, column = (
                ("article_topics", "topic")
                if kind == "topic"
                else (
                    "article_countries",
                    "country",
                )
            )
            conditions.append(
                f"EXISTS (SELECT 1 FROM {table} AS f"
                f" WHERE f.article_id = a.id AND f.{column} = {placeholder})"
            )
        params.append(code)
    sql = (
        f"SELECT a.id FROM articles AS a WHERE {' AND '.join(conditions)}"
        f" ORDER BY a.id DESC LIMIT {RESULTS_PER_PAGE}"
    )
    return sql, params


def measure_like(
    run: Callable[[str, list[str]], int], queries: Sequence[Query], per_class: int, placeholder: str
) -> dict[str, Any]:
    """Median time of the ``LIKE`` scan over the first ``per_class`` queries of each class."""
    report: dict[str, Any] = {}
    every: list[float] = []
    for kind in CLASSES:
        chosen = [query for query in queries if query.kind == kind][:per_class]
        timings: list[float] = []
        found = 0
        for query in chosen:
            sql, params = like_sql(query, placeholder)
            started = time.perf_counter()
            found += run(sql, params) > 0
            timings.append(time.perf_counter() - started)
        every += timings
        report[kind] = {
            "n": len(timings),
            "p50": round(statistics.median(timings) * 1000, 1) if timings else None,
            "found": round(found / max(1, len(chosen)), 3),
        }
    report["overall"] = {
        "n": len(every),
        "p50": round(statistics.median(every) * 1000, 1) if every else None,
    }
    return report


@dataclass(slots=True)
class LoadReport:
    """What loading the archive took."""

    articles: int = 0
    store_seconds: float = 0.0
    """Time spent inside ``save_articles`` (the rate reported)."""
    wall_seconds: float = 0.0
    """Including the generation of the articles."""
    progress: list[str] = field(default_factory=list)


def load(store: Store, corpus: Corpus) -> LoadReport:
    """Save every batch of ``corpus`` as its outlet's articles; stories as generated."""
    feed_ids = {state.spec.key: state.id for state in store.feed_states()}
    report = LoadReport()
    previous: list[SavedArticle] = []
    started = time.perf_counter()
    step = max(1, corpus.batch_count // 10)
    for batch in corpus:
        new = [
            (
                item.article,
                previous[item.joins].story_id if item.joins is not None and previous else None,
            )
            for item in batch.articles
        ]
        # First seen an hour after the newest of them was published, as by a collector.
        now = max(item.article.published_at for item in batch.articles) + timedelta(hours=1)
        saving = time.perf_counter()
        previous = store.save_articles(feed_ids[batch.outlet.key], new, [], now=now)
        report.store_seconds += time.perf_counter() - saving
        report.articles += len(new)
        if (batch.number + 1) % step == 0:
            _say(
                f"  loaded {report.articles:,} articles"
                f" ({report.articles / report.store_seconds:,.0f}/s in the store,"
                f" {time.perf_counter() - started:,.0f} s so far)"
            )
    report.wall_seconds = time.perf_counter() - started
    return report


# -- backends ----------------------------------------------------------------------------


class Backend:
    """A fresh database of one kind: its URL, raw access for sizes and scans, cleanup."""

    name = ""
    placeholder = "?"

    @property
    def url(self) -> str:
        """The store's database URL."""
        raise NotImplementedError

    def size(self) -> int:
        """Bytes the database takes now."""
        raise NotImplementedError

    def objects(self) -> dict[str, int]:
        """Bytes of each table and index (the search index's under names with
        ``article_fts`` or ``article_search``); empty when the backend cannot tell."""
        raise NotImplementedError

    def after_rebuild(self) -> None:
        """What the server would do on its own after a bulk rewrite (nothing on SQLite)."""

    def scan(self, sql: str, params: list[str]) -> int:
        """Run a raw ``LIKE`` scan; returns the rows found."""
        raise NotImplementedError

    def drop(self) -> None:
        """Remove the database."""
        raise NotImplementedError


class SqliteBackend(Backend):
    """A database file in a temporary directory."""

    name = "sqlite"
    placeholder = "?"

    def __init__(self, directory: Path, *, reuse: bool = False) -> None:
        self.path = directory / "search-bench.db"
        if reuse and not self.path.exists():
            raise FileNotFoundError(f"no kept database at {self.path}")
        if not reuse:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
        self._raw: sqlite3.Connection | None = None

    @property
    def url(self) -> str:
        return f"sqlite:///{self.path}"

    def _connection(self) -> sqlite3.Connection:
        if self._raw is None:
            self._raw = sqlite3.connect(self.path, isolation_level=None)
        return self._raw

    def size(self) -> int:
        # Move the WAL into the database file so that the file's size is the whole.
        self._connection().execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        wal = Path(f"{self.path}-wal")
        return self.path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)

    def objects(self) -> dict[str, int]:
        try:
            rows = (
                self._connection()
                .execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name")
                .fetchall()
            )
        except sqlite3.OperationalError:  # built without the dbstat table
            return {}
        sizes = {str(name): int(size) for name, size in rows}
        free = self._connection().execute("PRAGMA freelist_count").fetchone()[0]
        page = self._connection().execute("PRAGMA page_size").fetchone()[0]
        sizes["(free pages)"] = int(free) * int(page)
        return sizes

    def scan(self, sql: str, params: list[str]) -> int:
        return len(self._connection().execute(sql, params).fetchall())

    def drop(self) -> None:
        if self._raw is not None:
            self._raw.close()
            self._raw = None
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)


class PostgresBackend(Backend):
    """The dedicated database :data:`BENCH_DATABASE`, created afresh."""

    name = "postgresql"
    placeholder = "%s"

    def __init__(self, server_url: str, *, reuse: bool = False) -> None:
        server = make_url(server_url)
        self._server = server
        self._bench: URL = server.set(database=BENCH_DATABASE)
        if not reuse:
            with self._admin() as admin:
                admin.execute(f"DROP DATABASE IF EXISTS {BENCH_DATABASE} WITH (FORCE)")
                admin.execute(f"CREATE DATABASE {BENCH_DATABASE}")
        self._raw = self._connect(self._bench, autocommit=True)

    @staticmethod
    def _connect(url: URL, *, autocommit: bool) -> psycopg.Connection[Any]:
        return psycopg.connect(
            host=url.host or "127.0.0.1",
            port=url.port or 5432,
            user=url.username or "postgres",
            password=url.password or None,
            dbname=url.database,
            autocommit=autocommit,
            connect_timeout=5,
        )

    @contextmanager
    def _admin(self) -> Iterator[psycopg.Connection[Any]]:
        connection = self._connect(self._server, autocommit=True)
        try:
            yield connection
        finally:
            connection.close()

    @property
    def url(self) -> str:
        return self._bench.render_as_string(hide_password=False)

    def size(self) -> int:
        row = self._raw.execute("SELECT pg_database_size(current_database())").fetchone()
        return int(row[0]) if row else 0

    def objects(self) -> dict[str, int]:
        # A table's size with its TOAST table and maps; each index apart.
        rows = self._raw.execute(
            "SELECT c.relname, CASE c.relkind WHEN 'r' THEN pg_table_size(c.oid)"
            " ELSE pg_total_relation_size(c.oid) END"
            " FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace"
            " WHERE c.relkind IN ('r', 'i') AND n.nspname = current_schema()"
        ).fetchall()
        return {str(name): int(size) for name, size in rows}

    def after_rebuild(self) -> None:
        # Autovacuum would analyse the rewritten table and clear the GIN index's pending
        # list soon after a rebuild; doing it now makes the latency figures repeatable.
        self._raw.execute("VACUUM ANALYZE")

    def scan(self, sql: str, params: list[str]) -> int:
        return len(self._raw.execute(sql, params).fetchall())

    def version(self) -> str:
        """The server's version, e.g. ``15.20``."""
        row = self._raw.execute("SHOW server_version").fetchone()
        return str(row[0]) if row else "?"

    def drop(self) -> None:
        self._raw.close()
        with self._admin() as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {BENCH_DATABASE} WITH (FORCE)")


# -- one run -----------------------------------------------------------------------------


def run_backend(
    backend: Backend,
    corpus: Corpus,
    queries: Sequence[Query],
    warm_up: Sequence[Query],
    like_per_class: int,
    *,
    reuse: bool = False,
) -> dict[str, Any]:
    """Load, rebuild, size and query one backend; the figures as a JSON-ready dict.

    With ``reuse`` the archive an earlier ``--keep`` run left is not loaded again
    (there are no load figures; the size "after load" is the kept database's)."""
    name = backend.name
    loaded: LoadReport | None = None
    store = Store.open(backend.url)
    try:
        if reuse:
            _say(f"\n== {name}: reusing the kept archive of {corpus.size:,} articles")
            empty = 0
        else:
            _say(f"\n== {name}: loading {corpus.size:,} articles")
            store.sync_feeds(corpus.feed_specs(), now=FIXED_NOW - timedelta(days=800))
            empty = backend.size()
            loaded = load(store, corpus)
        after_load = backend.size() - empty
        parts_after_load = _parts(backend.objects(), corpus.size)
        _say(f"  size after load: {after_load / corpus.size:,.0f} bytes/article")

        _say("  rebuilding the search index")
        started = time.perf_counter()
        rebuilt = store.rebuild_search_index(now=FIXED_NOW)
        build_seconds = time.perf_counter() - started
        backend.after_rebuild()
        after_rebuild = backend.size() - empty
        parts_after_rebuild = _parts(backend.objects(), corpus.size)
        _say(f"  rebuilt {rebuilt:,} articles in {build_seconds:,.1f} s")

        _say(f"  {len(queries)} find queries")
        find = measure_find(store, queries, warm_up)
    finally:
        store.close()
    _say(f"  LIKE scans ({like_per_class} per class)")
    like = measure_like(backend.scan, queries, like_per_class, backend.placeholder)

    build_rate = rebuilt / build_seconds if build_seconds else 0.0
    bytes_per_article = after_load / corpus.size
    p95 = float(find["overall"]["p95"])
    return {
        "articles": corpus.size,
        "reused_archive": reuse,
        "load_articles_per_s": round(loaded.articles / loaded.store_seconds) if loaded else None,
        "load_seconds": round(loaded.store_seconds, 1) if loaded else None,
        "load_wall_seconds_with_generation": round(loaded.wall_seconds, 1) if loaded else None,
        "index_build_articles_per_s": round(build_rate),
        "index_build_seconds": round(build_seconds, 1),
        "bytes_per_article": round(bytes_per_article),
        "bytes_per_article_after_rebuild": round(after_rebuild / corpus.size),
        "size_parts_bytes_per_article": {
            "after_load": parts_after_load,
            "after_rebuild": parts_after_rebuild,
        },
        "find_ms": find,
        "like_ms": like,
        "targets": {
            "find_p95_ms": _target(p95, TARGET_P95_MS[name], below=True),
            "index_build_articles_per_s": _target(build_rate, TARGET_BUILD_PER_S, below=False),
            "bytes_per_article": _target(bytes_per_article, TARGET_BYTES_PER_ARTICLE, below=True),
        },
    }


def _parts(objects: dict[str, int], articles: int) -> dict[str, Any]:
    """Bytes per article of the search index, of everything else, and of each object."""
    index = sum(size for name, size in objects.items() if _is_search(name))
    return {
        "search_index": round(index / articles),
        "rest": round((sum(objects.values()) - index) / articles),
        "objects": {
            name: round(size / articles, 1)
            for name, size in sorted(objects.items(), key=lambda item: -item[1])
        },
    }


def _is_search(name: str) -> bool:
    return name.startswith("article_fts") or "article_search" in name


def _target(value: float, target: float, *, below: bool) -> dict[str, Any]:
    met = value < target if below else value >= target
    return {
        "value": round(value, 2),
        "target": target,
        "below" if below else "at_least": True,
        "met": met,
    }


def _say(text: str) -> None:
    print(text, flush=True)


# -- report ------------------------------------------------------------------------------


def print_table(results: dict[str, Any]) -> None:
    """The figures of every backend side by side."""
    backends = {name: r for name, r in results["backends"].items() if "skipped" not in r}
    names = list(backends)
    width = 28

    def row(label: str, cells: Sequence[str]) -> None:
        print(f"{label:30}" + "".join(f"{cell:>{width}}" for cell in cells))

    print(f"\n== search benchmark: {results['articles']:,} articles, {results['languages']}")
    row("", names)
    row(
        "load (articles/s)",
        [
            "- (reused)" if (rate := backends[n]["load_articles_per_s"]) is None else f"{rate:,}"
            for n in names
        ],
    )
    row(
        "index build (articles/s)",
        [
            _mark(
                f"{backends[n]['index_build_articles_per_s']:,}",
                backends[n],
                "index_build_articles_per_s",
            )
            for n in names
        ],
    )
    row(
        "bytes/article (after load)",
        [
            _mark(f"{backends[n]['bytes_per_article']:,}", backends[n], "bytes_per_article")
            for n in names
        ],
    )
    row(
        "bytes/article (after rebuild)",
        [f"{backends[n]['bytes_per_article_after_rebuild']:,}" for n in names],
    )
    parts = [backends[n]["size_parts_bytes_per_article"]["after_load"] for n in names]
    row("  of which search index", [f"{p.get('search_index', 0):,}" for p in parts])
    print("\nfind, ms p50 / p95 / p99 (share found)")
    for kind in (*CLASSES, "overall"):
        cells = []
        for n in names:
            f = backends[n]["find_ms"][kind]
            cell = f"{f['p50']:.1f} / {f['p95']:.1f} / {f['p99']:.1f} ({f['found']:.0%})"
            if kind == "overall":
                cell = _mark(cell, backends[n], "find_p95_ms")
            cells.append(cell)
        row(f"  {kind}", cells)
    print("\nLIKE scan, ms p50 (share found)")
    for kind in (*CLASSES, "overall"):
        cells = []
        for n in names:
            like = backends[n]["like_ms"][kind]
            cells.append(
                f"{like['p50']:,.0f}" + (f" ({like['found']:.0%})" if "found" in like else "")
            )
        row(f"  {kind}", cells)
    print(
        f"\ntargets: find p95 < {TARGET_P95_MS['sqlite']:.0f} ms (SQLite) /"
        f" {TARGET_P95_MS['postgresql']:.0f} ms (PostgreSQL); index build >="
        f" {TARGET_BUILD_PER_S:,.0f}/s; < {TARGET_BYTES_PER_ARTICLE:,.0f} bytes/article"
        "  (* = not met)"
    )
    for name, r in results["backends"].items():
        if "skipped" in r:
            print(f"{name}: skipped ({r['skipped']})")


def _mark(cell: str, backend: dict[str, Any], target: str) -> str:
    return cell if backend["targets"][target]["met"] else f"{cell} *"


# -- main --------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--articles", type=int, default=1_000_000)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--queries", type=int, default=150, help="find queries per class")
    parser.add_argument("--like-queries", type=int, default=5, help="LIKE scans per class")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--batch", type=int, default=1000, help="articles per save_articles")
    parser.add_argument(
        "--postgres-url",
        default=DEFAULT_POSTGRES_URL,
        help="a database on the server to use (the benchmark creates its own database there)",
    )
    parser.add_argument("--workdir", type=Path, default=None, help="where the SQLite file goes")
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the databases afterwards (with --workdir: the SQLite file is"
        " WORKDIR/search-bench.db)",
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="measure on the databases a --keep run with the same --workdir, --articles"
        " and --seed left, without loading them again (implies --keep)",
    )
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "search.json")
    args = parser.parse_args(argv)

    corpus = Corpus(args.articles, seed=args.seed, batch_size=args.batch)
    counts = corpus.language_counts()
    languages = ", ".join(f"{count / corpus.size:.0%} {lang}" for lang, count in counts.items())
    queries, warm_up = make_queries(corpus, args.queries, args.seed)
    results: dict[str, Any] = {
        "articles": corpus.size,
        "seed": args.seed,
        "languages": languages,
        "queries_per_class": args.queries,
        "like_queries_per_class": args.like_queries,
        "environment": {
            "cpus": os.cpu_count(),
            "python": sys.version.split()[0],
            "sqlite": sqlite3.sqlite_version,
        },
        "query_examples": {
            kind: [query.text for query in queries if query.kind == kind][:5] for kind in CLASSES
        },
        "backends": {},
    }
    _say(f"{corpus.size:,} articles ({languages}); {len(queries)} queries")

    names = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    if args.reuse:
        args.keep = True
        if args.workdir is None:
            parser.error("--reuse needs the --workdir of the --keep run")
    # A kept SQLite file goes straight into --workdir, where --reuse finds it again.
    fixed = args.keep and args.workdir is not None
    scratch = (
        args.workdir
        if fixed
        else Path(tempfile.mkdtemp(prefix="steppe-search-bench-", dir=args.workdir))
    )
    scratch.mkdir(parents=True, exist_ok=True)
    try:
        for name in names:
            backend: Backend
            if name == "sqlite":
                backend = SqliteBackend(scratch, reuse=args.reuse)
            else:
                try:
                    backend = PostgresBackend(args.postgres_url, reuse=args.reuse)
                except psycopg.Error as exc:
                    reason = f"PostgreSQL unreachable at {make_url(args.postgres_url)!r}: {exc}"
                    _say(f"\n== postgresql: skipped, {reason}")
                    results["backends"][name] = {"skipped": reason}
                    continue
            if isinstance(backend, PostgresBackend):
                results["environment"]["postgresql"] = backend.version()
            try:
                results["backends"][name] = run_backend(
                    backend, corpus, queries, warm_up, args.like_queries, reuse=args.reuse
                )
            finally:
                if args.keep:
                    _say(f"  kept: {backend.url}")
                else:
                    backend.drop()
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)

    print_table(results)
    write_figures(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
