"""``steppe demo``: sample feeds, the fake Bot API and the real bot, driven from a terminal."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from bot.config import load_config
from bot.demo import load_demo_feeds, run_demo


def test_a_newcomer_sets_up_searches_and_reads_the_digest_in_the_terminal() -> None:
    script = "/start\n1\n99\n²\n/digest\n/find solar\n/settings\n/quit\n"
    out = io.StringIO()
    assert run_demo(load_config(None, environ={}), io.StringIO(script), out) == 0
    transcript = out.getvalue()
    assert "Ready: 11 articles." in transcript
    assert "bot: 👋 Welcome to Steppe Digest, Demo!" in transcript
    assert "[1] ✅ IT hubs & startups" in transcript
    assert "bot (edited): 1/3 · Topics." in transcript
    assert "[1] IT hubs & startups" in transcript  # unticked by pressing 1
    assert "(no button 99)" in transcript
    assert "Kazakhstan commissions a 100 MW solar power plant near Turkestan" in transcript
    assert "🔎 1–2 of 2 for “solar”" in transcript
    assert "Topics: Energy, Policy, Society" in transcript


def test_the_sample_feeds_are_rss_dated_from_now() -> None:
    now = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    feeds = load_demo_feeds(now)
    assert {feed.country for feed in feeds} == {"kz", "uz", "kg", "az"}
    assert all(feed.rss.startswith(b'<?xml version="1.0"') for feed in feeds)
    assert b"Sun, 22 Nov 2026 10:00:00 +0000" in feeds[0].rss
