"""The daily digest: when each chat's is due, what goes in it, and its delivery.

* :mod:`jobs.digest.schedule` — pure: local delivery times to UTC instants, per date.
* :mod:`jobs.digest.selection` — pure: the stories of a chat's digest, ranked.
* :mod:`jobs.digest.ratelimit` — pure: when the next message may go (Telegram's limits).
* :mod:`jobs.digest.policy` — pure: what to do with each answer Telegram gives.
* :mod:`jobs.digest.dispatch` — the orchestrator: plan, claim, build, send, record.
* :mod:`jobs.scheduler` (beside this package) — the APScheduler jobs that collect and
  dispatch every minute.
"""
