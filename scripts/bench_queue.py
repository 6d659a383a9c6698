"""What tracing adds to a job on the queue, and how many jobs one worker does.

    python -m scripts.bench_queue    (about 10 minutes; needs redis-server and valgrind)

The job is the site's own: a toast's rating summary (apps/toasts/tasks.py), on
a real Redis, against SQLite. Counts instructions with valgrind, as
scripts/bench.py does: each side runs twice, with 20 and then 120 jobs, and the
difference over 100 is what one job costs, start-up cancelled:

- the publish side: a process that publishes the jobs as the API does, each
  inside a recorded span (a view's), traced and untraced;
- the worker side: a worker (solo pool: one process) that runs the queued jobs,
  traced and untraced.

Traced processes export to a closed port (scripts/bench.py measured that this
costs the same work as a running Zipkin, within 1%). Then it times one worker
(solo pool), traced and untraced, through 500 queued jobs: jobs per second.
Writes bench-results/queue.json.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from scripts.harness import OUT, ROOT, broker, production_env, queue_drained, worker

VARIANTS = {
    "untraced": {"OTEL_SDK_DISABLED": "true"},
    "traced": {"OTEL_EXPORTER_ZIPKIN_ENDPOINT": "http://127.0.0.1:9/api/v2/spans"},
}
COUNTS = (20, 120)
VALGRIND = ("valgrind", "--tool=callgrind", "--trace-children=yes")


def publish(count: int) -> None:
    """Run inside a process of its own (the `publish` command below)."""
    import django

    django.setup()
    from opentelemetry import trace

    from apps.toasts import queue
    from toastsite.telemetry.setup import setup

    setup()
    tracer = trace.get_tracer(__name__)
    for _ in range(count):
        with tracer.start_as_current_span("a view"):
            assert queue.rating_summary_refresh_later(toast_id=1) == queue.QUEUED


def instructions(folder: Path) -> int:
    return sum(int(re.search(r"^totals: (\d+)", f.read_text(), re.M)[1]) for f in folder.iterdir())


def purge(url: str) -> None:
    import redis

    redis.Redis.from_url(url).delete("celery")


def publish_side(env: dict, url: str) -> float:
    totals = []
    for count in COUNTS:
        out = Path(tempfile.mkdtemp())
        command = [*VALGRIND, f"--callgrind-out-file={out}/%p", sys.executable]
        command += ["-m", "scripts.bench_queue", "publish", str(count)]
        subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True)
        totals.append(instructions(out))
        shutil.rmtree(out)
        purge(url)  # the worker side counts its own jobs only
    return (totals[1] - totals[0]) / (COUNTS[1] - COUNTS[0])


def enqueue(url: str, count: int) -> None:
    from celery import Celery

    app = Celery(broker=url)
    for _ in range(count):
        app.send_task("toasts.rating_summary_refresh", kwargs={"toast_id": 1})
    app.close()


def wait_drained(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not queue_drained(url):
        if time.monotonic() > deadline:
            raise RuntimeError(f"jobs left in the queue after {timeout:.0f} s")
        time.sleep(0.01)


def worker_side(env: dict, url: str) -> float:
    totals = []
    for count in COUNTS:
        enqueue(url, count)
        out = Path(tempfile.mkdtemp())
        prefix = (*VALGRIND, f"--callgrind-out-file={out}/%p")
        with worker(env, pool="solo", concurrency=1, prefix=prefix):
            wait_drained(url, timeout=900)
        totals.append(instructions(out))
        shutil.rmtree(out)
    return (totals[1] - totals[0]) / (COUNTS[1] - COUNTS[0])


def throughput(env: dict, url: str, jobs: int = 500) -> float:
    """Jobs per second of one worker (solo pool), from its first job to the last."""
    import redis

    queued = redis.Redis.from_url(url)
    enqueue(url, jobs)
    with worker(env, pool="solo", concurrency=1):
        while queued.llen("celery") == jobs:
            time.sleep(0.005)
        started = time.monotonic()
        wait_drained(url, timeout=600)
        return jobs / (time.monotonic() - started)


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "publish":
        publish(int(sys.argv[2]))
        return
    for tool in ("valgrind", "redis-server"):
        if not shutil.which(tool):
            sys.exit(f"bench_queue: needs {tool} (apt-get install {tool})")
    database = f"sqlite:///{Path(tempfile.mkdtemp()) / 'queue.sqlite3'}"
    results: dict = {"cores": os.cpu_count(), "counts": COUNTS}
    with broker() as url:
        base = production_env(database, CELERY_BROKER_URL=url)
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=base, check=True
        )
        for name, variant in VARIANTS.items():
            env = {**base, **variant}
            results[name] = {
                "publish_instructions": publish_side(env, url),
                "worker_instructions": worker_side(env, url),
                "jobs_per_second": throughput(env, url),
            }
            print(name, results[name], flush=True)
    OUT.mkdir(exist_ok=True)
    (OUT / "queue.json").write_text(json.dumps(results, indent=2))
    untraced, traced = results["untraced"], results["traced"]
    for side in ("publish", "worker"):
        key = f"{side}_instructions"
        added = traced[key] - untraced[key]
        print(
            f"{side} side: {untraced[key] / 1e6:.2f} M untraced, {traced[key] / 1e6:.2f} M "
            f"traced: +{added / 1e6:.2f} M (+{added / untraced[key]:.0%}) per job"
        )
    print(
        f"one worker: {untraced['jobs_per_second']:.0f} jobs/s untraced, "
        f"{traced['jobs_per_second']:.0f} traced"
    )


if __name__ == "__main__":
    main()
