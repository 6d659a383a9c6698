"""Fixtures shared by the whole suite; the helpers behind them are in tests/support,
the settings of in-process tests in tests/settings.py, test data in tests/factories.py.

In-process tests trace into memory: tracing is set up once for the session,
before any test client or live server loads Django's middleware. Tests that
need the site as users run it start real server processes (`runserver_site`,
`gunicorn_site`, `uvicorn_site`, `split`; `site_server` is runserver and
uvicorn in turn, WSGI and ASGI), each test on a database of its own; the end-to-end
tests start the real Zipkin server and Chromium.
"""

import dataclasses
import itertools
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from urllib.parse import urlsplit

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.support import broker as queue
from tests.support import servers, zipkin
from tests.support.collector import Running
from tests.support.collector import collector as otel_collector
from tests.support.http import Visitor
from toastsite.telemetry.setup import setup as setup_tracing

_memory = InMemorySpanExporter()


@pytest.fixture(scope="session", autouse=True)
def _trace_into_memory() -> None:
    setup_tracing(processor=SimpleSpanProcessor(_memory))


@pytest.fixture
def counting_cache(settings) -> None:
    """A cache of the test's own in this process (the live server's too), where the
    limits count ratings and failed logins; tests/settings.py counts nothing."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"test-{uuid.uuid4()}",
        }
    }


@pytest.fixture
def ratings_per_minute(settings, counting_cache) -> Callable[[int], None]:
    """Sets the API's limit on ratings in this process (the live server's too)."""

    def set_limit(limit: int) -> None:
        settings.RATINGS_PER_MINUTE = limit
        rates = {"DEFAULT_THROTTLE_RATES": {"ratings": f"{limit}/min"}}
        settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, **rates}

    return set_limit


@pytest.fixture
def scenarios(monkeypatch) -> Callable[..., None]:
    """Switches scenarios on in this process (the live server's too), e.g.
    `scenarios(failure_rate=1)`; they are off again after the test."""
    from apps.scenarios import config

    def switch(**knobs) -> None:
        monkeypatch.setattr(config, "current", dataclasses.replace(config.current, **knobs))

    return switch


@pytest.fixture
def toast():
    """A toast of the test's own, beside the seeded week (tests/factories.py)."""
    from tests import factories

    return factories.toast_make()


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


@pytest.fixture
def requests_received() -> Iterator[list[dict]]:
    """The WSGI environ of every request this process serves (the live server's too)."""
    from django.core.signals import request_started

    seen: list[dict] = []

    def record(sender, environ, **kwargs) -> None:
        seen.append(environ)

    request_started.connect(record)
    yield seen
    request_started.disconnect(record)


@pytest.fixture
def visitor() -> Iterator[Visitor]:
    """An HTTP client for real servers, sending no trace context of its own."""
    with Visitor() as session:
        yield session


@pytest.fixture
def visitor_at() -> Iterator[Callable[[str], Visitor]]:
    """A factory: a visitor connecting from an address of this machine, e.g. 127.0.0.2."""
    visitors: list[Visitor] = []

    def start(address: str) -> Visitor:
        visitors.append(Visitor(address))
        return visitors[-1]

    yield start
    for session in visitors:
        session.close()


@pytest.fixture(scope="session")
def migrated_database(tmp_path_factory) -> Iterator[str]:
    """A migrated database for server processes, apart from pytest's test database:
    on the PostgreSQL server of DATABASE_URL if it names one, else a SQLite file.
    Each test's servers get a copy of it (`server_database`)."""
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith("postgres"):
        name = f"{urlsplit(url).path.lstrip('/')}_servers"
        with servers.postgres_database(url, name) as server_url:
            servers.migrate(server_url)
            yield server_url
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'toastsite.sqlite3'}"
        servers.migrate(url)
        yield url


@pytest.fixture
def server_database(migrated_database, tmp_path) -> Iterator[str]:
    """This test's servers' database: a fresh copy of the migrated one."""
    with servers.database_copy(migrated_database, tmp_path) as url:
        yield url


@pytest.fixture(scope="session")
def db_system() -> str:
    """What OpenTelemetry calls the server processes' database system."""
    return "postgresql" if os.environ.get("DATABASE_URL", "").startswith("postgres") else "sqlite"


@pytest.fixture(scope="session")
def server_env() -> Iterator[dict[str, str]]:
    """The environment of the site's server processes: spans sent to a receiver
    of the tests' own unless a test says where. The default, localhost:9411, may
    be your own Zipkin, which tests must not fill."""
    receiver = zipkin.ZipkinReceiver()
    yield servers.site_env(OTEL_EXPORTER_ZIPKIN_ENDPOINT=receiver.endpoint)
    receiver.close()


@pytest.fixture
def runserver_site(
    server_env, server_database, tmp_path
) -> Iterator[Callable[..., servers.SiteServer]]:
    """A factory: starts `manage.py runserver` with extra environment variables,
    stops it after the test."""
    # OTEL_BSP_SCHEDULE_DELAY in ms: spans arrive quickly.
    env = {**server_env, "DATABASE_URL": server_database, "OTEL_BSP_SCHEDULE_DELAY": "100"}
    yield from servers.started(servers.SiteServer, env, tmp_path)


@pytest.fixture
def gunicorn_site(
    server_env, server_database, tmp_path
) -> Iterator[Callable[..., servers.GunicornSite]]:
    """A factory: the site under gunicorn, as in production, with extra environment."""
    env = {**server_env, "DATABASE_URL": server_database}
    yield from servers.started(servers.GunicornSite, env, tmp_path)


@pytest.fixture
def uvicorn_site(
    server_env, server_database, tmp_path
) -> Iterator[Callable[..., servers.UvicornSite]]:
    """A factory: the site's ASGI app under uvicorn, as `make asgi` serves it."""
    env = {**server_env, "DATABASE_URL": server_database, "OTEL_BSP_SCHEDULE_DELAY": "100"}
    yield from servers.started(servers.UvicornSite, env, tmp_path)


@pytest.fixture(params=["wsgi", "asgi"])
def site_server(request, runserver_site, uvicorn_site) -> Callable[..., servers.ServerProcess]:
    """A factory like `runserver_site`, once per server interface: WSGI
    (`manage.py runserver`) and ASGI (uvicorn). For what the interface does:
    spans, headers, log lines."""
    return runserver_site if request.param == "wsgi" else uvicorn_site


@pytest.fixture
def untraced_site(runserver_site) -> servers.SiteServer:
    """The site as a real server, exporting no spans."""
    return runserver_site(OTEL_TRACES_EXPORTER="none")


@pytest.fixture
def traced_site(site_server, zipkin_receiver) -> servers.ServerProcess:
    """The site as a real server, under each interface, sending its spans to the
    test's `zipkin_receiver`."""
    return site_server(OTEL_EXPORTER_ZIPKIN_ENDPOINT=zipkin_receiver.endpoint)


@pytest.fixture
def split(runserver_site) -> Callable[..., servers.Split]:
    """A factory: starts the api, then the frontend that calls it. `both` goes to
    both processes, `api_env` and `frontend_env` to one each."""

    def start(
        api_env: dict | None = None, frontend_env: dict | None = None, **both: str
    ) -> servers.Split:
        api = runserver_site(TOASTSITE_ROLE="api", **both, **(api_env or {}))
        frontend = runserver_site(
            TOASTSITE_ROLE="frontend", TOAST_API_URL=api.url, **both, **(frontend_env or {})
        )
        return servers.Split(frontend, api)

    return start


@pytest.fixture
def broker(tmp_path) -> Iterator[queue.RedisServer]:
    """A real Redis server of the test's own (Debian's redis-server), jobs on disk."""
    server = queue.RedisServer(tmp_path / "redis")
    yield server
    server.stop()


@pytest.fixture
def queue_env(server_env, server_database, broker) -> dict[str, str]:
    """The environment of the site's processes that use the test's broker."""
    return {
        **server_env,
        "DATABASE_URL": server_database,
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        "CELERY_BROKER_URL": broker.url,
    }


@pytest.fixture
def worker(queue_env, tmp_path) -> Iterator[Callable[..., queue.Worker]]:
    """A factory: starts a real `celery worker` on the test's broker and database,
    e.g. `worker("w1", pool="threads", **env)`; stops it after the test."""
    with ExitStack() as running:

        def start(name: str = "worker", pool: str = "prefork", concurrency: int = 1, **env):
            log = tmp_path / f"worker-{name}.log"
            started = queue.Worker({**queue_env, **env}, log, name, pool, concurrency)
            running.callback(started.stop)
            return started

        yield start


@pytest.fixture
def beat(queue_env, tmp_path) -> Iterator[Callable[..., queue.Beat]]:
    """A factory: starts a real `celery beat` on the test's broker; stops it after."""
    with ExitStack() as running:

        def start(**env: str) -> queue.Beat:
            started = queue.Beat({**queue_env, **env}, tmp_path / "beat.log")
            running.callback(started.stop)
            return started

        yield start


@pytest.fixture
def zipkin_receiver() -> Iterator[zipkin.ZipkinReceiver]:
    receiver = zipkin.ZipkinReceiver()
    yield receiver
    receiver.close()


@pytest.fixture(scope="session")
def zipkin_server(tmp_path_factory) -> Iterator[str]:
    """The URL of the real Zipkin server, one for the session (needs Java)."""
    with zipkin.zipkin_server(tmp_path_factory.mktemp("zipkin") / "zipkin.log") as url:
        yield url


@pytest.fixture
def to_zipkin(zipkin_server) -> dict[str, str]:
    """The environment that points a site server at the real Zipkin."""
    return {
        "OTEL_EXPORTER_ZIPKIN_ENDPOINT": f"{zipkin_server}/api/v2/spans",
        "ZIPKIN_UI_URL": f"{zipkin_server}/zipkin",
    }


@pytest.fixture
def collector(zipkin_server, tmp_path) -> Callable[..., Running]:
    """A factory: starts the OpenTelemetry Collector (built with Go) in front of
    the real Zipkin, with COLLECTOR_* settings; returns it (`.endpoint` is its
    OTLP endpoint)."""
    numbers = itertools.count()
    with ExitStack() as running:

        def start(**env: str) -> Running:
            log = tmp_path / f"collector-{next(numbers)}.log"
            return running.enter_context(otel_collector(zipkin_server, log, **env))

        yield start


@pytest.fixture(scope="session")
def chromium():
    """Debian's Chromium, driven by Playwright (its own browser download fails here)."""
    path = "/usr/bin/chromium"
    if not shutil.which(path):
        servers.skip_or_fail(f"Chromium is not installed at {path}")
    # No background networking: its calls to the outside would be refused here.
    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
    args += ["--disable-component-update", "--no-first-run"]
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=args)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium):
    """A fresh browser tab at desktop size."""
    context = chromium.new_context(viewport={"width": 1280, "height": 800})
    yield context.new_page()
    context.close()
