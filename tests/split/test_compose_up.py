"""`docker compose up` for real: the split as a reader meets it.

The stack of compose.yaml runs under a project name of its own, with three
replicas of the api behind the balancer and three workers (`--scale api=3
--scale worker=3`), is built and waited for until every service is healthy;
then the tests do what a reader would: open the pages, rate a toast through
the form, open the admin, and find the traces in Zipkin, from the click to the
worker's SQL. They also check what a reader would not see: the processes run
as a non-root user, the logs are clean, health probes make no traces, every
replica serves calls, the api counts the visitor and not the proxies in
between, pages answer while a replica is killed, ratings sent while a worker
is killed all end in right summaries, and a rating outlives `docker compose
down` and `up`. Last, the `scale` profile runs the Collector tier with three
samplers. At the end the stack and its volumes are removed, whatever happened.

Needs Docker and Compose (v2, or Debian's docker-compose 1.29) and the ports
8000, 8001 and 9411 on 127.0.0.1. Without them it is skipped, but fails when
CI is set. CI gets the machine ready with .ci/compose/prepare. By hand:

    pytest -m compose tests/split/test_compose_up.py
"""

import os
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any
from urllib.parse import urljoin

import pytest
import requests
import yaml

from apps.pages.traffic import post_rating
from tests.support.http import Visitor, traceresponse
from tests.support.polling import eventually, steadily
from tests.support.servers import ARTIFACTS, ROOT, skip_or_fail
from tests.support.zipkin import dependencies, named, screenshot

pytestmark = pytest.mark.compose

COMPOSE_ARTIFACTS = ARTIFACTS / "compose-up"
# A project of its own (containers, network, volume, images), beside any of
# the reader's, and removed with all of them at the end.
PROJECT = f"toastsite-test-{secrets.token_hex(4)}"
FRONTEND = "http://127.0.0.1:8000"
API = "http://127.0.0.1:8001"  # the balancer, in front of the api's replicas
ZIPKIN = "http://127.0.0.1:9411"
PORTS = (8000, 8001, 9411)  # fixed by compose.yaml
REPLICAS = 3  # of the api: `docker compose up --scale api=3`
WORKERS = 3  # `--scale worker=3`
CONCURRENCY = 2  # each worker's processes (compose.yaml: --concurrency 2), one job each
JOB = "toasts.rating_summary_refresh"
STREAMED = 24  # ratings sent while a worker is killed: under the 30 a minute one visitor may send
# Seconds before Redis hands a job that was not acknowledged to another worker.
VISIBILITY = int(
    yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]["worker"]["environment"][
        "QUEUE_VISIBILITY_TIMEOUT"
    ]
)
SAMPLERS = 3  # of the scale profile's sampler: `--scale sampler=3`
UP_TIMEOUT = 600  # s: the first build installs the requirements
IDLE = 60  # s without requests (an idle minute), while the healthchecks keep probing

LOG_PROBLEM = re.compile(r"\bERROR\b|Traceback|Cannot export spans|[Dd]ropped")


# --- Helpers --------------------------------------------------------------------------


def compose_command() -> list[str] | None:
    """`docker compose` (v2), else `docker-compose`, else None."""
    if shutil.which("docker"):
        v2 = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True)
        if v2.returncode == 0:
            return ["docker", "compose"]
    return ["docker-compose"] if shutil.which("docker-compose") else None


def port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def compose_projects_on(ports: list[int]) -> set[str]:
    """The compose projects whose containers publish these ports."""
    filters = [f"--filter=publish={port}" for port in ports]
    listed = subprocess.run(
        ["docker", "ps", *filters, "--format", '{{.Label "com.docker.compose.project"}}'],
        capture_output=True,
        text=True,
    )
    return set(listed.stdout.split())


def zipkin(path: str, **params: Any) -> Any:
    response = requests.get(f"{ZIPKIN}/api/v2/{path}", params=params, timeout=10)
    response.raise_for_status()
    return response.json()


def all_traces() -> list[list[dict]]:
    return zipkin("traces", limit=10_000, lookback=24 * 3600 * 1000)


def db_system(span: dict) -> str | None:
    tags = span.get("tags", {})
    return tags.get("db.system.name", tags.get("db.system"))  # the new name, or the old


def service(span: dict) -> str | None:
    return span.get("localEndpoint", {}).get("serviceName")


def api_calls(spans: list[dict]) -> list[dict]:
    """The api's server spans: one per call that reached a replica."""
    return [s for s in spans if s.get("kind") == "SERVER" and service(s) == "api"]


def traces_with_their_api_calls(trace_ids: list[str], calls: int) -> dict[str, list[dict]]:
    """Each trace, once Zipkin has it with `calls` api calls (two per home page)
    and the frontend's client span of each (the services' batches come apart)."""

    def whole(trace: list[dict]) -> bool:
        ids = {span["id"] for span in trace}
        calls_made = api_calls(trace)
        return len(calls_made) >= calls and all(s.get("parentId") in ids for s in calls_made)

    def arrived() -> dict[str, list[dict]] | None:
        traces = {trace_id: zipkin(f"trace/{trace_id}") for trace_id in trace_ids}
        return traces if all(whole(t) for t in traces.values()) else None

    return eventually(arrived, f"{len(trace_ids)} traces with their api calls in Zipkin", 60, 1)


def home_page_views(count: int, per_second: float, stop: threading.Event | None = None) -> list:
    """Home page views at a steady rate, on one kept-alive connection: each is
    (time it began, status or error, trace id or None)."""
    session = Visitor()
    views = []
    for _ in steadily(count, per_second, stop):
        started = time.time()
        try:
            page = session.get(FRONTEND + "/", timeout=15)
        except requests.RequestException as exc:
            views.append((started, type(exc).__name__, None))
            continue
        views.append((started, page.status_code, traceresponse(page).trace_id))
    return views


def scheduled(trace: list[dict]) -> bool:
    """Whether a trace is beat's repair job (its spans may come one batch at a time)."""
    return {service(span) for span in trace} <= {"beat", "worker"} and any(
        span["name"].endswith("/toasts.rating_summary_repair") for span in trace
    )


def span_paths(span: dict) -> str:
    """A span's name and the tags that can hold its request's path."""
    tags = span.get("tags", {})
    keys = ("http.route", "http.target", "url.path", "http.url", "url.full")
    return " ".join([span.get("name", ""), *(tags.get(key, "") for key in keys)])


class Stack:
    """compose.yaml under PROJECT, run with the docker CLI."""

    def __init__(self, command: list[str]) -> None:
        self.base = [*command, "-p", PROJECT, "-f", str(ROOT / "compose.yaml")]
        self.v2 = command == ["docker", "compose"]
        # A key of the test's own; the reader's .env, if any, is not needed.
        self.env = {**os.environ, "DJANGO_SECRET_KEY": secrets.token_urlsafe(50)}
        self.profiles: list[str] = []
        self.scale = {"api": REPLICAS, "worker": WORKERS}

    @property
    def command(self) -> list[str]:
        return [*self.base, *(f"--profile={profile}" for profile in self.profiles)]

    def run(self, *args: str, timeout: float = 120, check: bool = True) -> str:
        done = subprocess.run(
            [*self.command, *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and done.returncode:
            pytest.fail(
                f"`compose {' '.join(args)}` exited with {done.returncode}:\n"
                f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}\n{self.logs(tail=40)}",
                pytrace=False,
            )
        return done.stdout

    def up(self) -> float:
        """Build, start and wait until every service is healthy; seconds it took."""
        started = time.monotonic()
        scale = [f"--scale={name}={count}" for name, count in self.scale.items()]
        if self.v2:
            wait = ["--wait", "--wait-timeout", str(UP_TIMEOUT)]
            self.run("up", "-d", "--build", *scale, *wait, timeout=UP_TIMEOUT + 60)
        else:
            self.run("up", "-d", "--build", *scale, timeout=UP_TIMEOUT)
            eventually(self.healthy, "every service to be healthy", timeout=UP_TIMEOUT, every=1)
        return time.monotonic() - started

    def healthy(self) -> bool:
        """Every container healthy, or running if it has no healthcheck, or done
        (the migration); and as many api replicas and workers as asked for."""
        ids = self.run("ps", "-a", "-q").split()
        template = (
            "{{if .State.Health}}{{.State.Health.Status}}"
            "{{else}}{{.State.Status}}:{{.State.ExitCode}}{{end}}"
        )
        states = subprocess.run(
            ["docker", "inspect", "-f", template, *ids], capture_output=True, text=True
        ).stdout.split()
        fine = {"healthy", "running:0", "exited:0"}
        replicas = all(len(self.containers(name)) == n for name, n in self.scale.items())
        return bool(states) and set(states) <= fine and replicas

    def containers(self, service: str) -> list[str]:
        """The ids of the service's running containers."""
        return self.run("ps", "-q", service).split()

    def down(self, *args: str) -> None:
        self.run("down", "--remove-orphans", *args, timeout=180)

    def exec(self, service: str, *command: str) -> str:
        return self.run("exec", "-T", service, *command)

    def logs(self, tail: int | None = None) -> str:
        args = ["logs", "--no-color"] + ([f"--tail={tail}"] if tail else [])
        done = subprocess.run(
            [*self.command, *args], cwd=ROOT, env=self.env, capture_output=True, text=True
        )
        return done.stdout + done.stderr

    def problems_in_logs(self) -> list[str]:
        return [line for line in self.logs().splitlines() if LOG_PROBLEM.search(line)]


# --- Fixtures -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    command = compose_command()
    if command is None:
        skip_or_fail("Docker Compose is not installed (see .ci/compose/prepare)")
    if (
        not shutil.which("docker")
        or subprocess.run(["docker", "info"], capture_output=True).returncode
    ):
        skip_or_fail("the Docker daemon is not running (see .ci/compose/prepare)")
    busy = [port for port in PORTS if port_in_use(port)]
    if busy:
        projects = sorted(compose_projects_on(busy))
        by = f" by compose projects {projects} (`docker compose -p NAME down`)" if projects else ""
        skip_or_fail(f"compose.yaml publishes 8000, 8001 and 9411; {busy} in use here{by}")
    stack = Stack(command)
    try:
        seconds = stack.up()
        print(f"compose up: healthy after {seconds:.0f} s")
        yield stack
    finally:
        COMPOSE_ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (COMPOSE_ARTIFACTS / "compose.log").write_text(stack.logs())
        stack.down("--volumes", "--rmi", "local")


@pytest.fixture(scope="module")
def visits(stack) -> dict[str, requests.Response]:
    """The pages a reader opens first: the home page, the week, one toast."""
    pages = {path: requests.get(FRONTEND + path, timeout=10) for path in ("/", "/toasts/")}
    first_toast = re.search(r'href="(/toasts/\d+/)"', pages["/toasts/"].text)
    assert first_toast, "the week's page links to no toast"
    pages["toast"] = requests.get(FRONTEND + first_toast.group(1), timeout=10)
    return pages


@pytest.fixture(scope="module")
def rating(stack, visits) -> dict[str, Any]:
    """A 4-star rating sent through the toast page's form, as a browser would:
    with no trace context of the test process's own."""
    url = visits["toast"].url
    browser = Visitor()
    since_ms = int(time.time() * 1000) - 1
    sent = post_rating(browser, url, timeout=10, stars="4", comment="Rated by test_compose_up")
    after = browser.get(urljoin(url, sent.headers.get("Location", url)), timeout=10)
    toast_id = int(re.search(r"/toasts/(\d+)/", url).group(1))
    return {"url": url, "toast_id": toast_id, "sent": sent, "after": after, "since_ms": since_ms}


# --- Tests, in the order a reader goes ------------------------------------------------


def test_the_pages_answer(visits):
    for path, page in visits.items():
        assert page.status_code == 200, (path, page.status_code, page.text[:500])
        assert "text/html" in page.headers["Content-Type"]
        # The footer links to the page's own trace in Zipkin's UI.
        trace_link = f'href="http://localhost:9411/zipkin/traces/{traceresponse(page).trace_id}"'
        assert trace_link in page.text, path


def test_a_rating_sent_through_the_form_is_saved(rating):
    assert rating["sent"].status_code == 302, rating["sent"].text[:1000]
    assert rating["after"].status_code == 200
    # The api published the summary's job to the broker, and says so.
    assert (
        "Your 4-star rating is saved. The rating summary counts it in a moment."
        in rating["after"].text
    )
    # A worker counts it: the toast's first rating in this stack.
    eventually(
        lambda: summary(rating["toast_id"]) == {"count": 1, "average": 4.0},
        "the rating in its toast's summary",
        30,
        0.5,
    )


def test_the_admin_has_its_css(stack):
    login = requests.get(f"{API}/admin/login/", timeout=10)
    assert login.status_code == 200
    stylesheets = re.findall(r'<link[^>]*rel="stylesheet"[^>]*href="([^"]+)"', login.text)
    assert stylesheets, "the admin's login page links no stylesheet"
    for href in stylesheets:
        css = requests.get(urljoin(login.url, href), timeout=10)
        assert css.status_code == 200, href
        assert css.headers["Content-Type"].startswith("text/css"), href
        assert "traceresponse" not in css.headers, href  # static files make no span


@pytest.mark.parametrize(
    ("service", "program"),
    [("api", "gunicorn"), ("frontend", "gunicorn"), ("worker", "celery"), ("beat", "celery")],
)
def test_the_site_runs_as_a_user_not_root(stack, service, program):
    assert stack.exec(service, "id", "-u").strip() != "0"
    # Every process in the container: gunicorn's master and its workers, or
    # Celery's worker and its pool.
    processes = stack.exec(
        service,
        "python",
        "-c",
        "import os\n"
        "for pid in filter(str.isdigit, os.listdir('/proc')):\n"
        "    with open(f'/proc/{pid}/cmdline', 'rb') as f:\n"
        "        cmd = f.read().replace(b'\\0', b' ').decode().strip()\n"
        "    print(os.stat(f'/proc/{pid}').st_uid, cmd)\n",
    ).splitlines()
    assert any(program in line for line in processes), processes
    assert all(not line.startswith("0 ") for line in processes), processes


def test_the_broker_runs_as_redis_not_root(stack):
    # The image starts as root, takes /data for the user redis, and runs
    # redis-server as that user.
    assert stack.exec("broker", "stat", "-c", "%U", "/proc/1").strip() == "redis"
    assert stack.exec("broker", "redis-cli", "config", "get", "appendonly").split() == [
        "appendonly",
        "yes",
    ]


def test_three_workers_and_one_beat_share_the_broker(stack):
    # Each worker answers by its own name, through the broker, to a ping
    # from beat's container: three of them, one per container.
    names = {f"worker@{hostname(container)}" for container in stack.containers("worker")}
    assert len(names) == WORKERS
    pong = stack.exec("beat", "celery", "-A", "toastsite", "inspect", "ping", "--timeout", "5")
    assert set(re.findall(r"->\s+(worker@\w+): OK", pong)) == names
    assert len(stack.containers("beat")) == 1


def test_one_trace_goes_from_the_frontend_through_the_api_to_postgresql(visits):
    def whole_trace() -> list[dict] | None:
        spans = zipkin(f"trace/{traceresponse(visits['toast']).trace_id}")
        services = {span.get("localEndpoint", {}).get("serviceName") for span in spans}
        sql = [s for s in spans if s.get("kind") == "CLIENT" and db_system(s) == "postgresql"]
        return spans if {"frontend", "api"} <= services and sql else None

    spans = eventually(whole_trace, "the toast page's trace, with the api's SQL, in Zipkin", 60, 1)
    sql = [span for span in spans if db_system(span) == "postgresql"]
    assert all(span["localEndpoint"]["serviceName"] == "api" for span in sql)


def test_one_rating_is_one_trace_from_the_click_to_the_workers_sql(stack, rating):
    def with_the_workers_sql() -> list[dict] | None:
        spans = zipkin(f"trace/{traceresponse(rating['sent']).trace_id}")
        # Each service's spans leave in batches of their own (every 5 s).
        runs = [s for s in spans if s["name"] == f"run/{JOB}"]
        sql = [s for s in spans if runs and s.get("parentId") == runs[0]["id"]]
        has_root = any("parentId" not in s for s in spans)
        apis = [s for s in spans if s["name"] == f"apply_async/{JOB}"]
        return spans if len(runs) == 1 and sql and has_root and apis else None

    spans = eventually(with_the_workers_sql, "the rating's trace, to the worker's SQL", 60, 1)
    assert {service(span) for span in spans} == {"frontend", "api", "worker"}
    page = named(spans, "POST toasts/<int:pk>/")
    call = named(spans, "POST /api/toasts/{id}/ratings/")
    view = named(spans, "POST api/toasts/<int:pk>/ratings/")
    publish = named(spans, f"apply_async/{JOB}")
    run = named(spans, f"run/{JOB}")
    assert "parentId" not in page
    assert (service(page), service(call), service(view)) == ("frontend", "frontend", "api")
    assert call["parentId"] == page["id"]
    assert view["parentId"] == call["id"]
    # The publish, from the api's view, after its commit; Redis is its peer.
    assert (service(publish), publish["kind"], publish["parentId"]) == (
        "api",
        "PRODUCER",
        view["id"],
    )
    assert publish["remoteEndpoint"]["serviceName"] == "redis"
    insert = named(spans, "INSERT toasts_rating")
    assert insert["timestamp"] + insert["duration"] <= publish["timestamp"]
    # The job, run by one of the workers, and its SQL on PostgreSQL.
    assert (service(run), run["kind"], run["parentId"]) == ("worker", "CONSUMER", publish["id"])
    names = {f"worker@{hostname(container)}" for container in stack.containers("worker")}
    assert run["tags"]["celery.worker"] in names
    worker_sql = [s for s in spans if s.get("parentId") == run["id"]]
    assert {(service(s), s["kind"], db_system(s)) for s in worker_sql} == {
        ("worker", "CLIENT", "postgresql")
    }
    statements = {s["name"] for s in worker_sql}  # Zipkin stores names in lower case
    assert "select toasts_rating" in statements
    assert statements & {"insert toasts_ratingsummary", "update toasts_ratingsummary"}


def test_zipkin_draws_the_queue_between_the_api_and_the_worker(rating):
    # In the window of this test's own rating (since just before it was sent).
    expected = {
        ("frontend", "api"),
        ("api", "redis"),
        ("redis", "worker"),
        ("worker", "postgresql"),
    }
    links = eventually(
        lambda: expected <= set(got := dependencies(ZIPKIN, rating["since_ms"])) and got,
        "the queue in Zipkin's dependencies",
        60,
        1,
    )
    print(f"\ndependencies since the rating: {links}")


def test_every_api_replica_serves_calls_and_shows_in_zipkin_as_itself(stack, page):
    replicas = {hostname(container) for container in stack.containers("api")}
    assert len(replicas) == REPLICAS
    views = home_page_views(30, per_second=5)
    assert [status for _, status, _ in views] == [200] * 30
    traces = traces_with_their_api_calls([trace_id for *_, trace_id in views], calls=2)

    calls = [span for trace in traces.values() for span in api_calls(trace)]
    per_replica = Counter(span["tags"]["host.name"] for span in calls)
    instances = {span["tags"]["host.name"]: span["tags"]["service.instance.id"] for span in calls}
    print(f"\n{len(calls)} api calls per replica (host.name): {dict(per_replica)}")
    print(f"service.instance.id per replica: {instances}")
    # Every replica answered, each under its own service.instance.id; the
    # balancer takes them in turn, so no replica gets more than one call more.
    assert set(per_replica) == replicas
    assert len(set(instances.values())) == REPLICAS
    assert max(per_replica.values()) - min(per_replica.values()) <= 1
    # So a home page's two calls went to two replicas.
    for trace in traces.values():
        assert len({span["tags"]["host.name"] for span in api_calls(trace)}) == 2
    screenshot_a_replica(page, next(iter(traces)))

    # What the way through the balancer adds to a call, on the frontend's
    # kept-alive connection: the client span less the api's own server span.
    by_id = {span["id"]: span for trace in traces.values() for span in trace}
    added = [(by_id[s["parentId"]]["duration"] - s["duration"]) / 1000 for s in calls]
    print(
        f"a call's way there and back: median {statistics.median(added):.1f} ms, "
        f"max {max(added):.1f} ms (frontend's client span less the api's server span)"
    )


def test_the_api_counts_the_visitor_not_the_proxies_in_between(stack, rating):
    # The rating went visitor -> frontend -> balancer -> api; a second one is
    # sent straight to the balancer, with an X-Forwarded-For of its own making.
    forged = "203.0.113.9"  # TEST-NET-3: no one's address
    sent = requests.post(
        f"{API}/api/toasts/{rating['toast_id']}/ratings/",
        json={"stars": 5},
        headers={"X-Forwarded-For": forged},
        timeout=10,
    )
    assert sent.status_code == 201, sent.text[:500]

    keys = stack.exec(
        "db", "psql", "-U", "toast", "-d", "toast", "-tAc", "SELECT cache_key FROM toastsite_cache"
    ).split()
    counted = {key.rsplit("_", 1)[-1] for key in keys if "throttle_ratings_" in key}
    # Both counted as this machine, as the frontend and the balancer met it:
    # the network's gateway. Neither as a proxy in between, nor as the forgery.
    assert counted == {gateway()}, (counted, keys)


def test_pages_answer_while_an_api_replica_is_killed(stack, visits):
    replicas = stack.containers("api")
    assert len(replicas) == REPLICAS
    victim = replicas[-1]
    dead = hostname(victim)
    streams: list[list] = [[], []]
    stop = threading.Event()

    def stream(views: list) -> None:
        views.extend(home_page_views(10_000, per_second=5, stop=stop))

    threads = [threading.Thread(target=stream, args=(views,)) for views in streams]
    for thread in threads:
        thread.start()
    try:
        time.sleep(8)  # steady, and longer than a batch of spans (5 s)
        killed = time.time()
        subprocess.run(["docker", "kill", victim], check=True, capture_output=True)
        time.sleep(12)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    views = sorted(view for views in streams for view in views)
    failed = [view for view in views if view[1] != 200]
    print(
        f"\n{len(views)} page views at 10 a second, replica {dead} killed after 8 s: "
        f"{len(failed)} not 200 {failed[:5]}"
    )
    print(stack.run("logs", "--no-color", "balancer", check=False)[-1500:])
    assert failed == []

    # None of the calls of page views begun a second after the kill reached
    # the dead replica. (Docker may start its container again: that is a new
    # process, with a service.instance.id of its own.)
    after = traces_with_their_api_calls([t for began, _, t in views if began > killed + 1], 2)
    # Before the kill it had its share. Its spans leave in batches, every 5 s:
    # those of its last seconds died with it, and those calls show in Zipkin
    # as the frontend's client span alone.
    before = {t: zipkin(f"trace/{t}") for began, _, t in views if began < killed}
    dead_ids = {
        span["tags"]["service.instance.id"]
        for trace in before.values()
        for span in api_calls(trace)
        if span["tags"]["host.name"] == dead
    }
    halves = sum(len(api_calls(trace)) < 2 for trace in before.values())
    print(
        f"{len(before)} page views before the kill, {halves} of them without the api's "
        f"spans of a call (the dead replica's last batch); {len(after)} begun a second "
        "after it, all whole"
    )
    assert dead_ids, "the killed replica served none of the calls before its death"
    served_after = [
        span["tags"]["service.instance.id"] for t in after.values() for span in api_calls(t)
    ]
    assert after
    assert dead_ids.isdisjoint(served_after)


def test_ratings_sent_while_a_worker_is_killed_all_end_in_right_summaries(stack, visits):
    workers = stack.containers("worker")
    assert len(workers) == WORKERS
    victim, survivors = workers[0], workers[1:]
    victim_name = f"worker@{hostname(victim)}"
    toasts = list(
        dict.fromkeys(map(int, re.findall(r'href="/toasts/(\d+)/"', visits["/toasts/"].text)))
    )
    held, others = toasts[-1], toasts[-3:-1]
    before = saved_stars(stack, toasts)
    slots = WORKERS * CONCURRENCY
    # First one job for each worker process, all of the held toast's; then the
    # rest of the stream, over three toasts, at 3 a second.
    plan = [(held, 1 + n % 5) for n in range(slots)]
    plan += [((*others, held)[n % 3], 1 + (n * 2) % 5) for n in range(STREAMED - slots)]
    sent: list[tuple[int, int, Any]] = []

    def stream() -> None:
        browser = Visitor()
        begin = time.monotonic()
        for n, (pk, stars) in enumerate(plan):
            time.sleep(max(0.0, begin + n / 3 - time.monotonic()))
            try:
                answer = post_rating(browser, f"{FRONTEND}/toasts/{pk}/", stars=stars, timeout=15)
            except requests.RequestException as exc:
                answer = type(exc).__name__
            sent.append((pk, stars, answer))

    thread = threading.Thread(target=stream)
    try:
        with toast_row_locked(stack, held):
            thread.start()
            # Every worker process is in the middle of one of the held toast's
            # jobs, waiting for its row: so is the victim, one job in each.
            eventually(lambda: jobs_waiting(stack) == slots, f"{slots} jobs waiting", 30, 0.2)
            subprocess.run(["docker", "kill", victim], check=True, capture_output=True)
            killed = time.monotonic()
            sent_before = len(sent)
    finally:
        if thread.ident:
            thread.join()
    received = job_times(container_log(victim), "received")
    in_its_hands = set(received) - set(job_times(container_log(victim), "succeeded"))
    print(
        f"\n{len(plan)} ratings, {sent_before} of them sent before {victim_name} was "
        f"killed with {len(in_its_hands)} jobs in its hands"
    )
    assert [getattr(answer, "status_code", answer) for *_, answer in sent] == [302] * len(plan)
    assert len(in_its_hands) == CONCURRENCY

    # Each of those jobs is done by another worker, once Redis has waited
    # QUEUE_VISIBILITY_TIMEOUT for its acknowledgement (and looked again, every
    # second).
    def done_elsewhere() -> dict[str, float] | None:
        logs = "".join(container_log(container) for container in survivors)
        done = job_times(logs, "succeeded")
        return done if in_its_hands <= set(done) else None

    done = eventually(done_elsewhere, "the killed worker's jobs done by another", 60, 0.5)
    assert not running(victim)  # so only the others could have done them
    waits = sorted(done[job] - received[job] for job in in_its_hands)
    print(
        f"its jobs done by the others {time.monotonic() - killed:.1f} s after the kill, "
        f"{', '.join(f'{wait:.1f}' for wait in waits)} s after it took them"
    )
    assert all(VISIBILITY - 1 <= wait <= VISIBILITY + 3 for wait in waits), waits

    # Every rating saved, and every summary counts exactly the saved ones.
    saved = saved_stars(stack, toasts)
    new = {pk: sorted(saved[pk][len(before[pk]) :]) for pk in toasts}
    assert new == {pk: sorted(stars for p, stars, _ in sent if p == pk) for pk in toasts}

    def right() -> bool:
        return all(summary(pk) == summary_of(saved[pk]) for pk in toasts)

    eventually(right, "every summary to count its saved ratings", 60, 0.5)
    print(
        f"every summary right {time.monotonic() - killed:.1f} s after the kill: "
        f"{[summary(pk) for pk in toasts]}"
    )

    # In Zipkin: each of those jobs ran to its end once, on another worker,
    # said redelivered. (The killed worker's spans of them never ended.)
    traces = [traceresponse(answer).trace_id for *_, answer in sent]

    def their_runs() -> list[dict] | None:
        runs = [
            span
            for trace_id in traces
            for span in zipkin(f"trace/{trace_id}")
            if span["name"] == f"run/{JOB}"
            and span["tags"].get("messaging.message.id") in in_its_hands
        ]
        return runs if len(runs) == len(in_its_hands) else None

    runs = eventually(their_runs, "the redelivered jobs' spans in Zipkin", 60, 1)
    for run in runs:
        assert run["tags"]["celery.redelivered"] == "true"
        assert run["tags"]["celery.worker"] != victim_name
        assert "error" not in run["tags"]


def test_zipkin_knows_both_services_and_that_the_frontend_calls_the_api(visits):
    eventually(
        lambda: {"frontend", "api"} <= set(zipkin("services")), "frontend and api in Zipkin", 60, 1
    )

    def frontend_calls_api() -> bool:
        links = zipkin("dependencies", endTs=int(time.time() * 1000), lookback=3600 * 1000)
        return any(link["parent"] == "frontend" and link["child"] == "api" for link in links)

    eventually(frontend_calls_api, "the frontend → api dependency in Zipkin", 60, 1)


def test_health_probes_make_no_traces(stack, visits, rating):
    # Let the spans of the requests above arrive (they leave in batches every
    # 5 s), then stay idle while the healthchecks probe every few seconds.
    eventually(
        lambda: zipkin(f"trace/{traceresponse(rating['after']).trace_id}"),
        "the rating's trace in Zipkin",
        60,
        1,
    )
    time.sleep(6)
    before = {trace[0]["traceId"] for trace in all_traces()}
    time.sleep(IDLE)
    traces = all_traces()

    health = [span_paths(s) for trace in traces for s in trace if "/health" in span_paths(s)]
    assert not health, f"spans of health probes: {health[:5]}"
    # Beat starts the repair job once a minute, without a request: those
    # traces are the schedule's, beat's publish and the worker's run.
    new = [
        [span_paths(s) for s in t]
        for t in traces
        if t[0]["traceId"] not in before and not scheduled(t)
    ]
    assert not new, f"traces that appeared in {IDLE} s without requests: {new[:5]}"


def test_the_logs_are_clean(stack):
    assert not stack.problems_in_logs()


def test_a_rating_outlives_down_and_up(stack, rating):
    toast_url = f"{API}/api/toasts/{rating['toast_id']}/"
    before = requests.get(toast_url, timeout=10).json()["rating"]
    assert before["count"] >= 1

    stack.down()  # keeps the database's volume
    seconds = stack.up()
    print(f"compose up again: healthy after {seconds:.0f} s")

    assert requests.get(toast_url, timeout=10).json()["rating"] == before
    assert not stack.problems_in_logs()


def test_the_scale_profile_routes_each_trace_to_one_of_three_samplers(stack):
    # The Collector tier (tutorial step 11) in compose: the router finds the
    # samplers by their service name, as it would a Kubernetes headless service.
    stack.profiles = ["scale"]
    stack.scale = {"api": REPLICAS, "worker": WORKERS, "sampler": SAMPLERS}
    stack.env["OTEL_TRACES_EXPORTER"] = "otlp"  # the services send to the router
    seconds = stack.up()
    print(f"\ncompose --profile scale up: healthy after {seconds:.0f} s")
    assert len(stack.containers("sampler")) == SAMPLERS

    def router_sees_every_sampler() -> bool:
        return metric(stack, "router", "otelcol_loadbalancer_num_backends") == [SAMPLERS]

    eventually(router_sees_every_sampler, f"the router to know {SAMPLERS} samplers", 30, 1)
    views = home_page_views(60, per_second=10)
    assert [status for _, status, _ in views] == [200] * 60

    # Each sampler had its share of the traces, whole: the router sends all of
    # a trace's spans to one sampler, chosen by trace id.
    def every_sampler_has_spans() -> list[float] | None:
        per_sampler = metric(stack, "sampler", "otelcol_receiver_accepted_spans")
        return per_sampler if len(per_sampler) == SAMPLERS and all(per_sampler) else None

    received = eventually(every_sampler_has_spans, "spans at every sampler", 30, 1)
    print(f"spans received per sampler: {received}")

    # What the samplers kept (10% of these, and any slow one) reaches Zipkin
    # whole, after their 10 s decision wait.
    time.sleep(12)
    kept = {}
    for *_, trace_id in views:
        found = requests.get(f"{ZIPKIN}/api/v2/trace/{trace_id}", timeout=10)
        if found.status_code == 200:
            kept[trace_id] = {service(span) for span in found.json()}
    print(f"kept by the samplers: {len(kept)} of {len(views)} traces")
    assert kept
    assert all(services == {"frontend", "api"} for services in kept.values()), kept
    assert not stack.problems_in_logs()


def screenshot_a_replica(page, trace_id: str) -> None:
    """A home page's trace in Zipkin's UI, its call for the toast of the day
    open on the api's side: the tags name the replica (`make screenshots`
    does not take it: copy it from test-artifacts/tutorial/ by hand)."""
    screenshot(
        page,
        ZIPKIN,
        f"traces/{trace_id}",
        "step11-replica",
        "get home",
        click="get api/toasts/today/",
        scroll_to="service.instance.id",
        click_exact=False,
    )


# --- Containers -----------------------------------------------------------------------


def hostname(container: str) -> str:
    """A container's host name: what the site's spans carry as host.name."""
    return subprocess.run(
        ["docker", "inspect", "-f", "{{.Config.Hostname}}", container],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def gateway() -> str:
    """The address of this machine in the stack's network, as its containers see it."""
    return subprocess.run(
        ["docker", "network", "inspect", "-f", "{{range .IPAM.Config}}{{.Gateway}}{{end}}"]
        + [f"{PROJECT}_default"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def job_times(log: str, what: str) -> dict[str, float]:
    """When each summary job was `what` ("received", "succeeded") in a worker's
    log: job id to the log line's time, in seconds since the epoch."""
    lines = re.finditer(
        rf"^(\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d,\d{{3}}) .* Task {re.escape(JOB)}\[([\w-]+)\] {what}",
        log,
        re.M,
    )
    return {
        job: datetime.strptime(at, "%Y-%m-%d %H:%M:%S,%f").timestamp()
        for at, job in (line.groups() for line in lines)
    }


def running(container: str) -> bool:
    return (
        subprocess.run(
            ["docker", "inspect", "-f", "{{.State.Running}}", container],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        == "true"
    )


def container_log(container: str) -> str:
    done = subprocess.run(["docker", "logs", container], capture_output=True, text=True)
    return done.stdout + done.stderr


# --- The database, seen from inside the stack -----------------------------------------

LOCKER = "toastsite-test-lock"  # the application_name of the test's own session


def psql(stack: Stack, sql: str) -> str:
    return stack.exec("db", "psql", "-U", "toast", "-d", "toast", "-tAc", sql).strip()


def saved_stars(stack: Stack, toasts: list[int]) -> dict[int, list[int]]:
    """Each toast's ratings in the database, oldest first."""
    rows = psql(
        stack,
        "SELECT toast_id, stars FROM toasts_rating WHERE toast_id IN "
        f"({','.join(map(str, toasts))}) ORDER BY id",
    )
    stars: dict[int, list[int]] = {pk: [] for pk in toasts}
    for row in rows.splitlines():
        pk, given = row.split("|")
        stars[int(pk)].append(int(given))
    return stars


def summary_of(stars: list[int]) -> dict:
    """The summary that counts exactly these ratings."""
    return {"count": len(stars), "average": round(sum(stars) / len(stars), 2) if stars else None}


def summary(pk: int) -> dict:
    return requests.get(f"{API}/api/toasts/{pk}/", timeout=10).json()["rating"]


def jobs_waiting(stack: Stack) -> int:
    """Database sessions waiting for a lock: jobs held by toast_row_locked()."""
    return int(psql(stack, "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"))


@contextmanager
def toast_row_locked(stack: Stack, pk: int) -> Iterator[None]:
    """Toast `pk`'s row locked by a transaction of the test's own, open until
    the block ends. The summary job locks its toast's row FOR UPDATE, so each of
    that toast's jobs waits in the middle, in its worker's hands; FOR NO KEY
    UPDATE still lets the api insert ratings, whose foreign key only needs
    FOR KEY SHARE."""
    holder = subprocess.Popen(
        [*stack.command, "exec", "-T", "-e", f"PGAPPNAME={LOCKER}", "db"]
        + ["psql", "-U", "toast", "-d", "toast", "-v", "ON_ERROR_STOP=1", "-q"],
        cwd=ROOT,
        env=stack.env,
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    try:
        holder.stdin.write(
            f"BEGIN;\nSELECT 1 FROM toasts_toast WHERE id = {pk} FOR NO KEY UPDATE;\n"
        )
        holder.stdin.flush()
        holding = (
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = "
            f"'{LOCKER}' AND state = 'idle in transaction' AND backend_xid IS NOT NULL"
        )
        eventually(lambda: psql(stack, holding) == "1", f"toast {pk}'s row locked", 30, 0.2)
        yield
    finally:
        holder.stdin.write("COMMIT;\n")
        holder.stdin.close()
        holder.wait(timeout=30)


def metric(stack: Stack, name: str, family: str) -> list[float]:
    """A Collector metric's value (summed over its series) at each address of
    `name` (one per container), read from inside compose's network by the
    first api replica's Python."""
    code = f"""
import socket, urllib.request
for address in sorted({{info[4][0] for info in socket.getaddrinfo({name!r}, 8888)}}):
    text = urllib.request.urlopen(f"http://{{address}}:8888/metrics", timeout=5).read().decode()
    values = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
              if line.startswith({family!r})]
    print(sum(values))
"""
    # Not yet listening is no answer yet: eventually() asks again.
    return [
        float(value)
        for value in stack.run("exec", "-T", "api", "python", "-c", code, check=False).split()
    ]
