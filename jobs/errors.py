"""The jobs layer's exceptions: everything it raises derives from :class:`JobsError`.

A broken feed is *not* an exception: it is a value in the collection report
(:class:`jobs.collect.FeedReport`). These exceptions are for misuse and for
configuration that cannot work.
"""

from __future__ import annotations


class JobsError(Exception):
    """Root of every error the jobs layer raises on purpose."""


class RulesError(JobsError):
    """Classifier rules (shipped defaults or an operator's overrides) are invalid.

    ``key`` is the dotted path of the offending setting inside the rules mapping,
    e.g. ``"topics.energy.keywords.en"``.
    """

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}")
        self.key = key
        self.reason = reason
