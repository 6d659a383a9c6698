"""The site as users run it: a real server process, configured only through
the standard OTEL_* variables, posting Zipkin JSON v2 to a local receiver.
What the server interface does (spans, headers) is tested under WSGI and ASGI
(`traced_site`, `site_server`); what the exporter does, under runserver."""

import re
import time

import pytest

from tests.support.http import traceresponse
from tests.support.polling import eventually
from tests.support.zipkin import ZipkinReceiver, home_page_trace, named

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_a_page_view_reaches_zipkin_as_one_trace_with_tags_and_annotations(
    visitor, traced_site, zipkin_receiver, db_system
):
    response = visitor.get(f"{traced_site.url}/")
    assert response.status_code == 200
    spans = zipkin_receiver.trace(response)

    home = home_page_trace(spans)
    call, choose = home["call"], home["choose"]

    assert call["tags"]["http.request.method"] == "GET"
    assert call["tags"]["http.response.status_code"] == "200"
    assert call["tags"]["url.full"] == f"{traced_site.url}/api/toasts/today/"
    # The monolith calls itself: Zipkin draws a link from toastsite to toastsite.
    assert call["remoteEndpoint"] == {"serviceName": "toastsite", "ipv4": "127.0.0.1"} | {
        "port": traced_site.port
    }
    (annotation,) = choose["annotations"]
    assert '"Hawaii Monday"' in annotation["value"]
    assert annotation["value"].startswith('{"Toasts"')

    sql = [s for s in spans if s.get("parentId") == choose["id"]]
    assert sql
    # docs/benchmarks.md counts on it: a home page view is 11 spans, 5 of them SQL.
    assert len(spans) == 11
    assert len([s for s in spans if "db.system.name" in s["tags"]]) == 5
    assert all(s["tags"]["db.system.name"] == db_system for s in sql)
    assert all(s["remoteEndpoint"]["serviceName"] == db_system for s in sql)
    assert any(s["tags"]["db.query.text"].startswith('SELECT "toasts_toast"') for s in sql)

    for span in spans:
        assert span["localEndpoint"]["serviceName"] == "toastsite"
        assert re.fullmatch(r"\d+\.\d+\.\d+\.\d+", span["localEndpoint"]["ipv4"])
        assert span["tags"]["service.version"] == "0.1.0"
        assert span["tags"]["host.name"]
        assert span["tags"]["deployment.environment"] == "development"


def test_the_footer_links_to_the_trace_in_the_zipkin_ui_and_says_when_it_is_there(
    visitor, traced_site
):
    response = visitor.get(f"{traced_site.url}/toasts/")
    trace_id = traceresponse(response).trace_id
    assert f'href="http://localhost:9411/zipkin/traces/{trace_id}"' in response.text
    # OTEL_BSP_SCHEDULE_DELAY is 100 ms for the tests' servers.
    assert "Its spans leave for Zipkin in batches, every 0.1 s." in response.text


def test_through_the_collector_the_footer_says_it_decides_what_zipkin_gets(visitor, runserver_site):
    site = runserver_site(
        OTEL_TRACES_EXPORTER="otlp", OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9"
    )
    html = visitor.get(f"{site.url}/toasts/").text
    assert (
        "The Collector decides whether to keep it about 10 s after the page; "
        "until then, and if it drops it, Zipkin shows nothing."
    ) in html


def test_service_name_and_resource_come_from_the_standard_variables(
    visitor, runserver_site, zipkin_receiver
):
    site = runserver_site(
        OTEL_EXPORTER_ZIPKIN_ENDPOINT=zipkin_receiver.endpoint,
        OTEL_SERVICE_NAME="toast-shop",
        OTEL_RESOURCE_ATTRIBUTES="deployment.environment=staging,team=bakery",
    )
    spans = zipkin_receiver.trace(visitor.get(f"{site.url}/api/toasts/"))
    (span,) = spans[:1]
    assert span["localEndpoint"]["serviceName"] == "toast-shop"
    assert span["tags"]["deployment.environment"] == "staging"
    assert span["tags"]["team"] == "bakery"


def test_an_incoming_traceparent_continues_the_callers_trace(visitor, traced_site, zipkin_receiver):
    response = visitor.get(f"{traced_site.url}/toasts/", headers={"traceparent": TRACEPARENT})
    assert traceresponse(response).trace_id == "0af7651916cd43dd8448eb211c80319c"
    spans = zipkin_receiver.trace(response)
    page = named(spans, "GET toasts/")
    assert page["parentId"] == "b7ad6b7169203331"


@pytest.mark.parametrize(
    ("propagators", "headers"),
    [
        ("b3", {"b3": "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1"}),
        (
            "b3multi",
            {
                "X-B3-TraceId": "80f198ee56343ba864fe8b2a57d3eff7",
                "X-B3-SpanId": "e457b5a2e4d86bd1",
                "X-B3-Sampled": "1",
            },
        ),
    ],
)
def test_b3_propagation_for_zipkin_native_peers(
    visitor, site_server, zipkin_receiver, propagators, headers
):
    site = site_server(
        OTEL_EXPORTER_ZIPKIN_ENDPOINT=zipkin_receiver.endpoint, OTEL_PROPAGATORS=propagators
    )
    response = visitor.get(f"{site.url}/toasts/", headers=headers)
    assert response.status_code == 200
    assert traceresponse(response).trace_id == "80f198ee56343ba864fe8b2a57d3eff7"
    spans = zipkin_receiver.trace(response)
    page = named(spans, "GET toasts/")
    assert page["parentId"] == "e457b5a2e4d86bd1"
    # The page's own call to the API carried b3 too: the API span joined the trace.
    assert named(spans, "GET api/toasts/")["parentId"] == named(spans, "GET /api/toasts/")["id"]


def test_no_propagation_gives_disjoint_traces_and_the_site_still_answers(
    visitor, site_server, zipkin_receiver
):
    site = site_server(
        OTEL_EXPORTER_ZIPKIN_ENDPOINT=zipkin_receiver.endpoint, OTEL_PROPAGATORS="none"
    )
    response = visitor.get(f"{site.url}/toasts/", headers={"traceparent": TRACEPARENT})
    assert response.status_code == 200
    page_trace = zipkin_receiver.trace(response)
    assert page_trace[0]["traceId"] != "0af7651916cd43dd8448eb211c80319c"
    assert {s["name"] for s in page_trace} == {"GET toasts/", "GET /api/toasts/"}
    assert "parentId" not in named(page_trace, "GET toasts/")
    api = eventually(
        lambda: named(zipkin_receiver.spans, "GET api/toasts/", missing_ok=True), "the API's span"
    )
    assert "parentId" not in api
    assert api["traceId"] != page_trace[0]["traceId"]


def test_sampling_off_sends_nothing(visitor, site_server, zipkin_receiver):
    site = site_server(
        OTEL_EXPORTER_ZIPKIN_ENDPOINT=zipkin_receiver.endpoint,
        OTEL_TRACES_SAMPLER="always_off",
    )
    response = visitor.get(f"{site.url}/")
    assert response.status_code == 200
    assert not traceresponse(response).sampled  # a trace id, but not sampled
    assert response.headers["traceresponse"].endswith("-02")  # random id, not sampled
    assert "This page was not traced." in response.text
    site.stop()  # like Ctrl-C: whatever spans it had would be sent now
    assert zipkin_receiver.spans == []


def test_sdk_disabled_traces_nothing(visitor, site_server, zipkin_receiver):
    site = site_server(
        OTEL_EXPORTER_ZIPKIN_ENDPOINT=zipkin_receiver.endpoint, OTEL_SDK_DISABLED="true"
    )
    response = visitor.get(f"{site.url}/")
    assert response.status_code == 200
    assert "traceresponse" not in response.headers
    assert "This page was not traced." in response.text
    site.stop()
    assert zipkin_receiver.spans == []


def test_console_exporter_prints_spans(visitor, runserver_site):
    site = runserver_site(OTEL_TRACES_EXPORTER="console")
    trace_id = traceresponse(visitor.get(f"{site.url}/api/toasts/")).trace_id
    site.stop()
    assert f'"trace_id": "0x{trace_id}"' in site.log()


def test_log_lines_written_in_a_request_carry_its_trace_and_span_ids(
    visitor, site_server, zipkin_receiver
):
    site = site_server(
        OTEL_EXPORTER_ZIPKIN_ENDPOINT=zipkin_receiver.endpoint, TOAST_API_URL="http://127.0.0.1:9"
    )
    response = visitor.get(f"{site.url}/toasts/")
    assert response.status_code == 503
    trace_id = traceresponse(response).trace_id
    page = named(zipkin_receiver.trace(response), "GET toasts/")
    line = next(x for x in site.log().splitlines() if "Toast service unavailable" in x)
    assert f"[trace_id={trace_id} span_id={page['id']}]" in line
    assert f"/traces/{trace_id}" in response.text


def browse_then_stop(visitor, site, wait: float = 0) -> str:
    """Ten page views over several batches, while the backend fails; each must be
    answered without waiting for it. Then the site is stopped: its log, which
    must say so once, without a traceback."""
    for _ in range(10):
        started = time.monotonic()
        assert visitor.get(f"{site.url}/toasts/", timeout=2).status_code == 200
        assert time.monotonic() - started < 1  # pages never wait for the exporter
        time.sleep(0.15)
    time.sleep(wait)  # the first export gives up
    site.stop()
    log = site.log()
    assert log.count("Cannot export spans to") == 1
    assert "Traceback" not in log
    return log


@pytest.mark.parametrize("mode", ["down", "error"])
def test_zipkin_down_costs_one_warning_not_a_traceback_per_batch(visitor, runserver_site, mode):
    receiver = ZipkinReceiver(mode="error")
    endpoint = receiver.endpoint if mode == "error" else "http://127.0.0.1:9/api/v2/spans"
    try:
        log = browse_then_stop(visitor, runserver_site(OTEL_EXPORTER_ZIPKIN_ENDPOINT=endpoint))
    finally:
        receiver.close()
    assert "Is Zipkin running?" in log


def test_a_zipkin_that_never_answers_does_not_slow_the_site(visitor, runserver_site):
    receiver = ZipkinReceiver(mode="hang")
    site = runserver_site(
        OTEL_EXPORTER_ZIPKIN_ENDPOINT=receiver.endpoint, OTEL_EXPORTER_ZIPKIN_TIMEOUT="2"
    )
    try:
        log = browse_then_stop(visitor, site, wait=2.5)  # exports block for 2 s each
    finally:
        receiver.close()
    assert "Timeout" in log


@pytest.mark.parametrize("collector", ["stopped", "hanging"])
def test_a_collector_down_or_hanging_costs_pages_nothing_and_one_warning(
    visitor, runserver_site, collector
):
    receiver = ZipkinReceiver(mode="hang")  # takes a connection, never answers
    endpoint = receiver.endpoint.removesuffix("/api/v2/spans")
    site = runserver_site(
        OTEL_TRACES_EXPORTER="otlp",
        OTEL_EXPORTER_OTLP_ENDPOINT=endpoint if collector == "hanging" else "http://127.0.0.1:9",
        OTEL_EXPORTER_OTLP_TIMEOUT="2",
    )
    try:
        log = browse_then_stop(visitor, site, wait=3)
    finally:
        receiver.close()
    assert "Is the OpenTelemetry Collector running?" in log


def test_a_spans_links_reach_zipkin_as_tags(spans):
    import json

    from opentelemetry import trace
    from opentelemetry.exporter.zipkin.node_endpoint import NodeEndpoint

    from toastsite.telemetry.exporters import RemoteEndpointEncoder

    tracer = trace.get_tracer(__name__)
    with tracer.start_as_current_span("the publish") as publish:
        pass
    with tracer.start_as_current_span("the job", links=[trace.Link(publish.get_span_context())]):
        pass
    job = next(s for s in spans() if s.name == "the job")
    (encoded,) = json.loads(RemoteEndpointEncoder().serialize([job], NodeEndpoint()))
    assert encoded["tags"]["link.trace_id"] == trace.format_trace_id(publish.context.trace_id)
    assert encoded["tags"]["link.span_id"] == trace.format_span_id(publish.context.span_id)
    assert "parentId" not in encoded  # a root of its own, linked to the publish
