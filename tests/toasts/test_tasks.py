"""The summary job and its publish, in this process: eager without a broker, as
`make run` runs it without redis-server, and against a real Redis server where
the test says so (the `broker` fixture)."""

import pytest
from django.db import transaction
from django.urls import reverse
from kombu import pools
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode

from apps.scenarios import jobs as scenario_jobs
from apps.toasts import queue, selectors, services, tasks
from apps.toasts.exceptions import ApplicationError
from apps.toasts.models import Rating, RatingSummary
from tests.factories import rating_make

pytestmark = pytest.mark.django_db


def test_the_job_counts_the_ratings_and_twice_is_the_same_as_once(toast):
    for stars, comment in [(5, "crisp"), (2, ""), (4, "good")]:
        Rating.objects.create(toast=toast, stars=stars, comment=comment)
    first = services.rating_summary_refresh(toast_id=toast.pk)
    again = services.rating_summary_refresh(toast_id=toast.pk)
    assert (again.count, again.average) == (first.count, first.average) == (3, 11 / 3)
    assert again.recent == first.recent
    assert [r["comment"] for r in again.recent] == ["good", "", "crisp"]  # newest first
    assert RatingSummary.objects.filter(toast=toast).count() == 1


@pytest.mark.parametrize("toast_id", [999_999, "garbage", None, True, 1.5])
def test_the_job_of_no_such_toast_is_an_application_error(toast_id):
    with pytest.raises(ApplicationError):
        services.rating_summary_refresh(toast_id=toast_id)


def test_without_a_broker_a_rating_is_summed_up_in_its_own_request(client, toast, spans):
    response = client.post(
        reverse("api:toast-ratings", args=[toast.pk]), {"stars": 4}, content_type="application/json"
    )
    assert (response.status_code, response.json()["summary_update"]) == (201, "pending")
    # pytest-django wraps the test in a transaction: the rating is committed, and
    # the job runs, only in the tests below, which commit for real.


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_without_a_broker_the_job_runs_at_once_after_the_commit(client, toast, spans):
    response = client.post(
        reverse("api:toast-ratings", args=[toast.pk]), {"stars": 4}, content_type="application/json"
    )
    assert (response.status_code, response.json()["summary_update"]) == (201, "done")
    assert client.get(reverse("api:toast-detail", args=[toast.pk])).json()["rating"] == {
        "count": 1,
        "average": 4.0,
    }
    view = next(s for s in spans() if s.name == "POST api/toasts/<int:pk>/ratings/")
    run = next(s for s in spans() if s.name == "run/toasts.rating_summary_refresh")
    assert run.kind == SpanKind.CONSUMER
    assert run.context.trace_id == view.context.trace_id


def rate_then_fail(toast) -> None:
    """A rating saved in a transaction that then fails: rolled back."""
    with transaction.atomic():
        services.rating_create(toast=toast, stars=3)
        raise RuntimeError("something after the rating failed")


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_rolled_back_rating_never_publishes(toast, spans):
    with pytest.raises(RuntimeError):
        rate_then_fail(toast)
    assert not Rating.objects.filter(toast=toast).exists()
    assert not [s for s in spans() if s.kind in (SpanKind.PRODUCER, SpanKind.CONSUMER)]
    assert not RatingSummary.objects.filter(toast=toast).exists()


def test_repair_finds_every_summary_that_drifted_and_only_those(toast):
    rating_make(toast=toast, stars=5)  # counted
    assert selectors.rating_summary_drifted() == []
    Rating.objects.create(toast=toast, stars=1)  # never counted: its job was lost
    assert selectors.rating_summary_drifted() == [toast.pk]
    assert services.rating_summary_repair() == [toast.pk]
    assert RatingSummary.objects.get(toast=toast).count == 2
    Rating.objects.filter(toast=toast, stars=5).delete()  # deleted, say in the admin
    assert services.rating_summary_repair() == [toast.pk]
    assert (RatingSummary.objects.get(toast=toast).count, selectors.rating_summary_drifted()) == (
        1,
        [],
    )


def test_jobs_carry_the_worker_scenarios_of_the_api(scenarios):
    assert scenario_jobs.for_job() == {}
    scenarios(worker_latency_ms=250, worker_failure_rate=0.5)
    assert scenario_jobs.for_job() == {"latency_ms": 250, "failure_rate": 0.5}


@pytest.fixture
def publishing_to(settings):
    """Publishes to a broker for real in this process, not eagerly; returns the setter."""
    app = tasks.rating_summary_refresh.app
    before = {key: app.conf[key] for key in ("broker_url", "task_always_eager")}

    def fresh_connections() -> None:
        # New pools of connections, to the broker configured now.
        pools.reset()
        app._pool = app.amqp._producer_pool = None

    def to(url: str) -> None:
        settings.CELERY_TASK_ALWAYS_EAGER = False
        app.conf.update(broker_url=url, task_always_eager=False)
        fresh_connections()

    yield to
    app.conf.update(before)
    fresh_connections()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_committed_rating_publishes_one_job_and_a_rolled_back_one_none(
    toast, broker, publishing_to
):
    publishing_to(broker.url)
    saved = services.rating_create(toast=toast, stars=4)
    assert (saved.summary_update, broker.queued()) == ("queued", 1)
    with pytest.raises(RuntimeError):
        rate_then_fail(toast)
    assert broker.queued() == 1  # the rolled-back rating published nothing


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_publish_the_broker_refuses_saves_the_rating_and_ends_its_span(
    toast, broker, publishing_to, spans
):
    publishing_to(broker.url)
    broker.stop()
    tracer = trace.get_tracer(__name__)
    with tracer.start_as_current_span("the view") as view:
        saved = services.rating_create(toast=toast, stars=4)
        assert trace.get_current_span() is view  # the failed publish's span is not left open
    assert saved.summary_update == "delayed"
    assert Rating.objects.filter(toast=toast).count() == 1
    (publish,) = [s for s in spans() if s.kind == SpanKind.PRODUCER]
    assert publish.status.status_code == StatusCode.ERROR
    assert publish.parent.span_id == view.get_span_context().span_id
    assert publish.events[0].name == "exception"


def test_the_queue_settings_default_to_what_the_docs_say(settings):
    assert settings.QUEUE_PUBLISH_TIMEOUT == 1.0
    assert settings.QUEUE_VISIBILITY_TIMEOUT == 30
    assert settings.SUMMARY_REPAIR_INTERVAL == 60.0
    assert settings.QUEUE_SPAN_LINKS is False
    assert (settings.CELERY_TASK_ACKS_LATE, settings.CELERY_TASK_REJECT_ON_WORKER_LOST) == (
        True,
        True,
    )
    assert settings.CELERY_WORKER_PREFETCH_MULTIPLIER == 1
    assert settings.CELERY_BROKER_TRANSPORT_OPTIONS == {
        "socket_timeout": 1.0,
        "socket_connect_timeout": 1.0,
        "visibility_timeout": 30,
        "unacked_restore_interval": 1,
        "unacked_restore_throttle": 1,
    }
    assert queue.PUBLISH_RETRY["max_retries"] == 1
    schedule = settings.CELERY_BEAT_SCHEDULE["rating-summary-repair"]
    assert (schedule["task"], schedule["schedule"]) == ("toasts.rating_summary_repair", 60.0)
