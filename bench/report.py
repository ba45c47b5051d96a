"""Writing a benchmark's figures, for the scripts under ``bench/`` that run as modules
(``python -m bench.stages``). ``bench/collect.py`` and ``bench/classify.py`` are run
by their path, so they import nothing from ``bench`` and write their own."""

from __future__ import annotations

import json
from pathlib import Path


def write_figures(path: Path, figures: object) -> None:
    """Write ``figures`` to ``path`` as indented UTF-8 JSON (creating its folder) and
    say where."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(figures, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {path}")
