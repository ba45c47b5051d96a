"""The storage layer: the only part of Steppe Digest that talks to the database.

Everything above it uses :class:`Store` and the plain records; SQLAlchemy, Alembic and
psycopg stay inside this package.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

from storage.errors import (
    ConflictError,
    DatabaseUnavailableError,
    MigrationError,
    NotFoundError,
    StorageError,
)
from storage.records import (
    COUNTRIES,
    LANGUAGES,
    TOPICS,
    ArticleInput,
    ArticleText,
    Classification,
    FeedSpec,
    FeedState,
    FetchRecord,
    KnownArticle,
    SavedArticle,
    StoreStats,
    StoryCandidate,
    StoryInfo,
    Validators,
)

if TYPE_CHECKING:
    from storage.engine import mask_url
    from storage.migrate import check, current_revision, head_revision, upgrade
    from storage.store import ArticleWriter, Store

    MAX_URL_LENGTH: int

# The records and errors are plain Python; the rest needs SQLAlchemy (and the
# migrations Alembic), ~45 MB a process. They are imported on first use, so the
# parse/classify worker processes, which only need the records, never load them.
_LAZY = {
    "Store": "storage.store",
    "ArticleWriter": "storage.store",
    "mask_url": "storage.engine",
    "check": "storage.migrate",
    "current_revision": "storage.migrate",
    "head_revision": "storage.migrate",
    "upgrade": "storage.migrate",
}


def __getattr__(name: str) -> Any:
    """The lazily imported names (PEP 562); any other name raises AttributeError."""
    if name == "MAX_URL_LENGTH":
        # Longest article URL or GUID the store accepts; the collector skips longer ones.
        return import_module("storage.types").URL_LENGTH
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'storage' has no attribute {name!r}")
    return getattr(import_module(module), name)


__all__ = [
    "COUNTRIES",
    "LANGUAGES",
    "MAX_URL_LENGTH",
    "TOPICS",
    "ArticleInput",
    "ArticleText",
    "ArticleWriter",
    "Classification",
    "ConflictError",
    "DatabaseUnavailableError",
    "FeedSpec",
    "FeedState",
    "FetchRecord",
    "KnownArticle",
    "MigrationError",
    "NotFoundError",
    "SavedArticle",
    "StorageError",
    "Store",
    "StoreStats",
    "StoryCandidate",
    "StoryInfo",
    "Validators",
    "check",
    "current_revision",
    "head_revision",
    "mask_url",
    "upgrade",
]
