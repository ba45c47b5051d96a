"""Evaluate the classifier's default rules on the labelled sample and time it.

Usage (from the repository root)::

    PYTHONPATH=. .venv/bin/python bench/classify.py [--data DIR] [--json PATH]

``DIR`` (default ``../shared/eval`` relative to the repository root) holds
``seeds.jsonl`` and ``dev.jsonl``; each row has ``title``, ``text``, ``language``,
``labels`` (topics; ``["none"]`` means no topic) and ``country`` (a country code or
``multi``).

Metrics, per split and overall:

* per topic precision, recall and F1 over the multi-label decisions, and macro-F1 as
  the mean of the four topic F1 values;
* country accuracy: a row counts as correct when its labelled country is the
  *top-ranked* predicted country; for ``multi`` rows, when at least two countries are
  predicted;
* microseconds per article (median of several timed passes over all rows, the
  classifier built and warmed once, as in production).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jobs.classify import Classifier
from storage.records import TOPICS

ROOT = Path(__file__).resolve().parent.parent
SPLITS = ("seeds", "dev")


@dataclass(frozen=True, slots=True)
class Row:
    split: str
    id: str
    title: str
    text: str
    language: str | None
    labels: frozenset[str]
    country: str


def load_rows(data_dir: Path) -> list[Row]:
    """Read every split; raise ``SystemExit`` with a clear message when data is missing."""
    rows: list[Row] = []
    for split in SPLITS:
        path = data_dir / f"{split}.jsonl"
        if not path.is_file():
            raise SystemExit(f"bench/classify.py: {path} not found (use --data DIR)")
        for number, line in enumerate(path.read_text("utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                labels = frozenset(label for label in item["labels"] if label != "none")
                rows.append(
                    Row(
                        split,
                        str(item.get("id", number)),
                        item["title"],
                        item["text"],
                        item.get("language"),
                        labels,
                        item["country"],
                    )
                )
            except (ValueError, KeyError, TypeError) as exc:
                raise SystemExit(f"bench/classify.py: {path}:{number}: bad row ({exc})") from None
    return rows


def evaluate(
    rows: Sequence[Row], predictions: Sequence[tuple[set[str], list[str]]]
) -> dict[str, Any]:
    """Precision/recall/F1 per topic, macro-F1 and country accuracy of ``predictions``."""
    per_topic: dict[str, dict[str, float]] = {}
    for topic in TOPICS:
        tp = sum(
            1
            for r, (t, _) in zip(rows, predictions, strict=True)
            if topic in t and topic in r.labels
        )
        fp = sum(
            1
            for r, (t, _) in zip(rows, predictions, strict=True)
            if topic in t and topic not in r.labels
        )
        fn = sum(
            1
            for r, (t, _) in zip(rows, predictions, strict=True)
            if topic not in t and topic in r.labels
        )
        precision = tp / (tp + fp) if tp + fp else 1.0
        recall = tp / (tp + fn) if tp + fn else 1.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_topic[topic] = {
            "precision": round(precision, 3),
            "recall": round(recall, 3),
            "f1": round(f1, 3),
            "support": tp + fn,
        }
    correct = 0
    for row, (_, countries) in zip(rows, predictions, strict=True):
        if row.country == "multi":
            correct += len(countries) >= 2
        else:
            correct += bool(countries) and countries[0] == row.country
    return {
        "rows": len(rows),
        "topics": per_topic,
        "macro_f1": round(statistics.fmean(t["f1"] for t in per_topic.values()), 3),
        "country_accuracy": round(correct / len(rows), 3) if rows else 0.0,
    }


def time_per_article(
    classifier: Classifier, rows: Sequence[Row], passes: int = 25
) -> dict[str, float]:
    """Microseconds per article over ``passes`` timed passes after one warm-up pass.

    Reports the fastest pass (the cost when the CPU is not shared; the figure to compare
    with the budget) and the median (what a busy machine gives).
    """
    for row in rows:
        classifier.classify(row.title, row.text, row.language)
    timings = []
    for _ in range(passes):
        start = time.perf_counter()
        for row in rows:
            classifier.classify(row.title, row.text, row.language)
        timings.append((time.perf_counter() - start) / len(rows) * 1e6)
    return {"best": round(min(timings), 1), "median": round(statistics.median(timings), 1)}


def _summary_rows(rows: Sequence[Row]) -> list[Row]:
    """The rows cut to a typical feed item: the title and a 500-character summary."""
    return [
        Row(r.split, r.id, r.title, r.text[:500], r.language, r.labels, r.country) for r in rows
    ]


def _print_report(name: str, result: dict[str, Any]) -> None:
    print(f"\n== {name} ({result['rows']} articles)")
    print(f"{'topic':10} {'prec':>6} {'recall':>6} {'F1':>6} {'support':>7}")
    for topic, m in result["topics"].items():
        print(
            f"{topic:10} {m['precision']:6.3f} {m['recall']:6.3f} {m['f1']:6.3f} {m['support']:7d}"
        )
    print(f"macro-F1 {result['macro_f1']:.3f}   country accuracy {result['country_accuracy']:.3f}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--data",
        type=Path,
        default=ROOT.parent / "shared" / "eval",
        help="directory with seeds.jsonl and dev.jsonl",
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=ROOT / "bench" / "results" / "classify.json",
        help="where to write the figures as JSON",
    )
    parser.add_argument("--verbose", action="store_true", help="list every misclassified row")
    args = parser.parse_args(argv)

    rows = load_rows(args.data)
    classifier = Classifier()
    predictions = []
    for row in rows:
        analysis = classifier.analyse(row.title, row.text, row.language)
        predictions.append((set(analysis.topics), list(analysis.countries)))
        if args.verbose and (
            set(analysis.topics) != row.labels
            or not analysis.countries
            or (row.country != "multi" and analysis.countries[0] != row.country)
        ):
            scores = {k: round(v, 2) for k, v in analysis.topic_scores.items()}
            print(
                f"{row.id}: want {sorted(row.labels)} {row.country}; "
                f"got {list(analysis.topics)} {list(analysis.countries)} {scores} "
                f"vetoes={list(analysis.vetoes)}"
            )

    results: dict[str, Any] = {"fingerprint": classifier.fingerprint, "splits": {}}
    for split in SPLITS:
        indices = [i for i, r in enumerate(rows) if r.split == split]
        result = evaluate([rows[i] for i in indices], [predictions[i] for i in indices])
        results["splits"][split] = result
        _print_report(split, result)
    results["overall"] = evaluate(rows, predictions)
    _print_report("overall", results["overall"])

    full = time_per_article(classifier, rows)
    summary = time_per_article(classifier, _summary_rows(rows))
    results["us_per_article"] = {
        "title_and_500_char_summary": summary,
        "full_text_up_to_4000_chars": full,
    }
    print(
        f"\nspeed, title + 500-char summary: {summary['best']:.1f} µs per article "
        f"(median pass {summary['median']:.1f} µs)"
    )
    print(
        f"speed, full text (first 4,000 chars): {full['best']:.1f} µs per article "
        f"(median pass {full['median']:.1f} µs)"
    )

    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", "utf-8")
    print(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
