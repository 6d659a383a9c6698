"""Each step of the tutorial in docs/tutorial.md, run against the real Zipkin
server, asserting what the text says the trace shows. The screenshots in the
tutorial are taken here (`make screenshots` copies them into docs/img/)."""

import re
import subprocess
import sys
import time
from collections import Counter

import pytest
import requests

from apps.pages.traffic import post_rating
from tests.support.collector import wait_until_decided
from tests.support.http import traceresponse
from tests.support.polling import eventually
from tests.support.servers import ROOT
from tests.support.zipkin import (
    CLIENT_TAGS,
    SERVER_TAGS,
    SHOTS,
    dependencies,
    fetch_trace,
    named,
    own_tags,
    screenshot,
    services,
    zipkin_server,
)

pytestmark = pytest.mark.e2e


@pytest.fixture
def zipkin(zipkin_server):
    """The real Zipkin, and the time this step began: its searches look no further back."""
    return Zipkin(zipkin_server)


class Zipkin:
    def __init__(self, url: str) -> None:
        self.url = url
        self.since_ms = int(time.time() * 1000) - 1

    def trace(self, response: requests.Response, spans_at_least: int = 1) -> list[dict]:
        trace_id = traceresponse(response).trace_id
        return fetch_trace(self.url, trace_id, until=lambda spans: len(spans) >= spans_at_least)

    def traces(self, **query) -> list[list[dict]]:
        """Traces since the step began, as the search page finds them."""
        now = int(time.time() * 1000)
        query |= {"endTs": now, "lookback": now - self.since_ms, "limit": 1000}
        return requests.get(f"{self.url}/api/v2/traces", params=query, timeout=5).json()

    def screenshot(self, page, path: str, name: str, *args, **kwargs) -> None:
        """The Zipkin UI at `path`, saved as `name` (tests/support/zipkin.py)."""
        screenshot(page, self.url, path, name, *args, **kwargs)


def test_step_1_no_tracing_nothing_reaches_zipkin(visitor, runserver_site, to_zipkin, zipkin, page):
    site = runserver_site(OTEL_SDK_DISABLED="true", **to_zipkin)
    response = visitor.get(f"{site.url}/")
    assert response.status_code == 200
    assert "traceresponse" not in response.headers
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.goto(f"{site.url}/")
    page.screenshot(path=SHOTS / "step1-not-traced.png")
    site.stop()  # whatever it had to send, it would have sent now
    assert zipkin.traces(serviceName="toastsite") == []


def test_step_2_only_the_frontend_traced(visitor, split, to_zipkin, zipkin, page):
    frontend, api = split(api_env={"OTEL_SDK_DISABLED": "true"}, **to_zipkin)
    spans = zipkin.trace(visitor.get(f"{frontend.url}/"), spans_at_least=3)
    assert services(spans) == {"frontend"}
    assert {s["name"] for s in spans} == {"get home", "get /api/toasts/today/", "get /api/toasts/"}
    page_span, call = named(spans, "GET home"), named(spans, "GET /api/toasts/today/")
    # The tags the step lists, by today's names (the home page's URL has no route).
    assert own_tags(page_span) == SERVER_TAGS - {"http.route"}
    assert own_tags(call) == CLIENT_TAGS
    assert page_span["tags"]["http.request.method"] == "GET"
    assert page_span["tags"]["url.path"] == "/"
    assert page_span["tags"]["http.response.status_code"] == "200"
    assert call["tags"]["url.full"] == f"{api.url}/api/toasts/today/"
    assert call["tags"]["url.template"] == "/api/toasts/today/"
    assert call["remoteEndpoint"]["serviceName"] == "api"  # what Zipkin labels it with
    assert call["tags"]["http.response.status_code"] == "200"
    api.stop()
    assert zipkin.traces(serviceName="api") == []
    # Zipkin labels the call with the service it calls.
    zipkin.screenshot(
        page, f"traces/{spans[0]['traceId']}", "step2-frontend-only", "api: get /api/toasts/today/"
    )


def test_step_3_no_propagation_disjoint_traces(visitor, split, to_zipkin, zipkin, page):
    frontend, _ = split(OTEL_PROPAGATORS="none", **to_zipkin)
    response = visitor.get(f"{frontend.url}/")
    assert response.status_code == 200
    spans = zipkin.trace(response, spans_at_least=3)
    assert services(spans) == {"frontend"}
    api_traces = eventually(
        lambda: len(found := zipkin.traces(serviceName="api")) >= 2 and found, "the API's traces"
    )
    assert len(api_traces) == 2  # one per API call, each a root of its own
    for api_trace in api_traces:
        root = next(s for s in api_trace if "parentId" not in s)
        assert root["name"] in {"get api/toasts/today/", "get api/toasts/"}
        assert root["traceId"] != spans[0]["traceId"]
    zipkin.screenshot(page, "?serviceName=api", "step3-disjoint", "api: get api/toasts/")


def test_step_4_propagation_joins_the_services_in_one_trace(
    visitor, split, to_zipkin, zipkin, page
):
    frontend, _ = split(**to_zipkin)
    response = visitor.get(f"{frontend.url}/")
    assert response.headers["traceresponse"].endswith("-03")  # sampled, random trace id
    spans = zipkin.trace(response, spans_at_least=10)
    assert services(spans) == {"frontend", "api"}
    call, api = named(spans, "GET /api/toasts/today/"), named(spans, "GET api/toasts/today/")
    assert api["parentId"] == call["id"]
    assert api["traceId"] == call["traceId"]
    # Zipkin labels the call with its own service now, and the API's span under it.
    zipkin.screenshot(
        page, f"traces/{spans[0]['traceId']}", "step4-joined", "frontend: get /api/toasts/today/"
    )
    page.get_by_text("api: get api/toasts/today/", exact=True).wait_for()


def test_step_5_failures_found_by_tag_and_read_in_the_trace(
    visitor, split, to_zipkin, zipkin, page
):
    frontend, _ = split(api_env={"SCENARIO_FAILURE_RATE": "0.25"}, **to_zipkin)
    first = visitor.get(f"{frontend.url}/")
    assert "Scenarios on: the API fails 25% of calls." in first.text  # the API's, in the banner
    summary = subprocess.run(  # the step's own command
        [sys.executable, "manage.py", "traffic", "--url", frontend.url, "--path", "/", "-n", "200"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    failed_views = int(re.search(r"503 x(\d+)", summary)[1])
    # "About four page views in ten": 1 - 0.75² = 0.44, and 0.30 to 0.58 is ±4 sigma.
    assert 0.30 <= failed_views / 200 <= 0.58, summary
    assert re.search(r"200 requests \(0 of them ratings\)", summary)
    failed_views += first.status_code == 503

    failed = zipkin.traces(serviceName="api", annotationQuery="error")
    assert len(failed) == failed_views  # each failed page view: one trace to find
    (api_span, *_) = [
        s for s in failed[0] if s["localEndpoint"]["serviceName"] == "api" and "error" in s["tags"]
    ]
    assert api_span["kind"] == "SERVER"
    assert "scenario failure" in str(api_span["annotations"])  # the recorded exception

    ok = zipkin.traces(serviceName="api", spanName="choose toast of the day")
    choose = named(ok[0], "choose toast of the day")
    assert choose["tags"]["toast.name"]
    assert "Hawaii Monday" in choose["annotations"][0]["value"]

    zipkin.screenshot(
        page, "?serviceName=api&annotationQuery=error", "step5-search", "frontend: get home"
    )
    zipkin.screenshot(
        page,
        f"traces/{api_span['traceId']}",
        "step5-failed",
        wait_for=api_span["name"],
        click=f"api: {api_span['name']}",
    )


def test_step_6_n_plus_one_is_a_ladder_of_selects_and_its_fix(
    visitor, runserver_site, to_zipkin, zipkin, page
):
    def selects_of_week_page(**env) -> tuple[Counter, str]:
        site = runserver_site(**to_zipkin, **env)
        spans = zipkin.trace(visitor.get(f"{site.url}/toasts/"), spans_at_least=4)
        api = named(spans, "GET api/toasts/")
        sql = [s for s in spans if s.get("parentId") == api["id"]]
        assert all("toasts_" in s["tags"]["db.query.text"] for s in sql)
        return Counter(s["name"] for s in sql), spans[0]["traceId"]

    ladder, ladder_trace = selects_of_week_page(SCENARIO_N_PLUS_ONE="1")
    fixed, fixed_trace = selects_of_week_page()
    # The count and the toasts, then each toast's ingredients and rating summary.
    assert ladder == {
        "select toasts_toast": 2,
        "select toasts_ingredient toasts_toast_ingredients": 7,
        "select toasts_ratingsummary": 7,
    }
    # The count, the toasts joined with their rating summary, and all ingredients at once.
    assert fixed == {
        "select toasts_toast": 1,
        "select toasts_toast toasts_ratingsummary": 1,
        "select toasts_ingredient toasts_toast_ingredients": 1,
    }
    zipkin.screenshot(page, f"traces/{ladder_trace}", "step6-n-plus-one", "get toasts/")
    zipkin.screenshot(page, f"traces/{fixed_trace}", "step6-fixed", "get toasts/")


@pytest.fixture
def zipkin_of_its_own(tmp_path):
    """A Zipkin server for one step alone: a graph of its traces only, as a
    reader's Zipkin shows it after that step."""
    with zipkin_server(tmp_path / "zipkin.log") as url:
        yield (
            Zipkin(url),
            {
                "OTEL_EXPORTER_ZIPKIN_ENDPOINT": f"{url}/api/v2/spans",
                "ZIPKIN_UI_URL": f"{url}/zipkin",
            },
        )


def test_step_7_monolith_and_services_same_page_two_shapes(
    visitor, runserver_site, split, zipkin_of_its_own, page, db_system
):
    # Zipkin's graph counts every trace it holds: this step's, alone.
    zipkin, to_zipkin = zipkin_of_its_own
    monolith = runserver_site(**to_zipkin)
    one = zipkin.trace(visitor.get(f"{monolith.url}/"), spans_at_least=10)
    frontend, _ = split(**to_zipkin)
    two = zipkin.trace(visitor.get(f"{frontend.url}/"), spans_at_least=10)
    assert services(one) == {"toastsite"}
    assert services(two) == {"frontend", "api"}
    assert {s["name"] for s in one} == {s["name"] for s in two}  # the same spans, split

    # The split: the frontend calls the api, which calls its database. The
    # monolith calls itself, over HTTP, and its database.
    expected = {("frontend", "api"), ("api", db_system), ("toastsite", "toastsite")}
    expected.add(("toastsite", db_system))
    eventually(
        lambda: set(dependencies(zipkin.url, zipkin.since_ms)) == expected,
        f"this step's links, {expected}, in Zipkin",
    )
    zipkin.screenshot(page, f"traces/{one[0]['traceId']}", "step7-monolith", "get home")
    zipkin.screenshot(page, f"traces/{two[0]['traceId']}", "step7-split", "get home")
    zipkin.screenshot(page, "dependency", "step7-dependencies", wait_for=None)
    # The graph shows no numbers; a click on a service shows its links' calls.
    # It is drawn on a canvas: the api's circle is where Zipkin 3.6.1 lays out
    # these four services in a 1280 x 800 window.
    page.mouse.click(640, 362)
    panel = page.get_by_text("This service uses 1 service")
    panel.wait_for(timeout=5000)
    text = page.inner_text("body")
    assert re.search(rf"^{db_system}\t5\t0$", text, re.M), text  # a home page's 5 statements
    assert re.search(r"^frontend\t2\t0$", text, re.M), text  # its 2 calls
    page.screenshot(path=SHOTS / "step7-dependencies-api.png")


def test_step_8_parent_based_sampling_keeps_traces_whole(visitor, split, to_zipkin, zipkin):
    sampler = {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.1"}
    frontend, _ = split(**sampler, **to_zipkin)
    traffic = [sys.executable, "manage.py", "traffic", "--url", frontend.url]
    summary = subprocess.run(  # the step's own command
        [*traffic, "--path", "/toasts/", "-n", "100"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "200 x100" in summary

    told = [traceresponse(visitor.get(f"{frontend.url}/toasts/")) for _ in range(100)]
    sampled = {trace.trace_id for trace in told if trace.sampled}
    # "About one in ten": 10 expected, with a standard deviation of 3.
    assert 0 < len(sampled) <= 25
    assert len({trace.trace_id for trace in told}) == 100

    # Whole or absent: the API kept exactly the traces the frontend kept.
    def kept(service: str) -> set[str]:
        ours = {trace.trace_id for trace in told}
        return {t[0]["traceId"] for t in zipkin.traces(serviceName=service)} & ours

    eventually(lambda: kept("frontend") == kept("api") == sampled, "the sampled traces, whole")

    # One request traced all the same, with a sampled traceparent, as the step shows.
    forced = subprocess.run(
        [
            *("curl", "-s", "-o", "/dev/null", "-D", "-", "-H"),
            "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            f"{frontend.url}/toasts/",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    (header,) = [line.strip() for line in forced.splitlines() if line.startswith("traceresponse")]
    assert re.fullmatch(
        r"traceresponse: 00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01", header
    )

    def forced_trace() -> list[dict]:
        url = f"{zipkin.url}/api/v2/trace/4bf92f3577b34da6a3ce929d0e0e4736"
        spans = requests.get(url, timeout=5).json()
        return spans if services(spans) == {"frontend", "api"} else []

    eventually(forced_trace, "the forced trace, with both services, in Zipkin")


def test_step_9_after_the_zipkin_exporter_tail_sampling_keeps_every_failure(
    visitor, split, to_zipkin, zipkin, collector, page, db_system
):
    def failed_page_views(frontend) -> int:
        summary = subprocess.run(  # the step's own command
            [sys.executable, "manage.py", "traffic", "--url", frontend.url, "--path", "/"]
            + ["-n", "200"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return int(re.search(r"503 x(\d+)", summary)[1])

    def in_zipkin(**query) -> int:
        return len(zipkin.traces(serviceName="frontend", **query))

    failures = {"SCENARIO_FAILURE_RATE": "0.25"}
    # Head sampling: the frontend keeps one trace in ten, before anyone knows
    # how the page view will end.
    head = {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.1"}
    frontend, _ = split(api_env=failures, **head, **to_zipkin)
    head_failed = failed_page_views(frontend)
    head_kept_failed = in_zipkin(annotationQuery="error")
    print(f"head sampling: {head_kept_failed} of {head_failed} failed page views in Zipkin")
    assert 0 < head_kept_failed <= 0.25 * head_failed  # about one in ten

    # Tail sampling: the site keeps everything and sends it over OTLP; the
    # Collector, as configured in collector/config.yaml, decides per trace.
    # This run is counted in a window of its own, as the step's curl does.
    zipkin.since_ms = int(time.time() * 1000)
    sampler = collector()
    otlp = {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_ENDPOINT": sampler.endpoint}
    # The batch delay of production, 5 s: the trap, if the Collector decided too early.
    frontend, _ = split(api_env=failures, OTEL_BSP_SCHEDULE_DELAY="5000", **otlp)
    tail_failed = failed_page_views(frontend)
    # Its last batch comes within 5 s, and the Collector held every trace since
    # for its 10 s decision_wait: it holds none once all are decided.
    wait_until_decided([sampler], timeout=60)
    tail_kept = in_zipkin()
    tail_kept_failed = in_zipkin(annotationQuery="error")
    others, kept_others = 200 - tail_failed, tail_kept - tail_kept_failed
    print(
        f"tail sampling: {tail_kept_failed} of {tail_failed} failed page views, "
        f"and {kept_others} of {others} others, in Zipkin"
    )
    assert tail_kept_failed == tail_failed  # every one
    assert 0.02 <= kept_others / others <= 0.22  # 10%, within about 4 sigma

    # What the Collector's translation to Zipkin changes (the step lists it).
    failed = zipkin.traces(serviceName="api", annotationQuery="error")
    (api_span, *_) = [
        s for s in failed[0] if s["localEndpoint"]["serviceName"] == "api" and "error" in s["tags"]
    ]
    assert api_span["tags"]["error"] == "true"
    assert api_span["tags"]["otel.status_code"] == "STATUS_CODE_ERROR"
    assert "scenario failure" in api_span["tags"]["otel.status_description"]
    kept = zipkin.traces(serviceName="api", spanName="choose toast of the day")[0]
    choose = named(kept, "choose toast of the day")
    assert choose["annotations"][0]["value"].startswith('Toasts|{"toasts":["Hawaii Monday"')
    assert choose["annotations"][0]["value"].endswith("|0")
    page_span = named(kept, "GET home")
    call = named(kept, "GET /api/toasts/today/")
    query = next(s for s in kept if "db.query.text" in s["tags"])
    for span in kept:
        tags = span["tags"]
        assert "otel.library.name" in tags
        assert not {"otel.scope.name", "otel.scope.version", "service.name"} & set(tags)
        assert "debug" not in span
        assert "ipv4" not in span["localEndpoint"]
        assert ("span.kind" in tags) == ("kind" not in span)  # INTERNAL spans only
    assert choose["tags"]["span.kind"] == "internal"
    assert page_span["tags"]["otel.library.version"]
    assert page_span["tags"]["http.status_code"] == page_span["tags"]["http.response.status_code"]
    assert "remoteEndpoint" not in page_span  # the visitor's address and port
    assert call["remoteEndpoint"] == {"serviceName": "api", "ipv4": "127.0.0.1"}
    assert not {"peer.service", "network.peer.address"} & set(call["tags"])
    assert "network.peer.port" in call["tags"]
    assert query["remoteEndpoint"]["serviceName"] == db_system
    assert "peer.service" not in query["tags"]
    zipkin.screenshot(
        page,
        f"traces/{api_span['traceId']}",
        "step9-collector",
        wait_for=api_span["name"],
        click=f"api: {api_span['name']}",
    )


def test_step_10_work_on_a_queue(
    visitor, split, runserver_site, worker, broker, to_zipkin, zipkin, page, db_system
):
    job = "toasts.rating_summary_refresh"
    queue = {"CELERY_BROKER_URL": broker.url}

    def rated(site, pk: int, stars: int) -> requests.Response:
        response = post_rating(visitor, f"{site.url}/toasts/{pk}/", stars=stars)
        assert response.status_code == 302
        return response

    def runs(spans: list[dict]) -> list[dict]:
        return [s for s in spans if s["name"] == f"run/{job}"]

    # One trace, from the click to the worker's SQL.
    frontend, api = split(api_env=queue, **to_zipkin)
    first = worker("worker", **to_zipkin)
    rated(frontend, 1, 4)  # the api's first publish opens its connection to Redis
    count = lambda: visitor.get(f"{api.url}/api/toasts/1/").json()["rating"]["count"]  # noqa: E731
    eventually(lambda: count() == 1, "the first rating counted")  # its summary row is there
    response = rated(frontend, 1, 5)
    spans = fetch_trace(zipkin.url, traceresponse(response).trace_id, until=runs)
    assert services(spans) == {"frontend", "api", "worker"}
    publish, (run,) = named(spans, f"apply_async/{job}"), runs(spans)
    assert run["parentId"] == publish["id"]
    worker_sql = [s for s in spans if s.get("parentId") == run["id"]]
    print(f"step 10: {len(spans)} spans, {len(worker_sql)} of them the worker's SQL")
    assert {s["localEndpoint"]["serviceName"] for s in worker_sql} == {"worker"}
    if db_system == "sqlite":  # the numbers the step gives, for a toast rated before
        assert (len(spans), len(worker_sql)) == (22, 8)
    zipkin.screenshot(page, f"traces/{spans[0]['traceId']}", "step10-queue", f"run/{job}")
    first.stop()

    # The other shape: a trace of its own, linked to the publish.
    linked = worker("linked", QUEUE_SPAN_LINKS="1", **to_zipkin)
    response = rated(frontend, 2, 4)
    page_trace = traceresponse(response).trace_id
    found = eventually(
        lambda: zipkin.traces(annotationQuery=f"link.trace_id={page_trace}"), "the linked trace"
    )
    (worker_trace,) = found
    run = next(s for s in worker_trace if "parentId" not in s)
    assert run["name"] == f"run/{job}"
    assert run["traceId"] != page_trace
    page_spans = fetch_trace(zipkin.url, page_trace)
    publish = named(page_spans, f"apply_async/{job}")
    assert run["tags"]["link.span_id"] == publish["id"]
    assert not runs(page_spans)  # the page's trace ends at the publish
    zipkin.screenshot(
        page,
        f"traces/{run['traceId']}",
        "step10-link",
        f"run/{job}",
        click=f"worker: run/{job}",
        scroll_to="link.trace_id",
    )
    linked.stop()

    links = dependencies(zipkin.url, zipkin.since_ms)
    assert {
        ("frontend", "api"),
        ("api", "redis"),
        ("redis", "worker"),
        ("worker", db_system),
    } <= set(links)
    zipkin.screenshot(page, "dependency", "step10-dependencies", wait_for=None)

    # Two workers, one killed in the middle of a slow job: the other does it.
    slow = runserver_site(SCENARIO_WORKER_LATENCY_MS="2000", **queue, **to_zipkin)
    redelivery = {"QUEUE_VISIBILITY_TIMEOUT": "5", **to_zipkin}
    pair = [worker("one", **redelivery), worker("two", **redelivery)]
    response = rated(slow, 3, 3)
    (killed,) = eventually(
        lambda: [w for w in pair if f"{job}[" in w.log() and " received" in w.log()],
        "a worker to receive the job",
    )
    killed.kill()
    at = time.monotonic()
    (other,) = [w for w in pair if w is not killed]
    spans = fetch_trace(zipkin.url, traceresponse(response).trace_id, until=runs, timeout=30)
    print(f"step 10: the job done by {other.name} {time.monotonic() - at:.1f} s after the kill")
    (run,) = runs(spans)
    assert (run["tags"]["celery.worker"], run["tags"]["celery.redelivered"]) == (other.name, "true")
    zipkin.screenshot(
        page,
        f"traces/{run['traceId']}",
        "step10-redelivered",
        f"run/{job}",
        click=f"worker: run/{job}",
        scroll_to="celery.worker",
    )
    for each in pair:
        each.stop()

    # A worker that fails every job: each attempt, and its error, in the trace.
    failing = runserver_site(SCENARIO_WORKER_FAILURE_RATE="1", **queue, **to_zipkin)
    worker("worker", **to_zipkin)
    response = rated(failing, 4, 2)
    spans = fetch_trace(
        zipkin.url,
        traceresponse(response).trace_id,
        until=lambda spans: len(runs(spans)) == 4,
        timeout=30,
    )
    assert all("error" in s["tags"] for s in runs(spans))
    zipkin.screenshot(page, f"traces/{spans[0]['traceId']}", "step10-retries", f"run/{job}")


def test_step_12_two_calls_at_once_lose_the_trace_without_their_context_and_keep_it_with(
    visitor, split, to_zipkin, zipkin, page
):
    slow = {"SCENARIO_LATENCY_MS": "200"}  # each call 200 ms: side by side, or not
    # The trap: the calls run on a thread pool that is given no context.
    frontend, _ = split(api_env=slow, frontend_env={"SCENARIO_LOST_CONTEXT": "1"}, **to_zipkin)
    response = visitor.get(f"{frontend.url}/")
    banner = "the API takes 200 ms longer; the home page calls the API without its trace context"
    assert f'<p class="banner">Scenarios on: {banner}.</p>' in response.text
    alone = zipkin.trace(response)
    assert [s["name"] for s in alone] == ["get home"]
    roots = eventually(
        lambda: len(found := zipkin.traces(serviceName="frontend")) == 3 and found,
        "the page's trace and one trace per call",
    )
    by_root = {next(s for s in t if "parentId" not in s)["name"]: t for t in roots}
    assert set(by_root) == {"get home", "get /api/toasts/today/", "get /api/toasts/"}
    for name in ("get /api/toasts/today/", "get /api/toasts/"):
        assert named(by_root[name], name)["kind"] == "CLIENT"  # a trace begun by the call
        assert services(by_root[name]) == {"frontend", "api"}
    zipkin.screenshot(
        page, "?serviceName=frontend&lookback=15m&limit=3", "step12-lost", "get /api/toasts/"
    )

    # The fix, the code as it ships: each call runs in a copy of the request's context.
    frontend, _ = split(api_env=slow, **to_zipkin)
    spans = zipkin.trace(visitor.get(f"{frontend.url}/"), spans_at_least=10)
    home = named(spans, "GET home")
    today, week = named(spans, "GET /api/toasts/today/"), named(spans, "GET /api/toasts/")
    assert today["parentId"] == week["parentId"] == home["id"]
    # Side by side: each began before the other ended (Zipkin: microseconds).
    assert today["timestamp"] < week["timestamp"] + week["duration"]
    assert week["timestamp"] < today["timestamp"] + today["duration"]
    zipkin.screenshot(page, f"traces/{home['traceId']}", "step12-side-by-side", "get home")
