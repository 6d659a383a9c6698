"""Fixtures shared by the whole suite.

In-process tests trace into memory: tracing is set up once for the session,
before any test client or live server loads Django's middleware. Tests that
need the site as users run it start real server processes (see `site_server`).
"""

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests
from opentelemetry.instrumentation.utils import suppress_http_instrumentation
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from toastsite import tracing

ROOT = Path(__file__).resolve().parent.parent
_memory = InMemorySpanExporter()


@pytest.fixture(scope="session", autouse=True)
def _trace_into_memory() -> None:
    tracing.setup(processor=SimpleSpanProcessor(_memory))


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings) -> None:
    # The live server's threads must not keep connections open past a test:
    # PostgreSQL would refuse to drop the test database at the end.
    from django.conf import settings

    settings.DATABASES["default"]["CONN_MAX_AGE"] = 0


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    # The rating limit counts in the cache; each test starts with none sent.
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def spans() -> Callable[[], list[ReadableSpan]]:
    """Returns a function that lists the spans finished since the test began."""
    _memory.clear()
    return _memory.get_finished_spans


@pytest.fixture
def api_via_live_server(live_server, settings) -> Iterator[str]:
    """Pages call the API over real HTTP, on pytest-django's live server."""
    from apps.pages import client

    settings.TOAST_API_URL = live_server.url
    yield live_server.url
    # End the pages' kept-alive connections while the live server still runs:
    # its threads serving them would outlive it and fail when they end.
    client._session.close()


class Browser(requests.Session):
    """An HTTP client that, like a browser, sends no trace context of its own.

    The test process itself is instrumented (see above); this keeps its calls
    to real servers out of the traces under test.
    """

    def request(self, *args, **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", 30)
        with suppress_http_instrumentation():
            return super().request(*args, **kwargs)


@pytest.fixture
def browser() -> Iterator[Browser]:
    with Browser() as session:
        yield session


def named(spans: list[dict], name: str) -> dict:
    """The one span called `name` in a trace in Zipkin JSON (the Zipkin server
    stores names in lower case; the exporter sends them as they are)."""
    matches = [s for s in spans if s["name"].lower() == name.lower()]
    assert len(matches) == 1, f"{name!r} in {[s['name'] for s in spans]}"
    return matches[0]


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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def migrated_database(tmp_path_factory) -> Iterator[str]:
    """A migrated database for server processes, apart from pytest's test database.

    With DATABASE_URL on PostgreSQL, a database of its own on that server;
    otherwise a SQLite file.
    """
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith("postgres"):
        yield from _postgres_database(url)
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'toastsite.sqlite3'}"
        _migrate(url)
        yield url


def _postgres_database(url: str) -> Iterator[str]:
    import psycopg

    parts = urlsplit(url)
    name = f"{parts.path.lstrip('/')}_servers"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')
    server_url = urlunsplit(parts._replace(path=f"/{name}"))
    _migrate(server_url)
    yield server_url
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _migrate(url: str) -> None:
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": url},
        check=True,
    )


@pytest.fixture
def database_outage(migrated_database) -> Callable[[], contextlib.AbstractContextManager]:
    """Takes the server processes' database away for a `with` block, for real:
    PostgreSQL refuses connections to it; a SQLite file is moved aside."""

    @contextlib.contextmanager
    def outage() -> Iterator[None]:
        if migrated_database.startswith("postgres"):
            yield from _postgres_outage(migrated_database)
        else:
            yield from _sqlite_outage(Path(urlsplit(migrated_database).path))

    return outage


def _postgres_outage(url: str) -> Iterator[None]:
    import psycopg

    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [name]
        )
        try:
            yield
        finally:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')


def _sqlite_outage(path: Path) -> Iterator[None]:
    aside = path.with_suffix(".away")
    path.rename(aside)
    path.mkdir()  # a directory where the file was: SQLite cannot open it
    try:
        yield
    finally:
        path.rmdir()
        aside.rename(path)


@pytest.fixture(scope="session")
def db_system(migrated_database) -> str:
    """What OpenTelemetry calls the server processes' database, in db.system."""
    return "postgresql" if migrated_database.startswith("postgres") else "sqlite"


class SiteServer:
    """`manage.py runserver` in a process of its own, as a user starts it."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self._log = log_path.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{self.port}"],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self._wait_until_up()

    def _wait_until_up(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"runserver exited:\n{self.log()}")
            # A TCP connection, not a request: a request would leave a trace.
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"runserver did not answer within {timeout}s:\n{self.log()}")

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text()

    def stop(self) -> None:
        # SIGINT, like Ctrl-C: Python runs its exit hooks, so pending spans are flushed.
        if self.process.poll() is None:
            self.process.send_signal(2)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if not self._log.closed:
            self._log.close()


@pytest.fixture
def site_server(migrated_database, tmp_path) -> Iterator[Callable[..., SiteServer]]:
    """Starts the site with extra environment variables; stops it after the test."""
    servers: list[SiteServer] = []

    def start(**env: str) -> SiteServer:
        full_env = {
            **os.environ,
            "DATABASE_URL": migrated_database,
            "OTEL_BSP_SCHEDULE_DELAY": "100",  # ms: spans reach the receiver quickly
            **env,
        }
        server = SiteServer(full_env, tmp_path / f"server-{len(servers)}.log")
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


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
        _, trace_id, span_id, _ = response.headers["traceresponse"].split("-")
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


@pytest.fixture
def zipkin_receiver() -> Iterator[ZipkinReceiver]:
    receiver = ZipkinReceiver()
    yield receiver
    receiver.close()
