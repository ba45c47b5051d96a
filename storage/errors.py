"""The storage layer's exceptions: everything it raises derives from :class:`StorageError`."""

from __future__ import annotations


class StorageError(Exception):
    """Root of every error the storage layer raises on purpose."""


class DatabaseUnavailableError(StorageError):
    """The database cannot be reached or opened (wrong URL, server down, bad path)."""


class MigrationError(StorageError):
    """The schema could not be brought up to date."""


class NotFoundError(StorageError, LookupError):
    """A feed or article id given to the store does not exist."""


class ConflictError(StorageError):
    """A write would break a uniqueness or reference rule.

    For example an article whose URL (any feed) or GUID (same feed) is already stored,
    the same URL twice in one batch, or a story id that does not exist. Nothing of the
    failed call is written.
    """
