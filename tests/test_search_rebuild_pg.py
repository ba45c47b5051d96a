"""Rebuilding the PostgreSQL search index: a new table swapped in, with writers waiting.

The rebuild fills ``article_search_new``, builds its keys and GIN index, and replaces
``article_search`` in the caller's transaction (:meth:`TsvectorIndex.rebuilding`).
These tests run on PostgreSQL only (``STEPPE_TEST_DATABASE=postgresql pytest -m db``);
the behaviour both backends share is in ``tests/test_search.py``.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from storage import ArticleInput, Classification, Store, check
from storage.search import index, service
from storage.search.index import AnalysedRow, IndexText, SearchIndex, TsvectorIndex
from tests.conftest import backend
from tests.test_search import DOCS, NOW, Doc, _input, found, load

pytestmark = pytest.mark.skipif(
    backend() != "postgresql", reason="PostgreSQL's rebuild (STEPPE_TEST_DATABASE=postgresql)"
)

#: How long a test waits for another session to reach a lock before it fails.
WAIT_SECONDS = 30.0

NEW_DOC = Doc(
    "aral",
    "timesca",
    "en",
    "Aral Sea fishermen return to Aralsk",
    "The northern sea's water level rose again this year.",
    ("society",),
    ("kz",),
)


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    """Connections of our own next to the store's: the rebuild's transaction."""
    made = sa.create_engine(database_url, poolclass=sa.NullPool)
    yield made
    made.dispose()


def schema(connection: sa.Connection) -> dict[str, Any]:
    """``article_search`` as the catalogue describes it: columns, constraints, indexes."""
    return {
        "columns": connection.exec_driver_sql(
            "SELECT attname, format_type(atttypid, atttypmod), attnotnull FROM pg_attribute"
            " WHERE attrelid = 'article_search'::regclass AND attnum > 0 AND NOT attisdropped"
            " ORDER BY attnum"
        ).all(),
        "constraints": connection.exec_driver_sql(
            "SELECT conname, contype, convalidated, pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid = 'article_search'::regclass ORDER BY conname"
        ).all(),
        "indexes": connection.exec_driver_sql(
            "SELECT indexname, indexdef FROM pg_indexes"
            " WHERE schemaname = current_schema() AND tablename = 'article_search'"
            " ORDER BY indexname"
        ).all(),
        "tables": connection.exec_driver_sql(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
            " AND tablename LIKE 'article_search%%' ORDER BY tablename"
        ).all(),
    }


def during_rebuild(monkeypatch: pytest.MonkeyPatch, step: Callable[[sa.Connection], None]) -> None:
    """Make the next rebuild run ``step`` on its connection after its first batch of
    rows is written to the new table, before the swap."""
    analysed = service._analysed_batches
    monkeypatch.setattr(service, "REBUILD_BATCH", 4)

    def batches(connection: sa.Connection, index: SearchIndex) -> Iterator[list[AnalysedRow]]:
        for number, rows in enumerate(analysed(connection, index)):
            yield rows
            if number == 0:
                step(connection)

    monkeypatch.setattr(service, "_analysed_batches", batches)


def wait_until_blocked_by(connection: sa.Connection, thread: threading.Thread) -> None:
    """Return once another session waits for a lock ``connection``'s session holds."""
    deadline = time.monotonic() + WAIT_SECONDS
    while thread.is_alive() and time.monotonic() < deadline:
        # pg_stat_activity is read once per transaction unless told to read it afresh
        # (a session that connected after the first poll would never show up).
        connection.exec_driver_sql("SELECT pg_stat_clear_snapshot()")
        if connection.exec_driver_sql(
            "SELECT EXISTS (SELECT 1 FROM pg_stat_activity"
            " WHERE pg_backend_pid() = ANY(pg_blocking_pids(pid)))"
        ).scalar():
            return
        time.sleep(0.01)  # polling another session's state, not timing a result
    raise AssertionError("the writer never waited for the rebuild (finished or failed first)")


class Writer(threading.Thread):
    """Runs one store call in a thread of its own; keeps its result or its error."""

    def __init__(self, call: Callable[[], object]) -> None:
        super().__init__(daemon=True)
        self._call = call
        self.result: object = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self._call()
        except BaseException as exc:  # handed to the test's thread
            self.error = exc

    def outcome(self) -> object:
        self.join(WAIT_SECONDS)
        assert not self.is_alive(), "the writer still waits after the rebuild committed"
        if self.error is not None:
            raise self.error
        return self.result


def rebuild_in(engine: sa.Engine) -> int:
    """A rebuild in a transaction of our own, committed on return."""
    with engine.begin() as connection:
        return service.rebuild(connection, TsvectorIndex(), now=NOW)


def test_a_rebuild_leaves_the_schema_the_migrations_made(
    store: Store, engine: sa.Engine, database_url: str
) -> None:
    load(store)
    with engine.connect() as connection:
        before = schema(connection)
    assert before["indexes"], "the migrated table has its indexes"
    assert store.rebuild_search_index(now=NOW) == len(DOCS)
    with engine.connect() as connection:
        assert schema(connection) == before
    check(database_url)  # nothing left over (an extra table would be reported)


def test_after_a_rebuild_search_works_and_a_deleted_article_takes_its_entry(
    store: Store, engine: sa.Engine
) -> None:
    ids = load(store)
    queries = ("startups", "IT-хаб lang:ru", '"IT park"', "energy country:uz", "startups -Almaty")
    before = {query: found(store, ids, query) for query in queries}
    for _ in range(6):  # so that the driver prepares the statements before the swap
        assert {query: found(store, ids, query) for query in queries} == before
    assert store.rebuild_search_index(now=NOW) == len(DOCS)
    assert {query: found(store, ids, query) for query in queries} == before
    with engine.begin() as connection:
        # Not through the store, which removes entries itself: the foreign key must.
        connection.exec_driver_sql("DELETE FROM articles WHERE id = %s", (ids["qazaqstan"],))
        left = connection.exec_driver_sql(
            "SELECT count(*) FROM article_search WHERE article_id = %s", (ids["qazaqstan"],)
        ).scalar()
    assert left == 0
    assert found(store, ids, "Qazaqstan") == set()


def _store_new_article(store: Store, ids: dict[str, int]) -> Callable[[], object]:
    """The collector's way: look the articles up, then save them, in one transaction."""
    feed = {state.spec.key: state.id for state in store.feed_states()}[NEW_DOC.feed]
    article: ArticleInput = _input(NEW_DOC)

    def call() -> object:
        with store.article_writer() as writer:
            assert writer.known_articles(feed, [article.guid], [article.url]) == []
            saved = writer.save_articles(feed, [(article, None)], [], now=NOW)
        ids[NEW_DOC.key] = saved[0].id
        return None

    return call


@pytest.mark.parametrize("write", ["store", "reclassify", "delete"])
def test_a_writer_during_a_rebuild_waits_for_it_and_is_not_lost(
    store: Store, engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, write: str
) -> None:
    ids = load(store)
    calls: dict[str, Callable[[], object]] = {
        "store": _store_new_article(store, ids),
        "reclassify": lambda: store.set_classifications(
            [(ids["hub-almaty"], Classification(topics={"energy": 0.9}, countries=["uz"]))]
        ),
        "delete": lambda: store.delete_articles([ids["qazaqstan"]]),
    }
    writer = Writer(calls[write])

    def start_writer(connection: sa.Connection) -> None:
        writer.start()
        wait_until_blocked_by(connection, writer)

    during_rebuild(monkeypatch, start_writer)
    assert rebuild_in(engine) == len(DOCS)
    writer.outcome()
    if write == "store":
        assert found(store, ids, "Aralsk fishermen") == {"aral"}
    elif write == "reclassify":
        assert "hub-almaty" in found(store, ids, "startups topic:energy country:uz")
        assert "hub-almaty" not in found(store, ids, "startups topic:it_hubs")
    else:
        assert found(store, ids, "Qazaqstan") == set()
        assert store.article_count() == len(DOCS) - 1
    assert found(store, ids, "IT-хаб") == {"tashkent-hubs", "hub-residents"}


def test_a_second_rebuild_waits_for_the_first(
    store: Store, engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    ids = load(store)
    with engine.connect() as connection:
        before = schema(connection)
    second = Writer(lambda: store.rebuild_search_index(now=NOW))

    def start_second(connection: sa.Connection) -> None:
        if threading.current_thread() is not second:  # not when it rebuilds itself
            second.start()
            wait_until_blocked_by(connection, second)

    during_rebuild(monkeypatch, start_second)
    assert rebuild_in(engine) == len(DOCS)
    assert second.outcome() == len(DOCS)
    assert found(store, ids, "Qazaqstan") == {"qazaqstan"}
    with engine.connect() as connection:
        assert schema(connection) == before
    check(database_url)


def test_a_search_during_a_rebuild_reads_the_old_index(
    store: Store, engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = load(store)
    with engine.begin() as connection:  # an entry the old index lacks, the new one has
        connection.exec_driver_sql(
            "DELETE FROM article_search WHERE article_id = %s", (ids["qazaqstan"],)
        )
    seen: dict[str, set[str]] = {}

    def search(_connection: sa.Connection) -> None:
        seen["Qazaqstan"] = found(store, ids, "Qazaqstan")
        seen["startups"] = found(store, ids, "startups")

    during_rebuild(monkeypatch, search)
    rebuild_in(engine)
    assert seen == {"Qazaqstan": set(), "startups": {"hub-almaty", "venture-law"}}
    assert found(store, ids, "Qazaqstan") == {"qazaqstan"}


def test_a_failed_rebuild_leaves_the_old_index(
    store: Store, engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    ids = load(store)

    def fail(_connection: sa.Connection) -> None:
        raise RuntimeError("the rebuild broke off")

    during_rebuild(monkeypatch, fail)
    with pytest.raises(RuntimeError, match="broke off"):
        rebuild_in(engine)
    assert found(store, ids, "Qazaqstan") == {"qazaqstan"}
    check(database_url)


def access(connection: sa.Connection) -> tuple[str, set[tuple[str, str, bool]]]:
    """``article_search``'s owner, and who else may do what on it (``PUBLIC`` for all)."""
    owner = connection.exec_driver_sql(
        "SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = 'article_search'::regclass"
    ).scalar_one()
    granted = connection.exec_driver_sql(
        "SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END,"
        " a.privilege_type, a.is_grantable"
        " FROM pg_class AS c, aclexplode(c.relacl) AS a"
        " WHERE c.oid = 'article_search'::regclass AND a.grantee <> c.relowner"
    ).all()
    return owner, {(role, privilege, grantable) for role, privilege, grantable in granted}


@pytest.fixture
def roles(engine: sa.Engine) -> Iterator[tuple[str, str]]:
    """Two throw-away roles, an owner and a reader, with names that need quoting; what
    they own goes back to the test's role and their privileges are revoked after."""
    suffix = uuid.uuid4().hex[:8]
    made = (f"steppe owner 100% {suffix}", f'steppe "reader" {suffix}')
    with engine.begin() as connection:
        for role in made:
            connection.exec_driver_sql(f"CREATE ROLE {quoted(role)} NOLOGIN")
    try:
        yield made
    finally:
        with engine.begin() as connection:
            for role in made:
                connection.exec_driver_sql(f"REASSIGN OWNED BY {quoted(role)} TO current_user")
                connection.exec_driver_sql(f"DROP OWNED BY {quoted(role)}")
                connection.exec_driver_sql(f"DROP ROLE {quoted(role)}")
            connection.exec_driver_sql("REVOKE ALL ON article_search FROM PUBLIC")


def quoted(role: str) -> str:
    """A role name as an SQL identifier (``%`` doubled for the driver's placeholders)."""
    return '"' + role.replace('"', '""').replace("%", "%%") + '"'


def test_a_rebuild_keeps_the_owner_and_the_privileges_of_the_index(
    store: Store, engine: sa.Engine, roles: tuple[str, str]
) -> None:
    ids = load(store)
    owner, reader = roles
    with engine.begin() as connection:
        connection.exec_driver_sql(f"ALTER TABLE article_search OWNER TO {quoted(owner)}")
        connection.exec_driver_sql(
            f"GRANT SELECT ON article_search TO {quoted(reader)} WITH GRANT OPTION"
        )
        connection.exec_driver_sql("GRANT REFERENCES ON article_search TO PUBLIC")
        before = access(connection)
    assert before == (
        owner,
        {("PUBLIC", "REFERENCES", False), (reader, "SELECT", True)},
    )
    assert store.rebuild_search_index(now=NOW) == len(DOCS)
    with engine.connect() as connection:
        assert access(connection) == before
    assert found(store, ids, "Qazaqstan") == {"qazaqstan"}


@pytest.mark.parametrize("first", ["articles", "article_search"])
def test_a_reader_holding_either_table_outlasts_the_swap_and_neither_is_aborted(
    store: Store, engine: sa.Engine, first: str
) -> None:
    """A reader's transaction holds one table and then reads the other while the swap
    waits for it. Had the swap held the second table meanwhile, the two would wait for
    each other until PostgreSQL aborted one: the search, or the whole rebuild."""
    ids = load(store)
    other = "article_search" if first == "articles" else "articles"
    rebuild = Writer(lambda: rebuild_in(engine))
    with engine.connect() as reader:
        reader.exec_driver_sql(f"SELECT count(*) FROM {first}").scalar()
        rebuild.start()
        wait_until_blocked_by(reader, rebuild)  # the swap waits for the reader's table
        assert reader.exec_driver_sql(f"SELECT count(*) FROM {other}").scalar() == len(DOCS)
        reader.commit()
    assert rebuild.outcome() == len(DOCS)
    assert found(store, ids, "Qazaqstan") == {"qazaqstan"}


@pytest.mark.parametrize(
    ("title", "body"),
    [
        ("Astana Hub", "Astana Hub hosts startups; the hub grows. IT-хаб Ташкента и IT-хабы."),
        ("", "solar " * 200 + "wind"),  # within the fast literal's bounds
        ("solar", "solar " * 300),  # past 255 positions of one lexeme
        ("", " ".join(f"word{n}" for n in range(17_000))),  # positions past 16383
        ("", ""),
    ],
)
def test_the_documents_literal_reads_as_the_grouped_one(
    engine: sa.Engine, title: str, body: str
) -> None:
    """The literal written for an article (each occurrence apart where PostgreSQL's
    limits allow) is the same document as every term once with its positions."""
    item = IndexText(1, title, body, "", "en", topics=("energy",), countries=("kz",))
    titles, bodies = index.title_terms(item), index.body_terms(item)
    facets = index.facets_literal("en", ("energy",), ("kz",))
    with engine.connect() as connection:
        written, grouped = connection.exec_driver_sql(
            "SELECT CAST(%s AS tsvector)::text, CAST(%s AS tsvector)::text",
            (index.tsvector_literal(item), f"{index._grouped_literal(titles, bodies)} {facets}"),
        ).one()
    assert written == grouped
    assert "'topic:energy':16383C" in written
