"""Column types shared by every table, declared once as ``Annotated`` aliases.

Models write ``id: Mapped[intpk]`` or ``key: Mapped[str_short]`` instead of repeating
``mapped_column(...)`` arguments; the lengths below are the only place they are set.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from sqlalchemy import DateTime, Dialect, String, Text
from sqlalchemy.orm import mapped_column
from sqlalchemy.types import TypeDecorator

#: Longest language, country or topic code.
CODE_LENGTH = 32
#: Longest key or hash we store (hex SHA-256 is 64).
SHORT_LENGTH = 64
#: Longest outlet name.
NAME_LENGTH = 200
#: Longest feed URL, article URL or GUID. Longer ones are refused before they reach the
#: database: PostgreSQL cannot index arbitrarily long values in a unique b-tree.
URL_LENGTH = 2048


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware in UTC.

    PostgreSQL stores ``timestamp with time zone``; SQLite has no time zone support,
    so the value is converted to UTC and stored naive, then marked UTC on read.
    Writing a naive datetime raises :class:`ValueError`: its meaning would be a guess.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} refused: use an aware UTC one")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            # SQLite's DATETIME storage drops the offset silently; make that explicit.
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"database returned {type(value).__name__} for a timestamp")
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


intpk = Annotated[int, mapped_column(primary_key=True)]
"""Surrogate integer primary key (auto-increment)."""

str_code = Annotated[str, mapped_column(String(CODE_LENGTH))]
"""Language, country and topic codes."""

str_short = Annotated[str, mapped_column(String(SHORT_LENGTH))]
"""Keys, codes and hex digests."""

str_name = Annotated[str, mapped_column(String(NAME_LENGTH))]
"""Human-readable names."""

str_url = Annotated[str, mapped_column(String(URL_LENGTH))]
"""URLs and GUIDs."""

text = Annotated[str, mapped_column(Text)]
"""Unbounded text: titles, bodies, error messages."""

utc_datetime = Annotated[datetime, mapped_column(UTCDateTime())]
"""Timezone-aware UTC timestamp."""
