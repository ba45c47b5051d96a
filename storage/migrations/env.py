"""Alembic environment for the Steppe Digest schema.

Two ways in:

* programmatically, from :mod:`storage.migrate`, which passes an open connection in
  ``config.attributes["connection"]`` (the connection's transaction is used);
* from the command line (``alembic upgrade head``, ``alembic check`` at the repository
  root), where the URL comes from the environment variable ``STEPPE_DATABASE_URL``
  (default ``sqlite:///data/steppe.db``).

SQLite cannot ALTER most things, so migrations run in batch mode there.
With a connection from the application, ``storage.migrate`` holds the transaction.
"""

from __future__ import annotations

import os
from logging.config import fileConfig

from alembic import context
from sqlalchemy.engine import Connection

from storage.engine import create_engine_for, parse_url
from storage.migrate import include_name
from storage.models import metadata

DEFAULT_DATABASE_URL = "sqlite:///data/steppe.db"

config = context.config


def _database_url() -> str:
    return (
        os.environ.get("STEPPE_DATABASE_URL")
        or config.get_main_option("sqlalchemy.url")
        or DEFAULT_DATABASE_URL
    )


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        include_name=include_name,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        # Both backends roll DDL back with the transaction (on SQLite because
        # storage.engine emits BEGIN itself), so a failed migration leaves no half-schema.
        transactional_ddl=True,
    )


def _run_offline() -> None:
    url = parse_url(_database_url())
    context.configure(
        url=url,
        target_metadata=metadata,
        render_as_batch=url.get_backend_name() == "sqlite",
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_online() -> None:
    given = config.attributes.get("connection")
    if isinstance(given, Connection):
        _configure(given)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine_for(_database_url())
    try:
        with engine.connect() as connection:
            _configure(connection)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


# The command line wants the ini file's logging set-up; a caller that already set up
# logging (the application, the tests) passes a connection or ``configure_logging=False``.
if (
    config.config_file_name is not None
    and "connection" not in config.attributes
    and config.attributes.get("configure_logging", True)
):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

if context.is_offline_mode():
    _run_offline()
else:
    _run_online()
