"""The span tree of a page view, captured in memory.

The page is rendered by the test client; its API calls go over real HTTP to
the live server, and both sides record into the same in-memory exporter.
"""

import re

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, StatusCode, TraceFlags

from apps.toasts.models import Toast
from tests.support.http import traceresponse
from tests.support.spans import by_name
from toastsite.telemetry import sql

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.usefixtures("api_via_live_server"),
]


def children(spans, parent):
    return [s for s in spans if s.parent and s.parent.span_id == parent.context.span_id]


def test_a_page_view_is_one_trace_page_api_call_api_view_business_step_and_sql(client, spans):
    client.get(reverse("pages:home"), {"date": "ignored"})
    finished = spans()
    assert len({s.context.trace_id for s in finished}) == 1

    page = by_name(finished, "GET home")
    assert page.kind is SpanKind.SERVER
    assert page.parent is None

    call = by_name(finished, "GET /api/toasts/today/")
    assert call.kind is SpanKind.CLIENT
    assert call.parent.span_id == page.context.span_id
    assert call.attributes["http.request.method"] == "GET"
    assert call.attributes["http.response.status_code"] == 200
    assert call.attributes["url.full"].endswith("/api/toasts/today/")
    assert call.attributes["url.template"] == "/api/toasts/today/"

    api = by_name(finished, "GET api/toasts/today/")
    assert api.kind is SpanKind.SERVER
    assert api.parent.span_id == call.context.span_id

    choose = by_name(finished, "choose toast of the day")
    assert choose.kind is SpanKind.INTERNAL
    assert choose.parent.span_id == api.context.span_id
    today = Toast.objects.get(name=choose.attributes["toast.name"])
    assert choose.attributes["toast.weekday"] == today.get_weekday_display()
    (event,) = choose.events
    assert event.name == "Toasts"
    assert list(event.attributes["toasts"])[:2] == ["Hawaii Monday", "Peperoni Tuesday"]

    sql = children(finished, choose)
    for query in sql:
        assert query.kind is SpanKind.CLIENT
        assert query.attributes["db.system.name"] == connection.vendor
        assert query.attributes["db.namespace"] == str(connection.settings_dict["NAME"])
        assert query.attributes["peer.service"] == connection.vendor
    # The week with its rating summary, then its ingredients: named by their tables.
    assert [q.name for q in sql] == [
        "SELECT toasts_toast toasts_ratingsummary",
        "SELECT toasts_ingredient toasts_toast_ingredients",
    ]
    statements = [q.attributes["db.query.text"] for q in sql]
    assert statements[0].startswith('SELECT "toasts_toast"."id"')
    assert "toasts_toast_ingredients" in statements[1]

    # The week beside it: a second API call in the same trace.
    week_call = by_name(finished, "GET /api/toasts/")
    assert week_call.parent.span_id == page.context.span_id
    assert children(finished, week_call)[0].name == "GET api/toasts/"


def test_queries_outside_a_recorded_span_make_no_span(spans):
    Toast.objects.count()  # no request around it
    unsampled = SpanContext(trace_id=1, span_id=1, is_remote=True, trace_flags=TraceFlags(0))
    with trace.use_span(NonRecordingSpan(unsampled)):
        Toast.objects.count()
    assert len(spans()) == 0


def test_sql_statements_carry_placeholders_not_values(client, spans, toast):
    client.get(reverse("pages:toast", args=[toast.pk]))
    statements = [s.attributes["db.query.text"] for s in spans() if "db.query.text" in s.attributes]
    where_id = [q for q in statements if '"toasts_toast"."id" = ' in q]
    assert where_id
    assert all('"toasts_toast"."id" = %s' in q for q in where_id)


def test_client_spans_are_named_after_the_api_route_template(client, spans, toast):
    client.get(reverse("pages:toast", args=[toast.pk]))
    call = by_name(spans(), "GET /api/toasts/{id}/")
    assert call.attributes["url.full"].endswith(f"/api/toasts/{toast.pk}/")
    by_name(spans(), "GET api/toasts/<int:pk>/")


def test_an_exception_in_a_view_marks_its_span_error_and_shows_the_trace_id(monkeypatch, spans):
    def broken(request):
        raise RuntimeError("the toaster caught fire")

    monkeypatch.setattr("apps.pages.client.week", broken)
    response = Client(raise_request_exception=False).get(reverse("pages:week"))
    assert response.status_code == 500
    page = by_name(spans(), "GET toasts/")
    assert page.status.status_code is StatusCode.ERROR
    (event,) = [e for e in page.events if e.name == "exception"]
    assert event.attributes["exception.message"] == "the toaster caught fire"
    trace_id = trace.format_trace_id(page.context.trace_id)
    assert f"/traces/{trace_id}" in response.content.decode()


def test_a_failed_api_call_marks_the_client_span_and_the_page_span(client, settings, spans):
    settings.TOAST_API_URL = "http://127.0.0.1:9"  # nothing listens there
    response = client.get(reverse("pages:week"))
    assert response.status_code == 503
    call = by_name(spans(), "GET /api/toasts/")
    assert call.status.status_code is StatusCode.ERROR
    assert any(e.name == "exception" for e in call.events)
    page = by_name(spans(), "GET toasts/")
    assert page.status.status_code is StatusCode.ERROR
    (event,) = [e for e in page.events if e.name == "exception"]
    assert event.attributes["exception.type"].endswith("ToastServiceUnavailable")
    trace_id = trace.format_trace_id(page.context.trace_id)
    assert f"/traces/{trace_id}" in response.content.decode()


def test_bad_input_is_not_an_error_on_the_api_span(client, spans):
    response = client.get(reverse("api:toast-list"), {"weekday": "9"})
    assert response.status_code == 400
    api = by_name(spans(), "GET api/toasts/")
    assert api.status.status_code is StatusCode.UNSET
    assert api.attributes["http.response.status_code"] == 400


def test_every_response_carries_its_trace_id_in_traceresponse(client, spans):
    response = client.get(reverse("api:toast-list"))
    told = traceresponse(response)
    api = by_name(spans(), "GET api/toasts/")
    assert (told.trace_id, told.span_id) == (
        trace.format_trace_id(api.context.trace_id),
        trace.format_span_id(api.context.span_id),
    )


def test_the_footer_links_the_trace_in_the_zipkin_ui(client, settings, spans):
    settings.ZIPKIN_UI_URL = "http://zipkin.example:9411/zipkin"
    html = client.get(reverse("pages:week")).content.decode()
    trace_id = trace.format_trace_id(by_name(spans(), "GET toasts/").context.trace_id)
    assert f'href="http://zipkin.example:9411/zipkin/traces/{trace_id}"' in html


# The conventions' own examples of db.query.summary (semantic conventions,
# database spans, "Generating a summary of the query text").
CONVENTIONS_EXAMPLES = [
    (
        "SELECT wuser_table.id, wuser_table.name FROM wuser_table WHERE username = ?",
        "SELECT wuser_table",
    ),
    (
        "INSERT INTO shipping_details (order_id, address) "
        "SELECT order_id, address FROM orders WHERE order_id = ?",
        "INSERT shipping_details SELECT orders",
    ),
    ("SELECT * FROM songs, artists WHERE songs.artist_id == artists.id", "SELECT songs artists"),
    (
        "SELECT order_date FROM (SELECT * FROM orders o "
        "JOIN customers c ON o.customer_id = c.customer_id)",
        "SELECT SELECT orders customers",
    ),
]


@pytest.mark.parametrize(("statement", "summary"), CONVENTIONS_EXAMPLES)
def test_a_sql_span_is_summarized_as_the_conventions_examples_are(statement, summary):
    assert sql.summarize(statement).text == summary


@pytest.mark.parametrize(("statement", "summary"), CONVENTIONS_EXAMPLES)
def test_django_quoting_its_names_changes_no_summary(statement, summary):
    quoted = re.sub(
        r"\b(wuser_table|shipping_details|orders|songs|artists|customers)\b", r'"\1"', statement
    )
    assert quoted != statement
    assert sql.summarize(quoted).text == summary


@pytest.mark.parametrize(
    ("statement", "summary"),
    [
        # Statements with no operation of the conventions are named by their first word.
        ("BEGIN", "BEGIN"),
        ('SAVEPOINT "s140_x1"', "SAVEPOINT"),
    ],
)
def test_a_statement_without_an_operation_is_named_by_its_first_word(statement, summary):
    assert sql.summarize(statement).text == summary
