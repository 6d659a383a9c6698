"""An API that answers badly or too late: the page gives the 503 page with its
trace id, promptly, and the trace says what failed."""

import time
from collections.abc import Iterator

import pytest
from django.urls import reverse
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode

from tests.support.http import fake_api

ANSWERS = {
    "malformed JSON": (200, "application/json", b'{"name": "Ham", '),
    "HTML": (200, "text/html", b"<html><body>Welcome to nginx!</body></html>"),
    "HTML error page": (502, "text/html", b"<html><body>502 Bad Gateway</body></html>"),
    "slower than the timeout": (200, "application/json", b"{}"),
}


@pytest.fixture(params=ANSWERS, ids=ANSWERS.keys())
def bad_api(request, settings) -> Iterator[str]:
    status, content_type, body = ANSWERS[request.param]
    slow = request.param == "slower than the timeout"

    def answer(handler, stopping) -> None:
        if slow:
            stopping.wait(5)
            return  # the page stopped waiting long ago: no answer at all
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    with fake_api(answer) as url:
        settings.TOAST_API_URL = url
        settings.TOAST_API_TIMEOUT = (1, 0.5)
        yield request.param


def test_a_bad_api_answer_is_the_503_page_with_its_trace_id(client, settings, bad_api, spans):
    started = time.monotonic()
    response = client.get(reverse("pages:week"))
    elapsed = time.monotonic() - started

    assert response.status_code == 503
    assert elapsed < sum(settings.TOAST_API_TIMEOUT) + 0.5
    page = next(s for s in spans() if s.kind is SpanKind.SERVER)
    trace_id = trace.format_trace_id(page.context.trace_id)
    html = response.content.decode()
    assert "The toast service is unavailable" in html
    slow = bad_api == "slower than the timeout"
    assert ("it did not answer in time." if slow else "it answered with an error.") in html
    assert f"/traces/{trace_id}" in html
    assert page.status.status_code is StatusCode.ERROR
    assert any(event.name == "exception" for event in page.events)
