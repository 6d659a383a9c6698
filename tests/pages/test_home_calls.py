"""The home page makes its two API calls at once: side by side in its trace,
each a child of the page's span, and a failure gives the page it gave when
they ran one after the other. SCENARIO_LOST_CONTEXT shows the trap: a thread
pool that is given no context, and each call a trace of its own."""

import contextvars
from collections.abc import Iterator

import pytest
from django.urls import reverse
from opentelemetry.trace import SpanKind

from tests.support.http import fake_api
from tests.support.spans import by_name

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.usefixtures("api_via_live_server"),
]


def test_the_two_calls_overlap_and_share_the_pages_span_as_parent(client, scenarios, spans):
    scenarios(latency_ms=200)  # each API call takes 200 ms more: long enough to overlap
    assert client.get(reverse("pages:home")).status_code == 200
    finished = spans()
    page = by_name(finished, "GET home")
    today = by_name(finished, "GET /api/toasts/today/")
    week = by_name(finished, "GET /api/toasts/")

    assert today.kind is week.kind is SpanKind.CLIENT
    assert today.parent.span_id == week.parent.span_id == page.context.span_id
    assert today.context.trace_id == week.context.trace_id == page.context.trace_id
    # Side by side: each began before the other ended.
    assert today.start_time < week.end_time
    assert week.start_time < today.end_time


def test_without_the_context_each_call_is_a_trace_of_its_own(client, scenarios, spans):
    scenarios(lost_context=True)
    response = client.get(reverse("pages:home"))
    assert response.status_code == 200  # the page itself is fine
    banner = "Scenarios on: the home page calls the API without its trace context."
    assert banner in response.content.decode()
    finished = spans()
    page = by_name(finished, "GET home")
    assert not [s for s in finished if s.parent and s.parent.span_id == page.context.span_id]

    traces = {page.context.trace_id}
    for call_name, api_name in [
        ("GET /api/toasts/today/", "GET api/toasts/today/"),
        ("GET /api/toasts/", "GET api/toasts/"),
    ]:
        call = by_name(finished, call_name)  # still named: _call names it on its thread
        assert call.parent is None  # a root, in a trace of its own
        assert by_name(finished, api_name).parent.span_id == call.context.span_id
        traces.add(call.context.trace_id)
    assert len(traces) == 3


@pytest.fixture
def api_answering(settings) -> Iterator[callable]:
    """An API whose two home-page routes each fail as the test says: "error"
    (a 500) or "timeout" (no answer within the pages' read timeout)."""
    failures: dict[str, str] = {}

    def answer(handler, stopping) -> None:
        route = "today" if handler.path.startswith("/api/toasts/today/") else "week"
        if failures[route] == "timeout":
            stopping.wait(5)
            return
        handler.send_response(500)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    with fake_api(answer) as url:
        settings.TOAST_API_URL = url
        settings.TOAST_API_TIMEOUT = (1, 0.5)
        yield failures.update


@pytest.mark.parametrize(
    ("today", "week", "says"),
    [
        ("error", "timeout", "it answered with an error."),
        ("timeout", "error", "it did not answer in time."),
    ],
)
def test_when_both_fail_the_page_says_what_the_first_call_met(
    client, api_answering, today, week, says
):
    # One after the other, the first call's failure was the page's: still so.
    api_answering(today=today, week=week)
    response = client.get(reverse("pages:home"))
    assert response.status_code == 503
    assert says in response.content.decode()


def test_a_route_set_around_a_bare_submit_is_lost_too(api_via_live_server, spans):
    # Step 12: _call names its span on the pool's thread. Named around the
    # submit instead, the name stays behind unless the context is carried.
    from apps.pages.client import _pool, _session
    from toastsite.telemetry.http import outbound_route

    def call() -> None:
        _session.get(f"{api_via_live_server}/api/toasts/today/").raise_for_status()

    with outbound_route("/api/toasts/today/"):
        _pool.submit(call).result()
        _pool.submit(contextvars.copy_context().run, call).result()
    bare, carried = [s for s in spans() if "url.full" in s.attributes]  # the HTTP calls
    assert bare.name == "GET"
    assert carried.name == "GET /api/toasts/today/"
