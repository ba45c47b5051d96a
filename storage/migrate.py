"""Schema migrations, driven programmatically (no ``alembic.ini`` needed at run time).

The migration scripts live in ``storage/migrations``. :func:`upgrade` brings a database
to the newest revision, :func:`current_revision` tells where it is, and :func:`check`
does what ``alembic check`` does: it fails when the models and the migrated schema
differ, which catches a model change that has no migration.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Engine
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from storage.engine import WRITE_OPTION, create_engine_for, describe_db_error, mask_url
from storage.errors import DatabaseUnavailableError, MigrationError
from storage.models import is_search_index_table, metadata

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config() -> Config:
    """An Alembic configuration pointing at the project's migration scripts."""
    config = Config()
    # ConfigParser interpolates '%': escape it in case the path contains one.
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    return config


def head_revision() -> str:
    """The newest revision among the migration scripts."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise MigrationError(f"no migration scripts found in {MIGRATIONS_DIR}")
    return head


def upgrade(target: str | Engine, revision: str = "head") -> None:
    """Migrate the database at ``target`` (a URL or an engine) up to ``revision``.

    Runs in one transaction (both backends have transactional DDL), so a failing
    migration leaves the schema as it was. Raises :class:`DatabaseUnavailableError`
    when the database cannot be reached and :class:`MigrationError` when migrating fails.
    """
    with _connection(target, write=True) as connection:
        config = alembic_config()
        config.attributes["connection"] = connection
        try:
            command.upgrade(config, revision)
        except (CommandError, SQLAlchemyError) as exc:
            raise MigrationError(
                f"migrating {mask_url(connection.engine.url)} to {revision} failed: {exc}"
            ) from exc


def current_revision(target: str | Engine) -> str | None:
    """The revision the database at ``target`` is at; ``None`` for an empty database."""
    with _connection(target) as connection:
        return MigrationContext.configure(connection).get_current_revision()


def check(target: str | Engine) -> None:
    """Fail unless the database is at the head revision and matches the models exactly.

    The equivalent of ``alembic check``: Alembic's autogenerate compares the live schema
    with :data:`storage.models.metadata` (types included). Raises :class:`MigrationError`
    listing the differences.
    """
    head = head_revision()
    with _connection(target) as connection:
        context = MigrationContext.configure(
            connection,
            opts={
                "compare_type": True,
                "render_as_batch": connection.dialect.name == "sqlite",
                "target_metadata": metadata,
                "include_name": include_name,
            },
        )
        current = context.get_current_revision()
        if current != head:
            raise MigrationError(
                f"{mask_url(connection.engine.url)} is at revision {current}, not at head {head}"
            )
        differences = compare_metadata(context, metadata)
    if differences:
        listed = "\n".join(f"  {difference!r}" for difference in differences)
        raise MigrationError(f"the models differ from the migrated schema:\n{listed}")


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Alembic's ``include_name`` hook: skip the full-text index's tables in comparisons.

    They are raw DDL outside the metadata (see :data:`storage.models.SEARCH_INDEX_TABLES`).
    """
    return not (type_ == "table" and is_search_index_table(name))


@contextmanager
def _connection(target: str | Engine, *, write: bool = False) -> Iterator[Connection]:
    """A connection in a transaction (committed on success) to ``target``.

    An engine made here from a URL is disposed afterwards; a given engine is not.
    """
    base = create_engine_for(target) if isinstance(target, str) else target
    engine = base.execution_options(**{WRITE_OPTION: True}) if write else base
    try:
        try:
            connection = engine.connect()
        except DBAPIError as exc:
            raise DatabaseUnavailableError(
                f"cannot connect to {mask_url(base.url)}: {describe_db_error(exc, base.url)}"
            ) from exc
        try:
            with connection, connection.begin():
                yield connection
        except SQLAlchemyError as exc:
            raise MigrationError(
                f"reading the schema of {mask_url(base.url)} failed: {exc}"
            ) from exc
    finally:
        if isinstance(target, str):
            base.dispose()
