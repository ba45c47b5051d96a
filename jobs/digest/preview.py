"""A chat's digest as it would be built now, without sending or recording anything.

For ``/digest`` and ``steppe digest --preview``: the same selection the dispatcher
makes (since the chat's last delivered digest, leaving out what it was sent), read
from the store in three short queries.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from jobs.digest.selection import Digest, SelectionSettings, select
from storage import Store
from storage.records import ChatSettings

_HISTORY_MARGIN = timedelta(days=1)
"""How far back a chat's sent stories are remembered, beyond the longest window."""


def preview(store: Store, chat: ChatSettings, now: datetime, settings: SelectionSettings) -> Digest:
    """The digest ``chat`` would get at ``now``. Blocking (store calls)."""
    oldest = now - settings.max_window
    history = store.deliveries.history([chat.id], since=oldest - _HISTORY_MARGIN)[chat.id]
    articles = store.digest_articles(seen_since=oldest, published_since=oldest)
    return select(chat, articles, history, now, settings)
