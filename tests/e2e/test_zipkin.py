"""A page view, followed all the way into the real Zipkin server."""

import time

import pytest
import requests

from tests.conftest import home_page_trace, named
from tests.e2e.conftest import fetch_trace

pytestmark = pytest.mark.e2e


def test_a_page_view_arrives_in_zipkin_as_one_trace(browser, zipkin_site, zipkin_server):
    response = browser.get(f"{zipkin_site.url}/")
    assert response.status_code == 200
    trace_id = response.headers["traceresponse"].split("-")[1]
    spans = fetch_trace(zipkin_server, trace_id)

    assert {s["localEndpoint"]["serviceName"] for s in spans} == {"toastsite"}
    home = home_page_trace(spans)
    page, call, api, choose = home["page"], home["call"], home["api"], home["choose"]

    for span in (page, call, api):
        assert span["tags"]["http.method"] == "GET"
        assert span["tags"]["http.status_code"] == "200"
    assert call["tags"]["http.url"] == f"{zipkin_site.url}/api/toasts/today/"
    assert '"Hawaii Monday"' in choose["annotations"][0]["value"]
    sql = [s for s in spans if s.get("parentId") == choose["id"]]
    assert sql
    assert all(s["kind"] == "CLIENT" and "db.statement" in s["tags"] for s in sql)


def test_zipkin_lists_the_service_and_its_span_names(browser, zipkin_site, zipkin_server):
    response = browser.get(f"{zipkin_site.url}/toasts/")
    trace_id = response.headers["traceresponse"].split("-")[1]
    fetch_trace(zipkin_server, trace_id, until=lambda spans: len(spans) >= 4)
    assert "toastsite" in requests.get(f"{zipkin_server}/api/v2/services", timeout=5).json()
    names = requests.get(
        f"{zipkin_server}/api/v2/spans", params={"serviceName": "toastsite"}, timeout=5
    ).json()
    assert {"get toasts/", "get /api/toasts/", "get api/toasts/", "select"} <= set(names)


def frontend_to_api_calls(zipkin: str) -> int:
    """Calls from frontend to api in Zipkin's dependency links (the server is shared)."""
    end = int(time.time() * 1000)
    links = requests.get(
        f"{zipkin}/api/v2/dependencies", params={"endTs": end, "lookback": 3_600_000}, timeout=5
    ).json()
    return sum(link.get("callCount", 0) for link in links if link["parent"] == "frontend")


def test_the_split_gives_one_trace_and_a_frontend_to_api_dependency(
    browser, site_server, zipkin_server
):
    tracing = {"OTEL_EXPORTER_ZIPKIN_ENDPOINT": f"{zipkin_server}/api/v2/spans"}
    api = site_server(TOASTSITE_ROLE="api", **tracing)
    frontend = site_server(TOASTSITE_ROLE="frontend", TOAST_API_URL=api.url, **tracing)
    calls_before = frontend_to_api_calls(zipkin_server)
    for _ in range(3):  # two API calls each
        response = browser.get(f"{frontend.url}/")
        trace_id = response.headers["traceresponse"].split("-")[1]
        spans = fetch_trace(zipkin_server, trace_id, until=lambda spans: len(spans) >= 10)
        assert {s["localEndpoint"]["serviceName"] for s in spans} == {"frontend", "api"}
        call, api_view = (
            named(spans, "GET /api/toasts/today/"),
            named(spans, "GET api/toasts/today/"),
        )
        assert api_view["parentId"] == call["id"]

    deadline = time.monotonic() + 15
    while frontend_to_api_calls(zipkin_server) - calls_before != 6:
        assert time.monotonic() < deadline, "the frontend -> api link did not count 6 calls"
        time.sleep(0.5)
