"""`docker compose up` for real: the split as a reader meets it.

The stack of compose.yaml runs under a project name of its own, is built and
waited for until every service is healthy; then the tests do what a reader
would: open the pages, rate a toast through the form, open the admin, and find
the traces in Zipkin. They also check what a reader would not see: the
processes run as a non-root user, the logs are clean, health probes make no
traces, and a rating outlives `docker compose down` and `up`. At the end the
stack and its volume are removed, whatever happened.

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
import subprocess
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urljoin

import pytest
import requests

from apps.pages.traffic import post_rating
from tests.support.http import traceresponse
from tests.support.polling import eventually
from tests.support.servers import ARTIFACTS, ROOT, skip_or_fail

pytestmark = pytest.mark.compose

COMPOSE_ARTIFACTS = ARTIFACTS / "compose-up"
# A project of its own (containers, network, volume, images), beside any of
# the reader's, and removed with all of them at the end.
PROJECT = f"toastsite-test-{secrets.token_hex(4)}"
FRONTEND = "http://127.0.0.1:8000"
API = "http://127.0.0.1:8001"
ZIPKIN = "http://127.0.0.1:9411"
PORTS = (8000, 8001, 9411)  # fixed by compose.yaml
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


def span_paths(span: dict) -> str:
    """A span's name and the tags that can hold its request's path."""
    tags = span.get("tags", {})
    keys = ("http.route", "http.target", "url.path", "http.url", "url.full")
    return " ".join([span.get("name", ""), *(tags.get(key, "") for key in keys)])


class Stack:
    """compose.yaml under PROJECT, run with the docker CLI."""

    def __init__(self, command: list[str]) -> None:
        self.command = [*command, "-p", PROJECT, "-f", str(ROOT / "compose.yaml")]
        self.v2 = command == ["docker", "compose"]
        # A key of the test's own; the reader's .env, if any, is not needed.
        self.env = {**os.environ, "DJANGO_SECRET_KEY": secrets.token_urlsafe(50)}

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
        if self.v2:
            wait = ["--wait", "--wait-timeout", str(UP_TIMEOUT)]
            self.run("up", "-d", "--build", *wait, timeout=UP_TIMEOUT + 60)
        else:
            self.run("up", "-d", "--build", timeout=UP_TIMEOUT)
            eventually(self.healthy, "every service to be healthy", timeout=UP_TIMEOUT, every=1)
        return time.monotonic() - started

    def healthy(self) -> bool:
        ids = self.run("ps", "-q").split()
        states = subprocess.run(
            ["docker", "inspect", "-f", "{{.State.Health.Status}}", *ids],
            capture_output=True,
            text=True,
        ).stdout.split()
        return len(states) == 4 and set(states) == {"healthy"}

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
    """A 4-star rating sent through the toast page's form, as a browser would."""
    url = visits["toast"].url
    browser = requests.Session()
    sent = post_rating(browser, url, timeout=10, stars="4", comment="Rated by test_compose_up")
    after = browser.get(urljoin(url, sent.headers.get("Location", url)), timeout=10)
    toast_id = int(re.search(r"/toasts/(\d+)/", url).group(1))
    return {"url": url, "toast_id": toast_id, "sent": sent, "after": after}


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
    assert "Your 4-star rating is saved" in rating["after"].text

    toast = requests.get(f"{API}/api/toasts/{rating['toast_id']}/", timeout=10).json()
    assert toast["rating"]["count"] >= 1


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


@pytest.mark.parametrize("service", ["api", "frontend"])
def test_the_site_runs_as_a_user_not_root(stack, service):
    assert stack.exec(service, "id", "-u").strip() != "0"
    # Every process in the container: gunicorn's master and its workers.
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
    assert any("gunicorn" in line for line in processes), processes
    assert all(not line.startswith("0 ") for line in processes), processes


def test_one_trace_goes_from_the_frontend_through_the_api_to_postgresql(visits):
    def whole_trace() -> list[dict] | None:
        spans = zipkin(f"trace/{traceresponse(visits['toast']).trace_id}")
        services = {span.get("localEndpoint", {}).get("serviceName") for span in spans}
        sql = [s for s in spans if s.get("kind") == "CLIENT" and db_system(s) == "postgresql"]
        return spans if {"frontend", "api"} <= services and sql else None

    spans = eventually(whole_trace, "the toast page's trace, with the api's SQL, in Zipkin", 60, 1)
    sql = [span for span in spans if db_system(span) == "postgresql"]
    assert all(span["localEndpoint"]["serviceName"] == "api" for span in sql)


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
    new = [[span_paths(s) for s in t] for t in traces if t[0]["traceId"] not in before]
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
