"""``steppe run`` with a token: the bot answers beside the scheduler, and stops on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from bot.fake_api import FakeBotApi

USER = 42


def test_steppe_run_serves_the_bot_until_sigterm(tmp_path: Path) -> None:
    with FakeBotApi() as api:
        api.add_user(USER, language_code="kk")
        config = tmp_path / "config.toml"
        config.write_text(
            f'data_dir = "data"\n'
            f"[telegram]\n"
            f'token = "{api.token}"\n'
            f'api_base_url = "{api.base_url}"\n'
            f"poll_timeout = 1\n"
            f"[collection]\n"
            f"workers = 0\n",
            encoding="utf-8",
        )
        service = subprocess.Popen(
            [sys.executable, "-m", "bot", "--config", str(config), "run"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            api.wait_for(lambda: bool(api.calls("getUpdates")), timeout=60)
            api.send(USER, "/start")
            welcome = api.next_message(USER, timeout=30)
            assert welcome.text.startswith("👋 Steppe Digest-ке қош келдіңіз")
            assert api.commands(language_code="kk")  # the menu was registered at start-up
        finally:
            service.send_signal(signal.SIGTERM)
            _out, err = service.communicate(timeout=60)
        assert service.returncode == 0, err
        assert api.token not in err
        assert "shutting down" in err
