"""Feeds: syncing the configuration and the fetch bookkeeping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from storage import FeedSpec, FetchRecord, NotFoundError, Store, Validators

NOW = datetime(2025, 5, 20, 6, 0, tzinfo=UTC)

ASTANA = FeedSpec(
    key="astanatimes",
    name="The Astana Times",
    url="https://astanatimes.com/feed/",
    language="en",
    country="kz",
)
KUN = FeedSpec(
    key="kun", name="Kun.uz", url="https://kun.uz/ru/news/rss", language="ru", country="uz"
)
AKIPRESS = FeedSpec(
    key="akipress",
    name="AKIpress",
    url="https://akipress.com/rss/news.rss",
    language=None,
    country="kg",
)


def _state(store: Store, key: str) -> object:
    state = store.feed_state(key)
    assert state is not None
    return state


def test_sync_inserts_new_feeds_sorted_by_key(store: Store) -> None:
    store.sync_feeds([KUN, ASTANA, AKIPRESS], now=NOW)
    states = store.feed_states()
    assert [state.spec for state in states] == [AKIPRESS, ASTANA, KUN]
    assert all(state.consecutive_failures == 0 for state in states)
    assert all(state.validators == Validators() for state in states)
    assert all(state.last_attempt_at is None for state in states)
    assert len({state.id for state in states}) == 3


def test_sync_updates_changed_fields_and_keeps_the_id(store: Store) -> None:
    store.sync_feeds([ASTANA], now=NOW)
    before = store.feed_states()[0]
    renamed = FeedSpec(
        key="astanatimes", name="Astana Times (EN)", url=ASTANA.url, language=None, country="kz"
    )
    store.sync_feeds([renamed], now=NOW)
    after = store.feed_states()[0]
    assert after.id == before.id
    assert after.spec == renamed


def test_sync_disables_removed_feeds_and_reenables_them(store: Store) -> None:
    store.sync_feeds([ASTANA, KUN], now=NOW)
    store.sync_feeds([KUN], now=NOW)
    assert [state.spec.key for state in store.feed_states()] == ["kun"]
    everything = store.feed_states(enabled_only=False)
    assert [(s.spec.key, s.spec.enabled) for s in everything] == [
        ("astanatimes", False),
        ("kun", True),
    ]
    store.sync_feeds([ASTANA, KUN], now=NOW)
    assert [state.spec.key for state in store.feed_states()] == ["astanatimes", "kun"]


def test_sync_keeps_a_feed_configured_as_disabled(store: Store) -> None:
    paused = FeedSpec(
        key="kun", name=KUN.name, url=KUN.url, language="ru", country="uz", enabled=False
    )
    store.sync_feeds([paused, ASTANA], now=NOW)
    assert [state.spec.key for state in store.feed_states()] == ["astanatimes"]
    assert store.stats().enabled_feeds == 1
    assert store.stats().feeds == 2


def test_sync_refuses_duplicate_keys(store: Store) -> None:
    with pytest.raises(ValueError, match="'kun' is configured twice"):
        store.sync_feeds([KUN, KUN], now=NOW)
    assert store.feed_states(enabled_only=False) == []


def test_success_records_validators_and_clears_errors(store: Store) -> None:
    store.sync_feeds([KUN], now=NOW)
    feed_id = store.feed_states()[0].id
    store.record_fetch(
        feed_id,
        FetchRecord(
            attempted_at=NOW,
            succeeded=False,
            error="HTTP 503 Service Unavailable",
            validators=None,
            next_attempt_at=NOW + timedelta(minutes=30),
        ),
    )
    validators = Validators(
        etag='W/"5f2-kun"', last_modified="Tue, 20 May 2025 05:58:00 GMT", body_sha256="ab" * 32
    )
    later = NOW + timedelta(minutes=30)
    store.record_fetch(
        feed_id,
        FetchRecord(
            attempted_at=later,
            succeeded=True,
            error=None,
            validators=validators,
            next_attempt_at=later + timedelta(hours=1),
        ),
    )
    state = store.feed_states()[0]
    assert state.validators == validators
    assert state.last_success_at == later
    assert state.last_attempt_at == later
    assert state.next_attempt_at == later + timedelta(hours=1)
    assert state.consecutive_failures == 0
    assert state.last_error is None
    assert state.last_error_at == NOW  # when it last failed stays known


def test_failures_count_up_and_keep_the_validators(store: Store) -> None:
    store.sync_feeds([ASTANA], now=NOW)
    feed_id = store.feed_states()[0].id
    kept = Validators(etag='"abc"', last_modified=None, body_sha256=None)
    store.record_fetch(
        feed_id,
        FetchRecord(NOW, succeeded=True, error=None, validators=kept, next_attempt_at=NOW),
    )
    for attempt in range(1, 4):
        at = NOW + timedelta(hours=attempt)
        store.record_fetch(
            feed_id,
            FetchRecord(
                attempted_at=at,
                succeeded=False,
                error=f"timed out after 20 s (attempt {attempt})",
                validators=None,
                next_attempt_at=at + timedelta(hours=2**attempt),
            ),
        )
    state = store.feed_states()[0]
    assert state.consecutive_failures == 3
    assert state.last_error == "timed out after 20 s (attempt 3)"
    assert state.last_error_at == NOW + timedelta(hours=3)
    assert state.last_success_at == NOW
    assert state.next_attempt_at == NOW + timedelta(hours=3 + 8)
    assert state.validators == kept


def test_changed_url_resets_validators_and_health(store: Store) -> None:
    store.sync_feeds([KUN], now=NOW)
    feed_id = store.feed_states()[0].id
    store.record_fetch(
        feed_id,
        FetchRecord(
            NOW,
            succeeded=False,
            error="HTTP 404",
            validators=None,
            next_attempt_at=NOW + timedelta(hours=4),
        ),
    )
    store.record_fetch(
        feed_id,
        FetchRecord(
            NOW,
            succeeded=True,
            error=None,
            validators=Validators(etag='"x"'),
            next_attempt_at=NOW + timedelta(hours=4),
        ),
    )
    moved = FeedSpec(
        key="kun", name=KUN.name, url="https://kun.uz/news/rss.xml", language="ru", country="uz"
    )
    store.sync_feeds([moved], now=NOW)
    state = store.feed_states()[0]
    assert state.id == feed_id
    assert state.spec.url == "https://kun.uz/news/rss.xml"
    assert state.validators == Validators()
    assert state.next_attempt_at is None
    assert state.last_success_at is None
    assert state.consecutive_failures == 0


def test_record_fetch_for_unknown_feed(store: Store) -> None:
    with pytest.raises(NotFoundError, match="no feed with id 4242"):
        store.record_fetch(
            4242, FetchRecord(NOW, succeeded=True, error=None, validators=None, next_attempt_at=NOW)
        )


def test_naive_times_are_refused(store: Store) -> None:
    store.sync_feeds([KUN], now=NOW)
    feed_id = store.feed_states()[0].id
    naive = datetime(2025, 5, 20, 6, 0)  # noqa: DTZ001
    with pytest.raises(ValueError, match="timezone-aware"):
        store.record_fetch(
            feed_id,
            FetchRecord(naive, succeeded=True, error=None, validators=None, next_attempt_at=NOW),
        )
    assert store.feed_states()[0].last_attempt_at is None


def test_over_long_feed_url_is_refused_clearly(store: Store) -> None:
    too_long = FeedSpec(
        key="long", name="Long", url="https://example.kz/" + "a" * 3000, language="kk", country="kz"
    )
    with pytest.raises(ValueError, match="feed URL is 3019 characters long"):
        store.sync_feeds([too_long], now=NOW)


def test_feed_state_by_key(store: Store) -> None:
    store.sync_feeds([ASTANA], now=NOW)
    state = store.feed_state("astanatimes")
    assert state is not None
    assert state.spec == ASTANA
    assert state.article_count == 0
    assert store.feed_state("nosuch") is None


def test_record_fetches_writes_many_feeds_in_one_go(store: Store) -> None:
    store.sync_feeds([ASTANA, KUN])
    ids = {s.spec.key: s.id for s in store.feed_states()}
    later = NOW + timedelta(minutes=30)
    store.record_fetches(
        [
            (ids["astanatimes"], FetchRecord(NOW, True, None, Validators(etag='"a"'), later)),
            (ids["kun"], FetchRecord(NOW, False, "HTTP 503", None, later)),
        ]
    )
    astana, kun = store.feed_state("astanatimes"), store.feed_state("kun")
    assert astana is not None
    assert kun is not None
    assert (astana.validators.etag, astana.last_success_at) == ('"a"', NOW)
    assert (kun.last_error, kun.consecutive_failures) == ("HTTP 503", 1)


def test_record_fetches_with_an_unknown_feed_writes_nothing(store: Store) -> None:
    store.sync_feeds([ASTANA])
    astana_id = store.feed_states()[0].id
    record = FetchRecord(NOW, False, "timeout", None, NOW + timedelta(hours=1))
    with pytest.raises(NotFoundError, match="4242"):
        store.record_fetches([(astana_id, record), (4242, record)])
    astana = store.feed_state("astanatimes")
    assert astana is not None
    assert astana.consecutive_failures == 0
    assert astana.last_error is None
