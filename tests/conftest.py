"""Shared fixtures: a fresh, migrated, empty database per test on either backend.

The backend comes from the environment variable ``STEPPE_TEST_DATABASE``:

* ``sqlite`` (default): a new database file in the test's ``tmp_path``;
* ``postgresql``: the server at ``STEPPE_TEST_POSTGRES_URL`` (default
  ``postgresql+psycopg://postgres@127.0.0.1:5432/test``). The schema is migrated once
  per session into a schema of its own, dropped at the end; tables are emptied
  between tests with ``TRUNCATE ... RESTART IDENTITY CASCADE``, which is fast. When
  the server does not answer, the database tests are skipped, naming the URL.

Every test that uses ``database_url``, ``empty_database_url`` or ``store`` is marked
``db``, so CI can run just those against PostgreSQL:
``STEPPE_TEST_DATABASE=postgresql pytest -m db``.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from storage import Store, upgrade
from storage.engine import mask_url, parse_url
from storage.models import metadata

BACKEND_VARIABLE = "STEPPE_TEST_DATABASE"
POSTGRES_URL_VARIABLE = "STEPPE_TEST_POSTGRES_URL"
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DB_FIXTURES = frozenset({"database_url", "empty_database_url", "store"})


def backend() -> str:
    """``"sqlite"`` or ``"postgresql"``, from the environment."""
    name = os.environ.get(BACKEND_VARIABLE, "sqlite").strip().lower() or "sqlite"
    if name in ("postgres", "pg"):
        name = "postgresql"
    if name not in ("sqlite", "postgresql"):
        raise pytest.UsageError(f"{BACKEND_VARIABLE} must be sqlite or postgresql, not {name!r}")
    return name


def postgres_url() -> str:
    """The PostgreSQL server URL the tests use (psycopg 3 driver)."""
    raw = os.environ.get(POSTGRES_URL_VARIABLE, DEFAULT_POSTGRES_URL)
    return parse_url(raw).render_as_string(hide_password=False)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "db: uses a real database (SQLite by default; STEPPE_TEST_DATABASE=postgresql "
        "for PostgreSQL)",
    )


def pytest_report_header(config: pytest.Config) -> str:
    if backend() == "postgresql":
        return f"database backend: postgresql at {mask_url(postgres_url())}"
    return "database backend: sqlite (a new file per test)"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if DB_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.db)


def _schema_url(server_url: str, schema: str) -> str:
    """``server_url`` with every connection's search path set to ``schema`` alone."""
    url = make_url(server_url)
    return url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
        hide_password=False
    )


class _PostgresServer:
    """Creates and drops throw-away schemas on the test server."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = sa.create_engine(url, poolclass=sa.NullPool)

    def create_schema(self) -> tuple[str, str]:
        schema = f"steppe_test_{uuid.uuid4().hex[:12]}"
        with self.engine.begin() as connection:
            connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        return schema, _schema_url(self.url, schema)

    def drop_schema(self, schema: str) -> None:
        with self.engine.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(scope="session")
def _postgres_server() -> Iterator[_PostgresServer]:
    url = postgres_url()
    server = _PostgresServer(url)
    try:
        with server.engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
    except sa.exc.DBAPIError as exc:
        server.engine.dispose()
        reason = str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() else ""
        pytest.skip(f"PostgreSQL at {mask_url(url)} does not answer: {reason}")
    yield server
    server.engine.dispose()


@pytest.fixture(scope="session")
def _postgres_migrated(_postgres_server: _PostgresServer) -> Iterator[str]:
    """URL of a schema migrated once for the whole session."""
    schema, url = _postgres_server.create_schema()
    try:
        upgrade(url)
        yield url
    finally:
        _postgres_server.drop_schema(schema)


def _truncate_all(url: str) -> None:
    tables = ", ".join(f'"{table.name}"' for table in metadata.sorted_tables)
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once per session; each test gets a copy (much faster)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "steppe.db"
    upgrade(f"sqlite:///{path}")
    # Closing the last connection checkpointed the WAL into the file: it is complete.
    return path


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """URL of a migrated database with no rows in it, for this test alone."""
    if backend() == "postgresql":
        url: str = request.getfixturevalue("_postgres_migrated")
        _truncate_all(url)
        return url
    template: Path = request.getfixturevalue("_sqlite_template")
    path = tmp_path / "steppe.db"
    shutil.copyfile(template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of a database with no tables at all (not migrated), for this test alone."""
    if backend() == "postgresql":
        server: _PostgresServer = request.getfixturevalue("_postgres_server")
        schema, url = server.create_schema()
        try:
            yield url
        finally:
            server.drop_schema(schema)
        return
    yield f"sqlite:///{tmp_path / 'empty.db'}"


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    """An open :class:`Store` on a fresh, migrated, empty database."""
    opened = Store.open(database_url, upgrade=False)
    try:
        yield opened
    finally:
        opened.close()
