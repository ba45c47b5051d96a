"""Webhook mode: Telegram posts updates to the bot's own HTTP server, secret checked."""

from __future__ import annotations

import socket

import httpx

from bot.fake_api import FakeBotApi
from bot.i18n import Translator
from bot.telegram.app import build_application
from bot.telegram.runner import BotRunner, ThreadedBot, Webhook
from bot.telegram.services import Services
from storage import Store

USER = 42
SECRET = "webhook-secret-0123456789"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_updates_arrive_by_webhook_and_forged_posts_are_refused(store: Store) -> None:
    port = _free_port()
    url = f"http://127.0.0.1:{port}/telegram/hook"
    with FakeBotApi() as api:
        api.add_user(USER)
        services = Services(store=store, translator=Translator())
        application = build_application(services, token=api.token, api_base_url=api.base_url)
        webhook = Webhook(listen="127.0.0.1", port=port, url=url, secret_token=SECRET)
        with ThreadedBot(BotRunner(application, webhook=webhook)):
            [registered] = api.calls("setWebhook")
            assert (registered["url"], registered["secret_token"]) == (url, SECRET)
            forged = httpx.post(url, json={"update_id": 999, "message": {}}, timeout=10)
            assert forged.status_code == 403
            api.send(USER, "/help")
            assert api.next_message(USER).text.startswith("Steppe Digest")
            assert store.chats.get(USER) is None  # /help registers nothing
