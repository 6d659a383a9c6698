"""The Celery app, configured from settings.py (its CELERY_* settings).

Celery's own Django layout: `celery -A toastsite worker` finds `app` here, and
each app's tasks.py is found by autodiscovery. Tracing of workers and beat is
wired in toastsite/telemetry/celery.py, whose signal handlers this connects.
"""

import logging
import os

from celery import Celery, signals

from toastsite.telemetry import celery as celery_tracing

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "toastsite.settings")

app = Celery("toastsite")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def _set_tracing_up(service: str) -> None:
    from toastsite.telemetry.setup import setup  # here: not every manage.py command needs it

    setup(service=service)


celery_tracing.connect(_set_tracing_up)


@signals.worker_init.connect
def _no_broker(**kwargs) -> None:
    if app.conf.task_always_eager:
        logging.getLogger(__name__).error(
            "CELERY_BROKER_URL is unset: this worker has no broker, and receives no job."
        )


def jobs_at_start() -> None:
    """As a server that publishes jobs starts: says once if they run in-process,
    or loads the broker's client library now (a quarter of a second here), so
    that the first rating does not wait for it."""
    from django.conf import settings

    if not settings.SERVES_API:
        return
    if settings.CELERY_TASK_ALWAYS_EAGER:
        logging.getLogger(__name__).warning(
            "No broker (CELERY_BROKER_URL is unset): jobs run in-process, inside the "
            "request that asks for them. Install redis-server to run them on a queue "
            "(docs/tutorial.md, step 10)."
        )
    else:
        app.connection_for_write().transport  # noqa: B018 - imported, not connected
