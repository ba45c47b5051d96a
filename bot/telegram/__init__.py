"""The Telegram side of Steppe Digest, built on python-telegram-bot 22.

:func:`bot.telegram.app.build_application` wires the handlers (one module per feature
under :mod:`bot.telegram.handlers`) around the :class:`bot.telegram.services.Services`
the handlers share; :mod:`bot.telegram.runner` runs it by long polling or webhook.
"""

import os

# PTB 22 reports time periods (RetryAfter.retry_after, ...) as ints with a deprecation
# warning on every access, even inside its own exception constructors, unless this
# opt-in to its next major version's timedelta values is set. The bot handles both.
os.environ.setdefault("PTB_TIMEDELTA", "1")
