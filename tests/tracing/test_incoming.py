"""Trace context from outside: joined, as tracing needs, but never obeyed."""

import pytest
from django.core.signals import request_started
from django.urls import reverse

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


@pytest.fixture
def api_requests() -> list[dict]:
    """The WSGI environ of every request the API receives."""
    seen: list[dict] = []

    def record(sender, environ, **kwargs) -> None:
        if environ["PATH_INFO"].startswith("/api/"):
            seen.append(environ)

    request_started.connect(record)
    yield seen
    request_started.disconnect(record)


@pytest.mark.parametrize("headers", HEADERS.values(), ids=HEADERS.keys())
def test_an_incoming_traceparent_never_changes_what_the_page_does(client, headers):
    plain = client.get(reverse("pages:home"))
    traced = client.get(reverse("pages:home"), **headers)
    assert traced.status_code == plain.status_code == 200
    assert traced.context["today"] == plain.context["today"]
    assert traced.context["week"] == plain.context["week"]


def test_a_sampled_incoming_traceparent_is_joined(client, spans):
    client.get(reverse("pages:home"), **HEADERS["sampled"])
    assert {format(s.context.trace_id, "032x") for s in spans()} == {TRACE_ID}


def test_incoming_baggage_is_neither_passed_on_nor_echoed(client, api_requests, spans):
    baggage = "user.id=admin,is_staff=true"
    response = client.get(reverse("pages:home"), HTTP_BAGGAGE=baggage)
    assert response.status_code == 200
    assert len(api_requests) == 2  # today and the week
    assert not any("HTTP_BAGGAGE" in environ for environ in api_requests)
    assert all("HTTP_TRACEPARENT" in environ for environ in api_requests)
    assert "is_staff" not in str(response.headers)
    assert "is_staff" not in response.content.decode()
    assert not any("is_staff" in str(s.attributes) for s in spans())
