"""Jobs on a queue, for real: Debian's redis-server, real `celery worker` and
`celery beat` processes, the site as a real server, and the real Zipkin server.

The job: a rating's toast summary, recomputed after the rating commits
(apps/toasts/tasks.py). Each test asserts one promise of tutorial step 10 and
its number: one trace from the click to the worker's SQL; no rating lost with
the broker down, frozen or restarted; a job whose worker was killed done once
in effect; bad jobs failed once, visibly, without blocking the queue; spans
from every pool.
"""

import itertools
import subprocess
import sys
import time
import uuid

import pytest
import requests
from celery import Celery
from kombu import Connection

from apps.pages.traffic import post_rating
from tests.support.http import traceresponse
from tests.support.polling import eventually
from tests.support.servers import ROOT, site_env
from tests.support.zipkin import dependencies, fetch_trace, named, services

pytestmark = pytest.mark.e2e

JOB = "toasts.rating_summary_refresh"
# The page says so when the summary cannot be updated now (apps/pages/views.py).
DELAYED = "The rating summary will count it a little later: our job queue is unavailable right now."


def rate(visitor, site, pk: int, stars: int) -> requests.Response:
    """A rating through the toast page's form, as a visitor sends it."""
    response = post_rating(visitor, f"{site.url}/toasts/{pk}/", stars=stars)
    assert response.status_code == 302, response.text[-2000:]
    return response


def summary(visitor, site, pk: int) -> dict:
    return visitor.get(f"{site.url}/api/toasts/{pk}/").json()["rating"]


def summaries_are(visitor, site, expected: dict[int, list[int]]) -> bool:
    """Whether every toast's summary counts exactly the stars given to it."""
    for pk, stars in expected.items():
        average = round(sum(stars) / len(stars), 2) if stars else None
        if summary(visitor, site, pk) != {"count": len(stars), "average": average}:
            return False
    return True


def job_runs(spans: list[dict]) -> list[dict]:
    return [s for s in spans if s["name"] == f"run/{JOB}"]


def test_one_rating_is_one_trace_from_the_click_to_the_workers_sql(
    visitor, split, worker, broker, to_zipkin, zipkin_server, db_system
):
    since_ms = int(time.time() * 1000) - 1
    frontend, api = split(api_env={"CELERY_BROKER_URL": broker.url}, **to_zipkin)
    worker("worker", **to_zipkin)
    response = rate(visitor, frontend, 2, stars=5)

    def with_worker_sql(spans):
        return any(s["localEndpoint"]["serviceName"] == "worker" and "kind" in s for s in spans)

    spans = fetch_trace(zipkin_server, traceresponse(response).trace_id, until=with_worker_sql)
    assert services(spans) == {"frontend", "api", "worker"}
    page = named(spans, "POST toasts/<int:pk>/")
    call = named(spans, "POST /api/toasts/{id}/ratings/")
    view = named(spans, "POST api/toasts/<int:pk>/ratings/")
    publish = named(spans, f"apply_async/{JOB}")
    (run,) = job_runs(spans)
    assert "parentId" not in page
    assert call["parentId"] == page["id"]
    assert view["parentId"] == call["id"]
    assert (publish["parentId"], publish["kind"]) == (view["id"], "PRODUCER")
    assert (run["parentId"], run["kind"]) == (publish["id"], "CONSUMER")
    assert publish["remoteEndpoint"]["serviceName"] == "redis"
    insert = named(spans, "INSERT toasts_rating")
    assert insert["timestamp"] + insert["duration"] <= publish["timestamp"]  # after the commit
    worker_sql = [s for s in spans if s.get("parentId") == run["id"]]
    assert {s["localEndpoint"]["serviceName"] for s in worker_sql} == {"worker"}
    # Zipkin stores span names in lower case.
    assert {"select toasts_rating", "insert toasts_ratingsummary"} <= {
        s["name"] for s in worker_sql
    }
    assert run["tags"]["celery.worker"].startswith("worker@")
    assert summary(visitor, api, 2) == {"count": 1, "average": 5.0}

    # Zipkin's dependency graph draws the queue: api -> redis -> worker -> database.
    links = eventually(
        lambda: (
            (got := dependencies(zipkin_server, since_ms)) and ("redis", "worker") in got and got
        ),
        "the broker in Zipkin's dependencies",
    )
    assert {("api", "redis"), ("redis", "worker"), ("worker", db_system)} <= set(links)
    now = int(time.time() * 1000)
    raw = requests.get(
        f"{zipkin_server}/api/v2/dependencies", params={"endTs": now, "lookback": now - since_ms}
    )
    print(f"dependencies: {raw.text}")


def test_broker_down_at_save_loses_no_rating(visitor, runserver_site, worker, beat, broker):
    site = runserver_site(CELERY_BROKER_URL=broker.url)
    worker("worker")
    beat(SUMMARY_REPAIR_INTERVAL="1")
    broker.kill()
    given = {1: [5, 4], 2: [3], 3: [1, 2]}
    for pk, stars in given.items():
        for each in stars:
            rate(visitor, site, pk, each)  # saved: a redirect, not an error page
            assert DELAYED in visitor.get(f"{site.url}/toasts/{pk}/").text
    answer = visitor.post(f"{site.url}/api/toasts/4/ratings/", json={"stars": 2})
    assert (answer.status_code, answer.json()["summary_update"]) == (201, "delayed")
    given[4] = [2]
    assert summary(visitor, site, 1) == {"count": 0, "average": None}  # not counted yet

    broker.start()
    came_back = time.monotonic()
    eventually(lambda: summaries_are(visitor, site, given), "every summary right", timeout=60)
    print(f"every summary right {time.monotonic() - came_back:.1f} s after the broker came back")
    counted = sum(summary(visitor, site, pk)["count"] for pk in given)
    assert counted == 6  # 0 ratings lost


def test_a_frozen_broker_never_hangs_a_page(visitor, runserver_site, worker, beat, broker):
    site = runserver_site(CELERY_BROKER_URL=broker.url)
    worker("worker")
    beat(SUMMARY_REPAIR_INTERVAL="1")
    rate(visitor, site, 1, 4)  # the site's connection to the broker is open
    eventually(lambda: summary(visitor, site, 1)["count"] == 1, "the first rating counted")
    broker.freeze()  # accepts, never answers
    started = time.monotonic()
    rate(visitor, site, 1, 2)
    print(f"a rating with the broker frozen: {time.monotonic() - started:.2f} s")
    assert DELAYED in visitor.get(f"{site.url}/toasts/1/").text
    broker.thaw()
    eventually(lambda: summaries_are(visitor, site, {1: [4, 2]}), "the summary right", timeout=60)


def test_a_worker_killed_mid_job_the_job_is_done_once_in_effect(
    visitor, runserver_site, worker, broker, to_zipkin, zipkin_server
):
    # A slow job, to kill a worker in the middle of it; Redis hands a job that
    # is not acknowledged within 3 s to another worker.
    site = runserver_site(
        CELERY_BROKER_URL=broker.url, SCENARIO_WORKER_LATENCY_MS="2000", **to_zipkin
    )
    redelivery = {"QUEUE_VISIBILITY_TIMEOUT": "3", **to_zipkin}
    workers = [worker("one", **redelivery), worker("two", **redelivery)]
    response = rate(visitor, site, 3, 4)

    def received():
        return [w for w in workers if f"{JOB}[" in w.log() and " received" in w.log()]

    (first,) = eventually(received, "a worker to receive the job")
    first.kill()  # SIGKILL, the worker and its pool, in the middle of the job
    (other,) = [w for w in workers if w is not first]
    eventually(lambda: summary(visitor, site, 3)["count"] == 1, "the job done", timeout=30)

    spans = fetch_trace(zipkin_server, traceresponse(response).trace_id, until=job_runs)
    (run,) = job_runs(spans)  # the killed worker's run never ended
    assert run["tags"]["celery.worker"] == other.name
    assert run["tags"]["celery.redelivered"] == "true"
    assert "error" not in run["tags"]
    assert summary(visitor, site, 3) == {"count": 1, "average": 4.0}  # once in effect


def test_broker_restarted_with_jobs_queued_loses_none(visitor, runserver_site, worker, broker):
    site = runserver_site(CELERY_BROKER_URL=broker.url)
    given = {5: [5, 1], 6: [3]}
    for pk, stars in given.items():
        for each in stars:
            rate(visitor, site, pk, each)
    assert broker.queued() == 3  # no worker yet: the jobs wait in Redis
    broker.kill()  # a crash: no shutdown, no last save
    broker.start()
    assert broker.queued() == 3  # none lost (appendonly)
    worker("worker")  # and no beat: only the queued jobs can count these ratings
    eventually(lambda: summaries_are(visitor, site, given), "the queued jobs done", timeout=30)
    assert broker.queued() == 0


def test_bad_jobs_fail_once_visibly_without_blocking_the_queue(
    visitor, runserver_site, worker, broker, to_zipkin, zipkin_server, server_database
):
    site = runserver_site(CELERY_BROKER_URL=broker.url, **to_zipkin)
    consumer = worker("worker", **to_zipkin)
    rate(visitor, site, 7, 5)
    eventually(lambda: summary(visitor, site, 7)["count"] == 1, "toast 7's summary")
    delete = "from apps.toasts.models import Toast; Toast.objects.filter(pk=7).delete()"
    subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", delete],
        cwd=ROOT,
        env=site_env(DATABASE_URL=server_database),
        check=True,
    )
    producer = Celery(broker=broker.url)
    bad = {
        "a deleted toast": {"kwargs": {"toast_id": 7}},
        "garbage for an id": {"kwargs": {"toast_id": "garbage"}},
        "arguments it does not take": {"args": [1, 2, 3]},
    }
    ids = {what: producer.send_task(JOB, **job).id for what, job in bad.items()}
    producer.close()
    with Connection(broker.url) as connection:  # a message whose body is not JSON
        connection.Producer().publish(
            b"{not json",
            routing_key="celery",
            content_type="application/json",
            content_encoding="utf-8",
            headers={"task": JOB, "id": str(uuid.uuid4())},
        )
    rate(visitor, site, 1, 3)  # a good job, behind the bad ones
    eventually(lambda: summary(visitor, site, 1)["count"] == 1, "the good job done")

    for what, task_id in ids.items():
        found = eventually(
            lambda task_id=task_id: requests.get(
                f"{zipkin_server}/api/v2/traces",
                params={"annotationQuery": f"messaging.message.id={task_id}", "limit": 10},
                timeout=5,
            ).json(),
            f"the trace of the job with {what}",
        )
        runs = [s for trace in found for s in job_runs(trace)]
        assert len(runs) == 1, what  # once: no retry
        (run,) = runs
        assert run["tags"]["celery.state"] == "FAILURE", what
        assert "error" in run["tags"], what
        retried = [s for t in found for s in t if s["name"].startswith("apply_async")]
        assert not [s for s in retried if s.get("parentId") == run["id"]], what
        assert f"{JOB}[{task_id}] raised unexpected" in consumer.log(), what
    log = consumer.log()
    assert "There is no toast 7: deleted, or never was." in log
    assert "A toast id is a whole number, not 'garbage'." in log
    assert log.count(" raised unexpected") == 3
    assert "Can't decode message body" in log  # dropped, said, and the worker goes on


def test_a_failing_job_is_tried_four_times_each_attempt_in_the_trace(
    visitor, runserver_site, worker, broker, to_zipkin, zipkin_server
):
    site = runserver_site(
        CELERY_BROKER_URL=broker.url, SCENARIO_WORKER_FAILURE_RATE="1", **to_zipkin
    )
    consumer = worker("worker", **to_zipkin)
    response = rate(visitor, site, 4, 5)
    assert "Scenarios on: the worker fails 100% of jobs." in visitor.get(f"{site.url}/").text

    def four_runs(spans):
        return len(job_runs(spans)) == 4 and spans

    spans = fetch_trace(
        zipkin_server, traceresponse(response).trace_id, until=four_runs, timeout=30
    )
    runs = sorted(job_runs(spans), key=lambda s: s["timestamp"])
    publishes = {s["id"]: s for s in spans if s["name"] == f"apply_async/{JOB}"}
    assert len(publishes) == 4  # the view's, then one retry by each failed attempt but the last
    for attempt, run in enumerate(runs):
        assert "error" in run["tags"]
        assert "scenario failure" in str(run["annotations"])  # its error, recorded
        assert run["tags"]["celery.state"] == ("FAILURE" if attempt == 3 else "RETRY")
        publish = publishes[run["parentId"]]
        if attempt:
            assert publish["parentId"] == runs[attempt - 1]["id"]  # published by the one before
    # Tried again after 1, 2 and 4 s (retry_backoff), in microseconds here.
    gaps = [later["timestamp"] - run["timestamp"] for run, later in itertools.pairwise(runs)]
    assert [gap >= wait * 1_000_000 for gap, wait in zip(gaps, (1, 2, 4), strict=True)] == [
        True
    ] * 3
    assert consumer.log().count(" raised unexpected: ScenarioFailure") == 1
    assert summary(visitor, site, 4) == {"count": 0, "average": None}  # never done


@pytest.mark.parametrize("pool", ["prefork", "threads", "solo"])
def test_spans_arrive_from_every_pool(
    visitor, runserver_site, worker, broker, to_zipkin, zipkin_server, pool
):
    site = runserver_site(CELERY_BROKER_URL=broker.url, **to_zipkin)
    # Batches sent once a minute: only the flush on the way out sends these.
    consumer = worker(
        f"{pool}-{uuid.uuid4().hex[:6]}", pool, OTEL_BSP_SCHEDULE_DELAY="60000", **to_zipkin
    )
    traces = [traceresponse(rate(visitor, site, 2, stars)).trace_id for stars in (1, 2, 3)]
    eventually(lambda: summary(visitor, site, 2)["count"] == 3, "the three jobs done")
    consumer.stop()
    runs = [job_runs(fetch_trace(zipkin_server, t, until=job_runs)) for t in traces]
    assert [len(each) for each in runs] == [1, 1, 1]
    assert {run["tags"]["celery.worker"] for (run,) in runs} == {consumer.name}


def test_beat_starts_traces_of_its_own_for_the_repair_job(
    visitor, runserver_site, worker, beat, broker, to_zipkin, zipkin_server
):
    site = runserver_site(CELERY_BROKER_URL=broker.url, **to_zipkin)
    worker("worker", **to_zipkin)
    beat(SUMMARY_REPAIR_INTERVAL="1", **to_zipkin)
    since = int(time.time() * 1000)
    rate(visitor, site, 5, 4)

    def repairs():
        found = requests.get(
            f"{zipkin_server}/api/v2/traces",
            params={
                "serviceName": "beat",
                "spanName": "apply_async/toasts.rating_summary_repair",
                "lookback": int(time.time() * 1000) - since,
                "limit": 100,
            },
            timeout=5,
        ).json()
        return [t for t in found if len(t) > 2]  # with the worker's part

    trace = eventually(repairs, "a repair job's trace", timeout=30)[0]
    publish = next(s for s in trace if "parentId" not in s)  # the root: beat's publish
    assert (publish["localEndpoint"]["serviceName"], publish["kind"]) == ("beat", "PRODUCER")
    run = named(trace, "run/toasts.rating_summary_repair")
    assert (run["localEndpoint"]["serviceName"], run["parentId"]) == ("worker", publish["id"])
