"""``python -m bot`` is the same as the ``steppe`` command."""

from bot.cli import main

raise SystemExit(main())
