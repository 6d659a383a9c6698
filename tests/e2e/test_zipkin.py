"""A page view, followed all the way into the real Zipkin server, under WSGI
and ASGI (`site_server`)."""

import time
import uuid

import pytest
import requests

from apps.pages.traffic import post_rating
from tests.support import zipkin
from tests.support.http import traceresponse
from tests.support.polling import eventually

pytestmark = pytest.mark.e2e


def test_spans_carry_todays_attribute_names_and_none_deprecated(
    visitor, site_server, to_zipkin, zipkin_server, db_system
):
    site = site_server(**to_zipkin)
    response = post_rating(visitor, f"{site.url}/toasts/1/", stars=4)  # a rating, through a page
    assert response.status_code == 302
    spans = zipkin.fetch_trace(zipkin_server, traceresponse(response).trace_id)

    server = zipkin.named(spans, "POST toasts/<int:pk>/")
    client = zipkin.named(spans, "POST /api/toasts/{id}/ratings/")
    view = zipkin.named(spans, "POST api/toasts/<int:pk>/ratings/")
    # The toast to rate, read by the view (the summary job, run in-process here
    # without a broker, reads it again under its own span).
    (sql,) = [
        s for s in spans if s["name"] == "select toasts_toast" and s["parentId"] == view["id"]
    ]
    assert (
        zipkin.named(spans, "INSERT toasts_rating")["tags"]["db.collection.name"] == "toasts_rating"
    )
    assert zipkin.own_tags(server) == zipkin.SERVER_TAGS
    assert zipkin.own_tags(client) == zipkin.CLIENT_TAGS
    on_a_server = {"server.address", "server.port"} if db_system == "postgresql" else set()
    assert zipkin.own_tags(sql) == zipkin.SQL_TAGS | on_a_server
    assert not zipkin.DEPRECATED & {tag for span in spans for tag in span["tags"]}

    assert server["tags"]["http.route"] == "toasts/<int:pk>/"
    assert server["tags"]["server.address"] == "127.0.0.1"
    assert client["tags"]["url.full"] == f"{site.url}/api/toasts/1/ratings/"
    assert client["remoteEndpoint"]["serviceName"] == "toastsite"  # the monolith calls itself
    assert sql["tags"]["db.system.name"] == db_system
    assert sql["tags"]["db.collection.name"] == "toasts_toast"
    assert sql["remoteEndpoint"]["serviceName"] == db_system
    assert '"toasts_toast"."id" = %s' in sql["tags"]["db.query.text"]  # never the value


def test_zipkin_lists_the_service_and_its_span_names(
    visitor, site_server, to_zipkin, zipkin_server
):
    # A service name of this test's own: what Zipkin lists under it, this test sent.
    service = f"toastsite-{uuid.uuid4().hex[:8]}"
    site = site_server(OTEL_SERVICE_NAME=service, **to_zipkin)
    response = visitor.get(f"{site.url}/toasts/")
    trace_id = traceresponse(response).trace_id
    spans = zipkin.fetch_trace(zipkin_server, trace_id, until=lambda spans: len(spans) >= 6)
    assert service in requests.get(f"{zipkin_server}/api/v2/services", timeout=5).json()
    names = requests.get(
        f"{zipkin_server}/api/v2/spans", params={"serviceName": service}, timeout=5
    ).json()
    assert set(names) == {span["name"] for span in spans}
    assert {"get toasts/", "get /api/toasts/", "get api/toasts/"} <= set(names)
    assert "select toasts_toast toasts_ratingsummary" in names


def test_the_split_gives_one_trace_and_the_dependencies_frontend_api_database(
    visitor, split, to_zipkin, zipkin_server, db_system
):
    since_ms = int(time.time() * 1000) - 1
    frontend, _ = split(**to_zipkin)
    for _ in range(3):  # two API calls each
        response = visitor.get(f"{frontend.url}/")
        trace_id = traceresponse(response).trace_id
        spans = zipkin.fetch_trace(zipkin_server, trace_id, until=lambda spans: len(spans) >= 10)
        assert zipkin.services(spans) == {"frontend", "api"}
        call, api_view = (
            zipkin.named(spans, "GET /api/toasts/today/"),
            zipkin.named(spans, "GET api/toasts/today/"),
        )
        assert api_view["parentId"] == call["id"]

    # Three home pages: each calls the API twice, and the API runs two queries
    # for the toast of the day and three for the week.
    expected = {("frontend", "api"): 6, ("api", db_system): 15}
    eventually(
        lambda: zipkin.dependencies(zipkin_server, since_ms) == expected,
        f"the links of these three page views, {expected}",
    )
