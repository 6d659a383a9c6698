"""The site's jobs, which Celery workers run (toastsite/celery.py finds them here).

One job a visitor causes: after a rating is committed, its toast's summary is
recomputed (`rating_summary_refresh`, published by queue.py), and the pages
read that summary. One
job beat starts on a schedule: `rating_summary_repair`, which recomputes any
summary that does not match its ratings. Both are idempotent: they count, they
never add one, so a job done twice (a worker killed before it acknowledged) is
done once in effect.

Why a repair job, not an outbox table, for a publish that fails: the ratings
are already the record of what must be counted, so the job that compares each
summary with them finds every rating that was never counted, for whatever
reason (a broker down at save, a process killed between commit and publish,
a job lost). An outbox would add a row to write in every rating's transaction,
and one to delete after each publish, and still need a sweep to send what is
left; the repair costs two queries per run (30 to 40 ms with 100,000 ratings on
SQLite: docs/benchmarks.md) and none per rating. The price is the wait: up to
SUMMARY_REPAIR_INTERVAL after the broker is back.
"""

import logging

from celery import shared_task
from django.db import OperationalError

from apps.scenarios import jobs as scenario_jobs
from apps.scenarios.api import ScenarioFailure
from apps.toasts import services

logger = logging.getLogger(__name__)


@shared_task(
    name="toasts.rating_summary_refresh",
    # What may pass: a failure the scenario asked for, a database away for a
    # moment. Tried again after 1, 2 and 4 s, then given up (the repair job
    # sees it). Anything else, such as bad arguments, fails at once, once.
    autoretry_for=(ScenarioFailure, OperationalError),
    max_retries=3,
    retry_backoff=1,
    retry_jitter=False,
)
def rating_summary_refresh(toast_id: int, scenarios: dict | None = None) -> None:
    """Recomputes the rating summary of toast `toast_id`."""
    scenario_jobs.apply(scenarios)
    summary = services.rating_summary_refresh(toast_id=toast_id)
    logger.info("Rating summary of toast %s: %d ratings.", toast_id, summary.count)


@shared_task(name="toasts.rating_summary_repair")
def rating_summary_repair() -> None:
    """Recomputes every rating summary that drifted from its ratings."""
    if repaired := services.rating_summary_repair():
        logger.warning("Repaired the rating summaries of toasts %s.", repaired)
