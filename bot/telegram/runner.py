"""Running the bot: long polling or a webhook inside an asyncio program, or in a thread
of its own (the tests and ``steppe demo``, whose main thread does something else).

:class:`BotRunner` starts and stops the application without taking over the event
loop, so ``steppe run`` can run it beside the collection scheduler.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Self
from urllib.parse import urlsplit

from telegram import Update
from telegram.ext import Application

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Webhook:
    """Where Telegram delivers updates in webhook mode."""

    listen: str
    port: int
    url: str
    """The public HTTPS URL Telegram posts to."""
    secret_token: str | None = None


class BotRunner:
    """Start and stop an application in the running event loop."""

    def __init__(
        self,
        application: Application,  # type: ignore[type-arg]
        *,
        poll_timeout: float = 10.0,
        webhook: Webhook | None = None,
    ) -> None:
        self.application = application
        self._poll_timeout = poll_timeout
        self._webhook = webhook

    async def start(self) -> None:
        app = self.application
        await app.initialize()  # getMe: a wrong token fails here, before anything runs
        # PTB calls post_init only from run_polling()/run_webhook(), which own the loop;
        # this runner shares the loop, so it follows the same order itself.
        if app.post_init is not None:
            await app.post_init(app)
        await app.start()
        updater = app.updater
        if updater is None:
            raise RuntimeError("the application was built without an updater")
        if self._webhook is None:
            await updater.start_polling(
                poll_interval=0.0,
                timeout=int(self._poll_timeout),
                allowed_updates=Update.ALL_TYPES,
                drop_pending_updates=False,
            )
            log.info("the bot is polling for updates")
        else:
            hook = self._webhook
            await updater.start_webhook(
                listen=hook.listen,
                port=hook.port,
                # The reverse proxy forwards the public URL's path unchanged.
                url_path=urlsplit(hook.url).path.lstrip("/"),
                webhook_url=hook.url,
                secret_token=hook.secret_token,
                allowed_updates=Update.ALL_TYPES,
            )
            log.info("the bot is receiving updates by webhook on port %d", hook.port)

    async def stop(self) -> None:
        app = self.application
        if app.updater is not None and app.updater.running:
            await app.updater.stop()
        if app.running:
            await app.stop()
        if app.post_stop is not None:
            await app.post_stop(app)
        await app.shutdown()
        if app.post_shutdown is not None:
            await app.post_shutdown(app)


class ThreadedBot:
    """A :class:`BotRunner` in a thread with its own event loop; a context manager.

    ``__enter__`` returns once the bot polls (or raises what start-up raised);
    ``__exit__`` stops it and joins the thread.
    """

    def __init__(
        self,
        runner: BotRunner,
        *,
        start_timeout: float = 30.0,
        prepare: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        """``prepare`` runs in the bot's event loop before it starts (the demo collects
        its feeds there, with the collector the bot's ``/collect`` uses later)."""
        self._runner = runner
        self._prepare = prepare
        self._start_timeout = start_timeout
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._main, name="telegram-bot", daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        if not self._ready.wait(self._start_timeout):
            raise TimeoutError(f"the bot did not start within {self._start_timeout} s")
        if self._error is not None:
            self._thread.join()
            raise self._error
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=30)

    def _main(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            if self._prepare is not None:
                await self._prepare()
            await self._runner.start()
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            await self._runner.application.shutdown()
            return
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await self._runner.stop()
