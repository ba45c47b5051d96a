"""The bot as ``steppe run`` and ``steppe demo`` start it, from validated settings."""

from __future__ import annotations

from bot.config import Settings
from bot.i18n import Translator
from bot.telegram.app import build_application
from bot.telegram.digest_wiring import selection_settings
from bot.telegram.runner import BotRunner, Webhook
from bot.telegram.services import CollectionSummary, Services
from jobs.collect import Collector
from storage import Store


def bot_runner(settings: Settings, store: Store, collector: Collector | None) -> BotRunner:
    """The configured bot (long polling, or webhook when ``telegram.webhook_url`` is set),
    sharing the store and the collector of the process."""
    telegram = settings.telegram

    async def collect_now() -> CollectionSummary:
        assert collector is not None
        report = await collector.run(force=True)
        return CollectionSummary(new=report.new, updated=report.updated, failed=report.failed)

    services = Services(
        store=store,
        translator=Translator(),
        operators=frozenset(telegram.admins),
        collect=collect_now if collector is not None else None,
        selection=selection_settings(settings),
    )
    application = build_application(
        services,
        token=telegram.token.get_secret_value(),
        api_base_url=telegram.api_base_url,
        poll_timeout=telegram.poll_timeout,
    )
    webhook = None
    if telegram.webhook_url:
        webhook = Webhook(
            listen=telegram.webhook_listen,
            port=telegram.webhook_port,
            url=telegram.webhook_url,
            secret_token=telegram.webhook_secret.get_secret_value() or None,
        )
    return BotRunner(application, poll_timeout=telegram.poll_timeout, webhook=webhook)
