"""Publishing the jobs of tasks.py, as the API does: after the commit, traced,
and bounded, so that a broker that is down or frozen never hangs a page."""

import logging
import uuid

from celery import current_app
from django.conf import settings

from apps.scenarios import jobs as scenario_jobs
from toastsite.telemetry import celery as celery_tracing

logger = logging.getLogger(__name__)

REFRESH = "toasts.rating_summary_refresh"

# How a rating's summary is updated, as the API tells the pages.
DONE = "done"  # no broker: the job ran in this request, and succeeded
QUEUED = "queued"  # the broker has the job; a worker runs it in a moment
DELAYED = "delayed"  # no job now: the repair job counts the rating later
PENDING = "pending"  # inside a transaction still open: published when it commits

# One retry at most, at once: enough to reconnect after the broker restarted,
# and with QUEUE_PUBLISH_TIMEOUT per try, a bound on a page's wait.
PUBLISH_RETRY = {"max_retries": 1, "interval_start": 0, "interval_step": 0, "interval_max": 0}


def rating_summary_refresh_later(*, toast_id: int) -> str:
    """Publishes the summary job of toast `toast_id` (after its rating's commit),
    waiting for the broker a bounded time; returns DONE, QUEUED or DELAYED."""
    task_id = str(uuid.uuid4())
    kwargs = {"toast_id": toast_id}
    if scenarios := scenario_jobs.for_job():
        kwargs["scenarios"] = scenarios
    # By name, from Celery's registry: tasks.py imports the services that call this.
    task = current_app.tasks[REFRESH]
    try:
        result = task.apply_async(kwargs=kwargs, task_id=task_id, retry_policy=PUBLISH_RETRY)
    except Exception as exc:  # noqa: BLE001 - any failure means the same: counted later
        celery_tracing.publish_failed(task, task_id, exc)
        logger.warning(
            "Cannot publish the rating summary job of toast %s (%s: %s); the repair job "
            "will count its rating within %s s of the broker's return.",
            toast_id,
            type(exc).__name__,
            exc,
            settings.SUMMARY_REPAIR_INTERVAL,
        )
        return DELAYED
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return DONE if result.successful() else DELAYED
    return QUEUED
