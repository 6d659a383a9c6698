"""A page view, followed all the way into the real Zipkin server."""

import time

import pytest
import requests

from tests.support.http import traceresponse
from tests.support.zipkin import dependencies, fetch_trace, home_page_trace, named, services

pytestmark = pytest.mark.e2e


def test_a_page_view_arrives_in_zipkin_as_one_trace(visitor, site_server, to_zipkin, zipkin_server):
    site = site_server(**to_zipkin)
    response = visitor.get(f"{site.url}/")
    assert response.status_code == 200
    spans = fetch_trace(zipkin_server, traceresponse(response).trace_id)

    assert services(spans) == {"toastsite"}
    home = home_page_trace(spans)
    page, call, api, choose = home["page"], home["call"], home["api"], home["choose"]

    for span in (page, call, api):
        assert span["tags"]["http.method"] == "GET"
        assert span["tags"]["http.status_code"] == "200"
    assert call["tags"]["http.url"] == f"{site.url}/api/toasts/today/"
    assert '"Hawaii Monday"' in choose["annotations"][0]["value"]
    sql = [s for s in spans if s.get("parentId") == choose["id"]]
    assert sql
    assert all(s["kind"] == "CLIENT" and "db.statement" in s["tags"] for s in sql)


def test_zipkin_lists_the_service_and_its_span_names(
    visitor, site_server, to_zipkin, zipkin_server
):
    site = site_server(**to_zipkin)
    response = visitor.get(f"{site.url}/toasts/")
    trace_id = traceresponse(response).trace_id
    fetch_trace(zipkin_server, trace_id, until=lambda spans: len(spans) >= 4)
    assert "toastsite" in requests.get(f"{zipkin_server}/api/v2/services", timeout=5).json()
    names = requests.get(
        f"{zipkin_server}/api/v2/spans", params={"serviceName": "toastsite"}, timeout=5
    ).json()
    assert {"get toasts/", "get /api/toasts/", "get api/toasts/", "select"} <= set(names)


def test_the_split_gives_one_trace_and_a_frontend_to_api_dependency(
    visitor, split, to_zipkin, zipkin_server
):
    frontend, _ = split(**to_zipkin)
    calls_before = dependencies(zipkin_server).get(("frontend", "api"), 0)
    for _ in range(3):  # two API calls each
        response = visitor.get(f"{frontend.url}/")
        trace_id = traceresponse(response).trace_id
        spans = fetch_trace(zipkin_server, trace_id, until=lambda spans: len(spans) >= 10)
        assert services(spans) == {"frontend", "api"}
        call, api_view = (
            named(spans, "GET /api/toasts/today/"),
            named(spans, "GET api/toasts/today/"),
        )
        assert api_view["parentId"] == call["id"]

    deadline = time.monotonic() + 15
    while dependencies(zipkin_server).get(("frontend", "api"), 0) - calls_before != 6:
        assert time.monotonic() < deadline, "the frontend -> api link did not count 6 calls"
        time.sleep(0.5)
