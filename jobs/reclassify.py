"""Re-apply the classifier rules to the whole archive (after the rules changed)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from jobs.classify import Classifier
from jobs.prepare import classifier_text
from storage import Classification, Store

_BATCH = 500


@dataclass(frozen=True, slots=True)
class ReclassifyReport:
    articles: int


def reclassify_archive(
    store: Store,
    classifier: Classifier,
    *,
    progress: Callable[[int], None] | None = None,
) -> ReclassifyReport:
    """Classify every stored article again and store the result, in batches of 500."""
    done = 0
    batch: list[tuple[int, Classification]] = []
    for article in store.iter_article_texts(batch_size=_BATCH):
        text = classifier_text(article.summary, article.content)
        batch.append((article.id, classifier.classify(article.title, text, article.language)))
        if len(batch) >= _BATCH:
            store.set_classifications(batch)
            done += len(batch)
            batch.clear()
            if progress is not None:
                progress(done)
    if batch:
        store.set_classifications(batch)
        done += len(batch)
    return ReclassifyReport(articles=done)
