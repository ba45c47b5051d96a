"""The storage layer: the only part of Steppe Digest that talks to the database.

Everything above it uses :class:`Store` and the plain records; SQLAlchemy, Alembic and
psycopg stay inside this package.
"""

from storage.engine import mask_url
from storage.errors import (
    ConflictError,
    DatabaseUnavailableError,
    MigrationError,
    NotFoundError,
    StorageError,
)
from storage.migrate import check, current_revision, head_revision, upgrade
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
from storage.store import Store
from storage.types import URL_LENGTH

#: Longest article URL or GUID the store accepts; the collector skips longer ones.
MAX_URL_LENGTH = URL_LENGTH

__all__ = [
    "COUNTRIES",
    "LANGUAGES",
    "MAX_URL_LENGTH",
    "TOPICS",
    "ArticleInput",
    "ArticleText",
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
