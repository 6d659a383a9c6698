"""Trace context from outside: joined, as tracing needs, but never obeyed."""

import pytest
from django.urls import reverse
from opentelemetry import trace

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.usefixtures("api_via_live_server"),
]

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
HEADERS = {
    "none": {},
    "sampled": {"HTTP_TRACEPARENT": f"00-{TRACE_ID}-00f067aa0ba902b7-01"},
    "not sampled": {"HTTP_TRACEPARENT": f"00-{TRACE_ID}-00f067aa0ba902b7-00"},
    "malformed": {"HTTP_TRACEPARENT": "00-zzzz-not-a-traceparent", "HTTP_TRACESTATE": "=,=;"},
    "invalid ids": {"HTTP_TRACEPARENT": f"00-{'0' * 32}-{'0' * 16}-01"},
}


@pytest.mark.parametrize("headers", HEADERS.values(), ids=HEADERS.keys())
def test_an_incoming_traceparent_never_changes_what_the_page_does(client, headers):
    plain = client.get(reverse("pages:home"))
    traced = client.get(reverse("pages:home"), **headers)
    assert traced.status_code == plain.status_code == 200
    assert traced.context["today"] == plain.context["today"]
    assert traced.context["week"] == plain.context["week"]


def test_a_sampled_incoming_traceparent_is_joined(client, spans):
    client.get(reverse("pages:home"), **HEADERS["sampled"])
    assert {trace.format_trace_id(s.context.trace_id) for s in spans()} == {TRACE_ID}


def test_incoming_baggage_is_neither_passed_on_nor_echoed(client, requests_received, spans):
    baggage = "user.id=admin,is_staff=true"
    response = client.get(reverse("pages:home"), HTTP_BAGGAGE=baggage)
    assert response.status_code == 200
    api_requests = [e for e in requests_received if e["PATH_INFO"].startswith("/api/")]
    assert len(api_requests) == 2  # today and the week
    assert not any("HTTP_BAGGAGE" in environ for environ in api_requests)
    assert all("HTTP_TRACEPARENT" in environ for environ in api_requests)
    assert "is_staff" not in str(response.headers)
    assert "is_staff" not in response.content.decode()
    assert not any("is_staff" in str(s.attributes) for s in spans())
