"""docs/your-project.md, tested as written: a new `django-admin startproject`
with the guide's code blocks applied (tests/support/guide.py reads them from the
markdown), served with the guide's commands under runserver, gunicorn and
uvicorn, its spans sent to a local Zipkin receiver. Each trap the guide lists
is made here on purpose, on a copy of the project, and its symptom seen.

Only the last test needs the real Zipkin (Java) and the Collector (Go); the
rest run anywhere the suite does."""

import importlib.util
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import entry_points
from pathlib import Path

import pytest
import requests

from tests.support import guide
from tests.support.collector import binary as collector_binary
from tests.support.http import traceresponse
from tests.support.polling import eventually
from tests.support.servers import ROOT, free_port, wait_for_port
from tests.support.zipkin import ZipkinReceiver, fetch_trace

SERVERS = {
    "runserver": "python manage.py runserver",
    "gunicorn": "gunicorn mysite.wsgi",
    "uvicorn": "uvicorn mysite.asgi:application",
}
TOAST = "/%F0%9F%8D%9E"  # a path outside Latin-1
STYLESHEET = "/static/admin/css/base.css"


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """The guide's project, made once for the module; tests change copies."""
    return guide.make_project(tmp_path_factory.mktemp("guide"))


@pytest.fixture
def receiver() -> Iterator[ZipkinReceiver]:
    receiver = ZipkinReceiver()
    yield receiver
    receiver.close()


@pytest.fixture
def serve(project, receiver, tmp_path) -> Iterator[Callable[..., guide.GuideServer]]:
    """A factory: serves a project (the guide's, or a copy) with one of the
    guide's commands, its spans to `receiver` within 100 ms; stops them all after."""
    started: list[guide.GuideServer] = []

    def start(
        server: str, *extra: str, at: Path | None = None, with_env: str | None = None, **env
    ) -> guide.GuideServer:
        guide_env, words = guide.command(SERVERS[server], with_env)
        env = {
            "OTEL_EXPORTER_ZIPKIN_ENDPOINT": receiver.endpoint,
            "OTEL_BSP_SCHEDULE_DELAY": "100",
            **guide_env,
            **env,
        }
        log = tmp_path / f"{server}-{len(started)}.log"
        started.append(guide.GuideServer(at or project, [*words, *extra], env, log))
        return started[-1]

    yield start
    for server in started:
        server.stop()


def page_trace(receiver: ZipkinReceiver, response: requests.Response) -> tuple[dict, list[dict]]:
    """The page's server span, and the spans under it."""
    spans = receiver.trace(response)
    (server,) = [s for s in spans if "parentId" not in s]
    return server, [s for s in spans if s.get("parentId") == server["id"]]


def flags(response: requests.Response) -> str:
    """The trace flags a response's `traceresponse` header ends in."""
    return traceresponse(response) and response.headers["traceresponse"].rsplit("-", 1)[1]


def logged(server: guide.GuideServer, pattern: str) -> re.Match:
    return eventually(
        lambda: re.search(pattern, server.log(), re.MULTILINE), f"{pattern!r} in the log"
    )


# --- The guide as written --------------------------------------------------


def test_the_guides_pins_are_toastsites():
    pins = dict(
        line.split("==")
        for line in (ROOT / "requirements.in").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    )
    installs = [line for line in guide.command_lines() if line.startswith("pip install")]
    assert len(installs) == 3
    for line in installs:
        for word in line.split()[2:]:
            name, version = word.split("==")
            assert pins[name] == version, word


@pytest.mark.parametrize("server", SERVERS)
def test_the_page_its_sql_and_its_log_line_in_one_trace(server, serve, receiver, visitor):
    site = serve(server)
    response = visitor.get(f"{site.url}/users/")
    assert response.status_code == 200
    assert response.text == "0 users\n"
    assert flags(response) == "03"  # recorded
    page, children = page_trace(receiver, response)
    assert page["name"] == "GET users/"
    assert page["kind"] == "SERVER"
    assert page["localEndpoint"]["serviceName"] == "mysite"
    assert page["tags"]["url.path"] == "/users/"  # today's names
    assert [s["name"] for s in children] == ["SELECT"]
    (sql,) = children
    assert sql["kind"] == "CLIENT"
    assert sql["tags"]["db.system.name"] == "sqlite"
    assert sql["tags"]["db.query.text"] == 'SELECT COUNT(*) AS "__count" FROM "auth_user"'
    trace_id, span_id = page["traceId"], page["id"]
    logged(site, rf"INFO mysite\.views \[trace_id={trace_id} span_id={span_id}\] 0 users$")

    # A path outside Latin-1 is a 404 like any other, traced.
    missing = visitor.get(f"{site.url}{TOAST}")
    assert missing.status_code == 404
    assert traceresponse(missing)
    # Static files make no span (excluded, or served before any middleware).
    stylesheet = visitor.get(f"{site.url}{STYLESHEET}")
    assert stylesheet.status_code == 200
    assert "traceresponse" not in stylesheet.headers


def test_lines_after_the_span_say_trace_id_0(serve, visitor):
    site = serve("runserver")
    visitor.get(f"{site.url}/users/")
    assert visitor.get(f"{site.url}/nowhere/").status_code == 404
    logged(site, r"WARNING django\.request \[trace_id=0 span_id=0\] Not Found: /nowhere/$")
    logged(site, r'INFO django\.server \[trace_id=0 span_id=0\] "GET /users/ HTTP/1\.1" 200')

    asgi = serve("uvicorn")
    visitor.get(f"{asgi.url}/users/")
    access = logged(asgi, r'^.*"GET /users/ HTTP/1\.1" 200.*$')[0]
    assert "trace_id" not in access


def test_an_internal_server_error_line_names_its_trace(project, tmp_path, serve, visitor):
    failing = guide.copy_project(project, tmp_path, {"mysite/urls.py": [_view("boom", _BOOM)]})
    site = serve("runserver", at=failing)
    response = visitor.get(f"{site.url}/boom/")
    assert response.status_code == 500
    trace_id = traceresponse(response).trace_id
    logged(
        site, rf"ERROR django\.request \[trace_id={trace_id} span_id=\w+\] Internal Server Error"
    )


@pytest.mark.parametrize("preload", [(), ("--preload",)], ids=["", "preload"])
def test_each_gunicorn_worker_has_its_own_instance_id(preload, serve, receiver, visitor):
    site = serve("gunicorn", *preload)

    def both_workers() -> dict[str, set[str]] | None:
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda _: visitor.get(f"{site.url}/users/"), range(8)))
        traces: dict[str, set[str]] = {}
        for pid, trace_id in re.findall(r" (\d+) INFO mysite\.views \[trace_id=(\w+)", site.log()):
            traces.setdefault(pid, set()).add(trace_id)
        return traces if len(traces) == 2 else None

    traces_by_worker = eventually(both_workers, "pages served by both workers")

    def instance_ids() -> list[set[str]] | None:
        by_trace = {s["traceId"]: s["tags"]["service.instance.id"] for s in receiver.spans}
        ids = [{by_trace.get(t) for t in traces} for traces in traces_by_worker.values()]
        return ids if all(None not in each for each in ids) else None

    first, second = eventually(instance_ids, "the spans of both workers")
    assert len(first) == len(second) == 1
    assert first != second


def test_the_exporters_and_their_defaults(project, monkeypatch):
    spec = importlib.util.spec_from_file_location(
        "guide_telemetry", project / "mysite/telemetry.py"
    )
    telemetry = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(telemetry)
    for name in ("OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_ZIPKIN_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    zipkin = telemetry.exporter()
    assert type(zipkin).__module__ == "opentelemetry.exporter.zipkin.json"
    assert zipkin.endpoint == "http://localhost:9411/api/v2/spans"
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "zipkin")
    assert type(telemetry.exporter()).__module__ == "opentelemetry.exporter.zipkin.json"
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")
    assert type(telemetry.exporter()).__name__ == "OTLPSpanExporter"
    # What OpenTelemetry's own configuration calls them.
    names = {e.name: e.value for e in entry_points(group="opentelemetry_traces_exporter")}
    assert names["zipkin_json"] == "opentelemetry.exporter.zipkin.json:ZipkinExporter"
    assert "zipkin" not in names


def test_with_zipkin_away_the_site_goes_on(serve, visitor):
    site = serve("runserver", OTEL_EXPORTER_ZIPKIN_ENDPOINT=f"http://127.0.0.1:{free_port()}/")
    for _ in range(3):
        response = visitor.get(f"{site.url}/users/")
        assert response.status_code == 200
        assert traceresponse(response)
    logged(
        site, r"ERROR opentelemetry\S* \[trace_id=0 span_id=0\] Exception while exporting Span\.$"
    )


# --- Excluded URLs -------------------------------------------------------------


def test_static_files_under_gunicorn_and_uvicorn_excluded_and_not(serve, receiver, visitor):
    site = serve("gunicorn", with_env="OTEL_PYTHON_DJANGO_EXCLUDED_URLS")  # the guide's line
    for path in (STYLESHEET, "/health/"):
        assert "traceresponse" not in visitor.get(f"{site.url}{path}").headers, path
    for server, excluded in (("gunicorn", "^/static/"), ("gunicorn", ""), ("uvicorn", "")):
        site = serve(server, OTEL_PYTHON_DJANGO_EXCLUDED_URLS=excluded)
        response = visitor.get(f"{site.url}{STYLESHEET}")
        assert response.status_code == 200
        (span,) = receiver.trace(response)
        assert span["name"] == "GET"
        assert span["tags"]["url.path"] == STYLESHEET


def test_trap_the_exclusion_set_in_os_environ_comes_too_late(project, tmp_path, serve, visitor):
    late = guide.copy_project(
        project,
        tmp_path,
        {
            "mysite/telemetry.py": [
                (
                    'excluded_urls=os.environ.get("OTEL_PYTHON_DJANGO_EXCLUDED_URLS", "/static/")',
                    "",
                ),
                (
                    "    provider = TracerProvider()",
                    '    os.environ.setdefault("OTEL_PYTHON_DJANGO_EXCLUDED_URLS", "/static/")\n'
                    "    provider = TracerProvider()",
                ),
            ]
        },
    )
    site = serve("gunicorn", at=late)
    assert traceresponse(visitor.get(f"{site.url}{STYLESHEET}"))


def test_static_files_make_no_span_under_runserver_anyway(serve, visitor):
    site = serve("runserver", OTEL_PYTHON_DJANGO_EXCLUDED_URLS="")
    assert traceresponse(visitor.get(f"{site.url}/users/"))
    response = visitor.get(f"{site.url}{STYLESHEET}")
    assert response.status_code == 200
    assert "traceresponse" not in response.headers


# --- Nothing secret --------------------------------------------------------


def test_no_password_cookie_or_sql_value_in_any_span(serve, receiver, visitor):
    site = serve("runserver")
    login = f"{site.url}/admin/login/"
    form = visitor.get(login)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)[1]
    secrets = {"username": "reader-name-1", "password": "reader-password-2"}
    response = visitor.post(
        login,
        data={"csrfmiddlewaretoken": token, **secrets},
        headers={"Authorization": "Bearer reader-token-3", "Referer": login},
        cookies={"sessionid": "reader-session-4"},
    )
    assert response.status_code == 200  # the form again: no such user
    page, children = page_trace(receiver, response)
    assert any('"auth_user"."username" = %s' in s["tags"]["db.query.text"] for s in children)
    everything = str(receiver.spans)
    for secret in [*secrets.values(), "reader-token-3", "reader-session-4", token]:
        assert secret not in everything

    # The query string is recorded.
    page, _ = page_trace(receiver, visitor.get(f"{site.url}/users/?token=in-the-url"))
    assert page["tags"]["url.query"] == "token=in-the-url"


# --- Sampling --------------------------------------------------------------


def test_one_trace_in_ten_and_the_callers_choice(serve, receiver, visitor):
    env, _ = guide.command("gunicorn mysite.wsgi", "OTEL_TRACES_SAMPLER")
    assert env == {
        "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": "0.1",
    }
    site = serve("gunicorn", with_env="OTEL_TRACES_SAMPLER")
    answers = [visitor.get(f"{site.url}/users/") for _ in range(200)]
    recorded = [traceresponse(a) for a in answers if flags(a) == "03"]
    assert {flags(a) for a in answers} == {"02", "03"}
    # An unrecorded request still logs its trace id; Zipkin never gets it (below).
    unrecorded = next(traceresponse(a) for a in answers if flags(a) == "02")
    logged(site, rf"\[trace_id={unrecorded.trace_id} span_id=\w+\] 0 users$")
    # One in ten: 0.1 ± 4 sigma, sigma = sqrt(0.1 * 0.9 / 200) = 0.021.
    assert 0.015 <= len(recorded) / 200 <= 0.185
    # The caller's choice wins, either way.
    caller = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-{}"
    kept = visitor.get(f"{site.url}/users/", headers={"traceparent": caller.format("01")})
    assert flags(kept) == "01"
    unkept = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"
    assert flags(visitor.get(f"{site.url}/users/", headers={"traceparent": unkept})) == "00"
    site.stop()  # every span sent
    arrived = {s["traceId"] for s in receiver.spans}
    assert arrived == {t.trace_id for t in recorded} | {"4bf92f3577b34da6a3ce929d0e0e4736"}
    assert len([s for s in receiver.spans if s["name"] == "SELECT"]) == len(arrived)


# --- The Collector and the real Zipkin -----------------------------------------


@pytest.mark.e2e
def test_the_real_zipkin_and_the_collector(serve, visitor, zipkin_server, tmp_path):
    site = serve("runserver", OTEL_EXPORTER_ZIPKIN_ENDPOINT=f"{zipkin_server}/api/v2/spans")
    response = visitor.get(f"{site.url}/users/")
    spans = fetch_trace(zipkin_server, traceresponse(response).trace_id, lambda s: len(s) == 2)
    assert sorted(s["name"] for s in spans) == ["get users/", "select"]  # as the UI lists them

    collector = collector_binary()  # built once, into the cache
    otlp = free_port()
    (config,) = [b for b in guide.blocks() if b.path == "collector.yaml"]
    text = config.text.replace("127.0.0.1:4318", f"127.0.0.1:{otlp}")
    text = text.replace("http://localhost:9411", zipkin_server)
    (tmp_path / "collector.yaml").write_text(text)
    process = subprocess.Popen(
        [
            collector,
            "--config",
            tmp_path / "collector.yaml",
            "--set",
            "service.telemetry.metrics.level=none",
        ],
        stdout=(tmp_path / "collector.log").open("w"),
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(otlp, timeout=30, process=process)
        endpoint = f"http://127.0.0.1:{otlp}"
        site = serve(
            "gunicorn",
            with_env="OTEL_TRACES_EXPORTER",
            OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
        )
        response = visitor.get(f"{site.url}/users/")
        trace_id = traceresponse(response).trace_id
        spans = fetch_trace(zipkin_server, trace_id, lambda s: len(s) == 2, timeout=30)
        assert sorted(s["name"] for s in spans) == ["get users/", "select"]
    finally:
        process.terminate()
        process.wait(timeout=30)


# --- The traps -------------------------------------------------------------


def test_trap_setup_in_manage_py_no_spans_from_gunicorn_nor_uvicorn(
    project, tmp_path, serve, visitor
):
    setup = "setup()  # before Django loads its middleware: instrumenting adds one\n"
    in_manage = guide.copy_project(
        project,
        tmp_path,
        {
            "mysite/wsgi.py": [(setup, "")],
            "mysite/asgi.py": [(setup, "")],
            "manage.py": [
                (
                    "    execute_from_command_line(sys.argv)",
                    "    from mysite.telemetry import setup\n\n"
                    "    setup()\n    execute_from_command_line(sys.argv)",
                )
            ],
        },
    )
    assert traceresponse(visitor.get(f"{serve('runserver', at=in_manage).url}/users/"))
    for server in ("gunicorn", "uvicorn"):
        response = visitor.get(f"{serve(server, at=in_manage).url}/users/")
        assert response.status_code == 200
        assert "traceresponse" not in response.headers, server


def test_trap_no_asgi_instrumentation_no_spans_under_uvicorn(serve, visitor, tmp_path):
    # As if opentelemetry-instrumentation-asgi were not installed: importing it fails.
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(
        "import sys\nsys.modules['opentelemetry.instrumentation.asgi'] = None\n"
    )
    site = serve("uvicorn", PYTHONPATH=str(shim))
    response = visitor.get(f"{site.url}/users/")
    assert response.status_code == 200
    assert "traceresponse" not in response.headers
    logged(site, r'"GET /users/ HTTP/1\.1" 200')
    assert "opentelemetry" not in site.log().lower()  # without a word
    assert traceresponse(visitor.get(f"{serve('uvicorn').url}/users/"))  # with it


def test_trap_sql_hook_on_the_default_connection_only(project, tmp_path, serve, receiver, visitor):
    hooked_once = guide.copy_project(
        project,
        tmp_path,
        {
            "mysite/telemetry.py": [
                (
                    "connection_created.connect(add_sql_hook)",
                    "from django.db import connections\n\n"
                    '    add_sql_hook(connection=connections["default"])',
                )
            ]
        },
    )
    for server, sql_spans in (("runserver", 0), ("uvicorn", 0), ("gunicorn", 1)):
        response = visitor.get(f"{serve(server, at=hooked_once).url}/users/")
        page, children = page_trace(receiver, response)
        assert page["name"] == "GET users/"
        assert len(children) == sql_spans, server


def test_trap_the_admin_login_page_runs_no_query(serve, receiver, visitor):
    site = serve("runserver")
    page, children = page_trace(receiver, visitor.get(f"{site.url}/admin/login/"))
    assert page["name"] == "GET admin/login/"
    assert children == []


@pytest.mark.parametrize(("client", "joined"), [("requests", True), ("urllib", False)])
def test_trap_an_uninstrumented_client_makes_separate_traces(
    client, joined, project, tmp_path, serve, receiver, visitor
):
    calling = guide.copy_project(project, tmp_path, {"mysite/urls.py": [_view("call", _CALL)]})
    site = serve("runserver", at=calling)
    response = visitor.get(
        f"{site.url}/call/", params={"client": client, "url": f"{site.url}/users/"}
    )
    assert response.text == "0 users\n"
    _, children = page_trace(receiver, response)
    if joined:  # and the call's span has the whole URL
        (call,) = children
        assert call["tags"]["url.full"] == f"{site.url}/users/"

    def called() -> dict | None:
        spans = [s for s in receiver.spans if s["name"] == "GET users/"]
        return spans[0] if spans else None

    users = eventually(called, "the called page's span")
    page_id = traceresponse(response).trace_id
    assert (users["traceId"] == page_id) is joined
    assert ("parentId" in users) is joined


def test_trap_no_url_path_under_runserver_without_the_wrapper(
    project, tmp_path, serve, receiver, visitor
):
    unwrapped = guide.copy_project(project, tmp_path, {"mysite/wsgi.py": [_UNWRAP]})
    for at, tags in ((project, {"url.path": "/users/", "url.query": "a=1"}), (unwrapped, {})):
        site = serve("runserver", at=at)
        page, _ = page_trace(receiver, visitor.get(f"{site.url}/users/?a=1"))
        assert {k: v for k, v in page["tags"].items() if k.startswith("url.")} == {
            "url.scheme": "http",
            **tags,
        }


@pytest.mark.parametrize("names", ["", "http/dup"])
def test_trap_a_500_outside_latin_1_without_the_wrapper_with_the_old_names(
    names, project, tmp_path, serve, visitor
):
    unwrapped = guide.copy_project(project, tmp_path, {"mysite/wsgi.py": [_UNWRAP]})
    site = serve("runserver", at=unwrapped, OTEL_SEMCONV_STABILITY_OPT_IN=names)
    assert visitor.get(f"{site.url}{TOAST}").status_code == 500
    logged(site, r"^UnicodeEncodeError: 'latin-1' codec can't encode")
    for server, at in (("runserver", project), ("gunicorn", unwrapped)):
        site = serve(server, at=at, OTEL_SEMCONV_STABILITY_OPT_IN=names)
        assert visitor.get(f"{site.url}{TOAST}").status_code == 404, server


def test_trap_the_filter_on_a_logger_breaks_formatting(project, tmp_path, serve, visitor):
    on_logger = guide.copy_project(
        project,
        tmp_path,
        {
            "mysite/settings.py": [
                ('            "filters": ["trace_ids"],\n', ""),
                (
                    '"root": {"handlers": ["console"], "level": "INFO"},',
                    '"root": {"handlers": ["console"], "level": "INFO", "filters": ["trace_ids"]},',
                ),
            ]
        },
    )
    site = serve("runserver", at=on_logger)
    assert visitor.get(f"{site.url}/users/").status_code == 200
    logged(site, r"^--- Logging error ---$")
    logged(site, r"^ValueError: Formatting field not found in record: 'trace_id'$")


def test_trap_django_lines_twice_without_its_logger(project, tmp_path, serve, visitor):
    entry = '"loggers": {"django": {"handlers": ["console"], "level": "INFO", "propagate": False}},'
    without = guide.copy_project(project, tmp_path, {"mysite/settings.py": [(entry, "")]})
    for site, times in ((serve("runserver"), 1), (serve("runserver", at=without), 2)):
        assert visitor.get(f"{site.url}/nowhere/").status_code == 404
        logged(site, r"Not Found: /nowhere/$")
        time.sleep(0.5)  # the second line, if there is one, follows at once
        assert len(re.findall(r"Not Found: /nowhere/$", site.log(), re.MULTILINE)) == times


_UNWRAP = (
    "application = with_request_uri(get_wsgi_application())",
    "application = get_wsgi_application()",
)

# Views of the tests' own, beside the guide's page: not part of the guide.
_BOOM = """
def boom(request):
    raise RuntimeError("boom")
"""
_CALL = """
def call(request):
    import urllib.request

    import requests
    from django.http import HttpResponse

    if request.GET["client"] == "urllib":
        body = urllib.request.urlopen(request.GET["url"], timeout=10).read()
    else:
        body = requests.get(request.GET["url"], timeout=10).content
    return HttpResponse(body)
"""


def _view(name: str, code: str) -> tuple[str, str]:
    """An edit of urls.py adding the view `name` at /name/."""
    last = 'urlpatterns += [path("users/", views.users)]\n'
    return last, f'{last}{code}\nurlpatterns += [path("{name}/", {name})]\n'


def test_the_guides_links_lead_to_toastsites_files():
    text = guide.GUIDE.read_text()
    links = re.findall(r"\]\(([^)#:]+)(?:#([\w-]+))?\)", text)
    assert {"../toastsite/telemetry/sql.py", "../toastsite/wsgi.py"} <= {path for path, _ in links}
    for path, anchor in links:
        target = guide.GUIDE.parent / path
        assert target.is_file(), path
        if anchor:
            headings = re.findall(r"^#+ (.+)$", target.read_text(), re.MULTILINE)
            slugs = {re.sub(r"[^\w -]", "", h).strip().lower().replace(" ", "-") for h in headings}
            assert anchor in slugs, f"{path}#{anchor}"
    for page in ("README.md", "docs/tutorial.md"):
        assert "your-project.md)" in (ROOT / page).read_text(), page
