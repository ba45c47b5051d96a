"""JSON Lines in, JSON Lines out: the engine of ``steppe classify``.

Each input line is an object ``{"title": str, "text": str, "language": str | null}``
(``language`` optional). Each output line is either::

    {"topics": [...], "scores": {topic: 0.123, ...}, "countries": [...], "evidence": {...}}

with a score for all four topics (rounded to 3 decimals) and evidence for the assigned
topics and countries, or ``{"error": "line N: reason"}`` for a line that is not such an
object. Blank lines are skipped; a bad line never stops the stream.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from jobs.classify.classifier import Classifier
from storage.records import TOPICS


def classify_json_lines(lines: Iterable[str], classifier: Classifier) -> Iterator[str]:
    """Classify each JSON line of ``lines``; yield one JSON line (no newline) per input."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            result = _classify_line(line, classifier)
        except ValueError as exc:
            result = {"error": f"line {number}: {exc}"}
        yield json.dumps(result, ensure_ascii=False)


def _classify_line(line: str, classifier: Classifier) -> dict[str, Any]:
    try:
        item = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(item, dict):
        raise ValueError("expected a JSON object")
    for key in ("title", "text"):
        if key not in item:
            raise ValueError(f'missing "{key}"')
        if not isinstance(item[key], str):
            raise ValueError(f'"{key}" must be a string')
    language = item.get("language")
    if language is not None and not isinstance(language, str):
        raise ValueError('"language" must be a string or null')
    analysis = classifier.analyse(item["title"], item["text"], language)
    evidence = analysis.classification().evidence
    return {
        "topics": list(analysis.topics),
        "scores": {t: round(analysis.topic_scores[t], 3) for t in TOPICS},
        "countries": list(analysis.countries),
        "evidence": {code: list(terms) for code, terms in evidence.items()},
    }
