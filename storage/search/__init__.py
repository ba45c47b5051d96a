"""Full-text search: the text analyser, query parsing, the index, snippets.

:mod:`storage.search.analyser` and :mod:`storage.search.snippets` are pure Python (no
database); the rest maps them onto SQLite FTS5 and PostgreSQL ``tsvector``.
"""
