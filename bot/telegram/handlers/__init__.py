"""The bot's handlers, one module per feature; :mod:`bot.telegram.app` registers them."""
