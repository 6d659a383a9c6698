"""Zipkin for the tests: a local receiver that keeps what it is sent, the real
Zipkin server, and reading traces back from either."""

import json
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests

from tests.support.http import traceresponse
from tests.support.servers import ARTIFACTS, ROOT, free_port, skip_or_fail, wait_until_healthy

ZIPKIN_SCRIPT = ROOT / "scripts" / "zipkin.sh"
# The tutorial's screenshots, as the tests take them; `make screenshots` copies them to docs/img.
SHOTS = ARTIFACTS / "tutorial"


class ZipkinReceiver:
    """A local HTTP server that takes Zipkin JSON v2 posts, as Zipkin would.

    `mode` "ok" answers 202; "error" answers 500; "hang" accepts the
    connection and never answers.
    """

    def __init__(self, mode: str = "ok") -> None:
        self.mode = mode
        self.posts: list[list[dict]] = []
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self._server.server_port}/api/v2/spans"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if receiver.mode == "hang":
                    receiver._release.wait(30)
                    return
                with receiver._lock:
                    receiver.posts.append(json.loads(body))
                self.send_response(202 if receiver.mode == "ok" else 500)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        return Handler

    @property
    def spans(self) -> list[dict]:
        with self._lock:
            return [span for post in self.posts for span in post]

    def trace(self, response: requests.Response, timeout: float = 10) -> list[dict]:
        """The spans of the trace `response` belongs to, once its server span has
        arrived (and a moment more, for spans that ended just before it)."""
        trace_id, span_id, _ = traceresponse(response)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(s["id"] == span_id for s in self.spans):
                time.sleep(0.3)
                return [s for s in self.spans if s["traceId"] == trace_id]
            time.sleep(0.05)
        raise AssertionError(f"trace {trace_id} did not arrive; got {self.spans}")

    def close(self) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()


def zipkin_script() -> str:
    """scripts/zipkin.sh, once it has its jar; skips (fails in CI) without Java."""
    if shutil.which("java") is None:
        skip_or_fail("Java 17+ is not installed, so the Zipkin server cannot run")
    fetched = subprocess.run([ZIPKIN_SCRIPT, "fetch"], capture_output=True, text=True)
    if fetched.returncode != 0:
        skip_or_fail(f"could not fetch the Zipkin server: {fetched.stderr.strip()}")
    return str(ZIPKIN_SCRIPT)


@contextmanager
def zipkin_server(log: Path) -> Iterator[str]:
    """The official Zipkin server on a free port of 127.0.0.1, in-memory storage."""
    zipkin_script()
    port = free_port()
    with log.open("w") as out:
        process = subprocess.Popen(
            [ZIPKIN_SCRIPT, "run", str(port)], stdout=out, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(
            "Zipkin", f"{url}/health", process, log, is_up=lambda r: r.json().get("status") == "UP"
        )
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def fetch_trace(zipkin: str, trace_id: str, until=lambda spans: True, timeout=15) -> list[dict]:
    """Polls Zipkin's API until the trace's root span is there and `until(spans)`
    holds, then waits a moment for the last batches from every service."""
    deadline = time.monotonic() + timeout
    spans: list[dict] = []
    while time.monotonic() < deadline:
        response = requests.get(f"{zipkin}/api/v2/trace/{trace_id}", timeout=5)
        if response.status_code == 200:
            spans = response.json()
            if any("parentId" not in s for s in spans) and until(spans):
                time.sleep(0.5)  # servers send a batch every 100 ms here
                return requests.get(f"{zipkin}/api/v2/trace/{trace_id}", timeout=5).json()
        time.sleep(0.25)
    raise AssertionError(f"trace {trace_id} incomplete in Zipkin after {timeout}s: {spans}")


def dependencies(zipkin: str, since_ms: int) -> dict[tuple[str, str], int]:
    """Zipkin's dependency links of the traces since `since_ms` (epoch ms, when
    the test began): (parent, child) to call count."""
    now = int(time.time() * 1000)
    links = requests.get(
        f"{zipkin}/api/v2/dependencies",
        params={"endTs": now, "lookback": now - since_ms},
        timeout=5,
    ).json()
    return {(link["parent"], link["child"]): link.get("callCount", 0) for link in links}


def named(spans: list[dict], name: str, missing_ok: bool = False) -> dict | None:
    """The one span called `name` in a trace in Zipkin JSON (the Zipkin server
    stores names in lower case; the exporter sends them as they are); with
    `missing_ok`, None if there is none yet."""
    matches = [s for s in spans if s["name"].lower() == name.lower()]
    if missing_ok and not matches:
        return None
    assert len(matches) == 1, f"{name!r} in {[s['name'] for s in spans]}"
    return matches[0]


def services(spans: list[dict]) -> set[str]:
    return {s["localEndpoint"]["serviceName"] for s in spans}


def home_page_trace(spans: list[dict]) -> dict[str, dict]:
    """Asserts the home page's trace: page, API call, API view, business step."""
    page = named(spans, "GET home")
    call = named(spans, "GET /api/toasts/today/")
    api = named(spans, "GET api/toasts/today/")
    choose = named(spans, "choose toast of the day")
    assert "parentId" not in page
    assert (page["kind"], call["kind"], api["kind"]) == ("SERVER", "CLIENT", "SERVER")
    assert call["parentId"] == page["id"]
    assert api["parentId"] == call["id"]
    assert choose["parentId"] == api["id"]
    return {"page": page, "call": call, "api": api, "choose": choose}


# What a span carries beyond its resource's tags, by today's conventions:
# HTTP (stable since semantic conventions 1.23) and database (1.33); the same
# under every server, WSGI or ASGI.
SERVER_TAGS = {
    "http.request.method",
    "http.route",
    "http.response.status_code",
    "url.path",
    "url.scheme",
    "server.address",
    "server.port",
    "client.address",
    "client.port",
    "user_agent.original",
    "network.protocol.version",
}
CLIENT_TAGS = {
    "http.request.method",
    "http.response.status_code",
    "url.full",
    "url.template",
    "server.address",
    "server.port",
    "network.peer.address",
    "network.peer.port",
    "network.protocol.version",
    "user_agent.original",
    "peer.service",
}
SQL_TAGS = {
    "db.system.name",
    "db.namespace",
    "db.query.text",
    "db.query.summary",
    "db.operation.name",
    "db.collection.name",
    "peer.service",
}
DEPRECATED = {
    "http.method",
    "http.url",
    "http.status_code",
    "http.target",
    "http.scheme",
    "http.host",
    "http.user_agent",
    "http.flavor",
    "net.peer.name",
    "net.peer.port",
    "net.host.name",
    "net.host.port",
    "db.statement",
    "db.system",
    "db.name",
    "db.operation",
}


def own_tags(span: dict) -> set[str]:
    """A span's tags without those of its resource (the exporter adds them to each)."""
    resource = {"service.name", "service.version", "service.instance.id", "host.name"}
    return {
        tag
        for tag in span["tags"]
        if tag not in resource and not tag.startswith(("telemetry.sdk.", "deployment.", "otel."))
    }


def screenshot(
    page,
    zipkin: str,
    path: str,
    name: str,
    wait_for: str | None,
    click: str | None = None,
    scroll_to: str | None = None,
    click_exact: bool = True,
) -> None:
    """Opens the Zipkin UI at `zipkin` + /zipkin/ + `path` in the browser `page`,
    as a person would, waits for the text `wait_for`, clicks the span `click`
    (its whole label, or a part of it: `click_exact`) and scrolls to its tag
    `scroll_to`, then saves what it shows as SHOTS/`name`.png."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.goto(f"{zipkin}/zipkin/{path}")
    if not path.startswith("traces/"):  # search and dependencies wait for a click
        page.get_by_text("RUN QUERY").click()
    if wait_for:
        page.get_by_text(wait_for, exact=False).first.wait_for(timeout=15_000)
    else:  # a drawing, with no text to wait for: give it time to settle
        page.wait_for_timeout(3000)
    if click:  # a span, to show its details
        page.get_by_text(click, exact=click_exact).first.click()
    if scroll_to:  # a tag of that span, further down its details
        page.get_by_text(scroll_to, exact=True).first.scroll_into_view_if_needed()
    page.screenshot(path=SHOTS / f"{name}.png")
