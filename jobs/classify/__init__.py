"""Rule-based article classification: topics (it_hubs, energy, policy, society) and
countries (kz, uz, kg, tj, tm, az), with the matched terms as evidence.

Usage::

    classifier = Classifier(load_rules(settings.classifier))
    record = classifier.classify(title, text, language)   # storage.records.Classification
    classifier.fingerprint                                 # which rules decided it

The rule format is documented in :mod:`jobs.classify.rules`, the text analysis in
:mod:`jobs.classify.analysis`, the scoring in :mod:`jobs.classify.classifier`.
"""

from jobs.classify.classifier import Analysis, Classifier
from jobs.classify.jsonl import classify_json_lines
from jobs.classify.rules import Rules, load_rules

__all__ = ["Analysis", "Classifier", "Rules", "classify_json_lines", "load_rules"]
