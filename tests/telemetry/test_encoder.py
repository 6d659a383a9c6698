"""toastsite's Zipkin encoder says what OpenTelemetry's own JsonV2Encoder says,
span for span and tag for tag, plus the remote endpoint it adds on purpose.

It is written for speed (docs/benchmarks.md), so it is held to the library's
output over every kind of span: kinds, statuses, events, links, parents,
attributes of every type, dropped counts, and tags cut at max_tag_value_length.
"""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.exporter.zipkin.json.v2 import JsonV2Encoder
from opentelemetry.exporter.zipkin.node_endpoint import NodeEndpoint
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import (
    Link,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    set_span_in_context,
)
from opentelemetry.trace import NonRecordingSpan as Remote

from toastsite.telemetry.exporters import RemoteEndpointEncoder

ENDPOINT = NodeEndpoint("192.0.2.7", port=8000)
LIMITS = (None, 0, 1, 2, 5, 16, 128)
RESOURCE = Resource.create(
    {
        "service.name": "toastsite",
        "service.version": "0.1.0",
        "host.name": "oven",
        "deployment.environment": "test",
        "team.size": 3,
        "team.remote": True,
        "team.languages": ("en", "fr"),
    }
)


def recorded(record, resource=RESOURCE, limits=None) -> list[ReadableSpan]:
    """The spans that `record(tracer)` makes, through a provider of its own."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=resource, span_limits=limits)
    provider.add_span_processor(SimpleSpanProcessor(memory))
    record(provider.get_tracer("tests.telemetry", "1.2.3"))
    provider.shutdown()
    return list(memory.get_finished_spans())


def both(spans, limit=None) -> tuple[list[dict], list[dict]]:
    """What the library and ours make of the same batch, parsed."""
    theirs = json.loads(JsonV2Encoder(limit).serialize(spans, ENDPOINT))
    ours = json.loads(RemoteEndpointEncoder(limit).serialize(spans, ENDPOINT))
    return theirs, ours


LINK_TAGS = {"link.trace_id", "link.span_id"}


def without_remote(spans: list[dict]) -> list[dict]:
    """The spans without what toastsite adds on purpose: the remote endpoint, and
    the tags that carry a span's links (the library drops links)."""
    kept = []
    for span in spans:
        span = {k: v for k, v in span.items() if k != "remoteEndpoint"}
        if "tags" in span:
            tags = {k: v for k, v in span["tags"].items() if k not in LINK_TAGS}
            span = (
                {**span, "tags": tags} if tags else {k: v for k, v in span.items() if k != "tags"}
            )
        kept.append(span)
    return kept


def a_little_of_everything(tracer) -> None:
    with tracer.start_as_current_span(
        "GET toasts/<int:pk>/",
        kind=SpanKind.SERVER,
        attributes={
            "http.request.method": "GET",
            "http.response.status_code": 200,
            "server.address": "127.0.0.1",
            "server.port": 8000,
            "toast.rating": 4.5,
            "toast.buttered": True,
            "toast.burnt": False,
            "toast.names": ["Hawaii", "Salami", "Très bien ☕"],
            "toast.days": (1, 2, 3),
            "toast.scores": [1.5, 2.25],
            "toast.flags": [True, False],
            "toast.long": "x" * 300,
            "host.name": "the span's own, which the resource's replaces",
        },
    ) as page:
        page.add_event("cache missed")
        page.add_event("Toasts", {"toasts": ["Hawaii Monday", "y" * 200], "count": 2})
        with tracer.start_as_current_span(
            "GET /api/toasts/",
            kind=SpanKind.CLIENT,
            attributes={
                "peer.service": "api",
                "server.address": "api.internal",
                "server.port": 8001,
                "url.template": "/api/toasts/",
            },
        ) as call:
            call.set_status(Status(StatusCode.ERROR, "502 Bad Gateway"))
        with tracer.start_as_current_span(
            "SELECT toasts_toast",
            kind=SpanKind.CLIENT,
            attributes={"peer.service": "postgresql", "server.address": "2001:db8::5"},
        ) as query:
            query.set_status(StatusCode.OK)
        with tracer.start_as_current_span("cleanup") as cleanup:
            cleanup.set_status(StatusCode.ERROR)
        with pytest.raises(ValueError, match="too hot"), tracer.start_as_current_span("burn"):
            raise ValueError("too hot")
        for kind in (SpanKind.PRODUCER, SpanKind.CONSUMER, SpanKind.INTERNAL):
            tracer.start_span(f"{kind.name} span", kind=kind).end()
    caller = SpanContext(
        0x0AF7651916CD43DD8448EB211C80319C, 0xB7AD6B7169203331, True, TraceFlags(1)
    )
    with tracer.start_as_current_span(
        "continued",
        context=set_span_in_context(Remote(caller)),
        links=[Link(caller, {"why": "retry"})],
        attributes={"server.port": 9411},
    ):
        pass


def test_the_library_draws_no_remote_endpoint_ours_does_from_the_attributes():
    theirs, ours = both(recorded(a_little_of_everything))
    assert all("remoteEndpoint" not in span for span in theirs)
    remote = {span["name"]: span.get("remoteEndpoint") for span in ours}
    assert remote["GET toasts/<int:pk>/"] == {"ipv4": "127.0.0.1", "port": 8000}
    assert remote["GET /api/toasts/"] == {"serviceName": "api", "port": 8001}  # a host name
    assert remote["SELECT toasts_toast"] == {"serviceName": "postgresql", "ipv6": "2001:db8::5"}
    assert remote["continued"] == {"port": 9411}
    assert remote["cleanup"] is None


@pytest.mark.parametrize("limit", LIMITS)
def test_every_kind_status_event_link_and_attribute_type_encodes_as_the_librarys(limit):
    spans = recorded(a_little_of_everything)
    theirs, ours = both(spans, limit)
    assert without_remote(ours) == theirs
    # What the comparison covered, so that it cannot pass on empty spans.
    tags = {key for span in theirs for key in span.get("tags", {})}
    assert {"toast.long", "toast.buttered", "otel.status_code", "error"} <= tags
    if limit != 1:  # at 1 the library drops every sequence, too long as "[]"
        assert {"toast.names", "toast.days", "toast.flags", "team.languages"} <= tags
    assert {span.get("kind") for span in theirs} == {
        "SERVER",
        "CLIENT",
        "PRODUCER",
        "CONSUMER",
        None,
    }
    assert any("annotations" in span for span in theirs)
    assert any("parentId" in span for span in theirs)


@pytest.mark.parametrize("limit", [None, 5])
def test_dropped_attributes_events_and_links_are_counted_as_the_library_counts_them(limit):
    def too_much(tracer):
        caller = SpanContext(1, 2, True)
        links = [Link(caller), Link(SpanContext(1, 3, True))]
        with tracer.start_as_current_span(
            "crowded", attributes=dict.fromkeys("abcd", 1), links=links
        ) as span:
            span.add_event("one")
            span.add_event("two")

    limits = SpanLimits(max_span_attributes=2, max_events=1, max_links=1)
    spans = recorded(too_much, limits=limits)
    theirs, ours = both(spans, limit)
    assert without_remote(ours) == theirs
    assert ours[0]["tags"]["link.span_id"] in {f"{2:016x}", f"{3:016x}"}  # the link kept
    assert {"otel.dropped_attributes_count", "otel.dropped_events_count"} <= set(theirs[0]["tags"])
    assert "otel.dropped_links_count" in theirs[0]["tags"]


def test_spans_made_by_hand_unsampled_without_scope_resource_or_attributes():
    unsampled = SpanContext(5, 6, False, trace_flags=TraceFlags(0))
    spans = [
        ReadableSpan(
            "plain", unsampled, attributes={"a": "b", "n": 7}, start_time=1500, end_time=3499
        ),
        ReadableSpan(
            "bare",
            SpanContext(5, 7, False, TraceFlags(1)),
            parent=unsampled,
            start_time=0,
            end_time=1,
        ),
        ReadableSpan(
            "scoped",
            unsampled,
            resource=Resource({"service.name": "other", "count": 2}),
            instrumentation_scope=InstrumentationScope("lib", None),
            start_time=10,
            end_time=20,
        ),
    ]
    theirs, ours = both(spans)
    assert ours == theirs
    assert "debug" not in theirs[0]
    assert theirs[1]["debug"] is True


def test_resources_and_scopes_are_not_mixed_up_between_spans():
    scope, other_scope = InstrumentationScope("a", "1"), InstrumentationScope("b", None)
    api = Resource.create({"service.name": "api", "extra": "yes"})
    context = SpanContext(5, 6, False, TraceFlags(1))

    def span(resource, scope):
        return ReadableSpan(
            "one", context, resource=resource, instrumentation_scope=scope, start_time=1, end_time=2
        )

    batches = [
        [span(RESOURCE, scope), span(api, scope)],  # one scope, two resources
        [span(RESOURCE, scope), span(RESOURCE, other_scope)],  # one resource, two scopes
        recorded(lambda tracer: tracer.start_span("one").end()) + [span(api, other_scope)],
    ]
    encoder = RemoteEndpointEncoder()
    for batch in batches:
        for spans in (batch, batch[::-1]):
            assert json.loads(encoder.serialize(spans, ENDPOINT)) == json.loads(
                JsonV2Encoder().serialize(spans, ENDPOINT)
            )


def test_what_orjson_cannot_encode_goes_the_standard_librarys_way():
    lone_surrogate = "\udcff"  # not valid UTF-8: orjson refuses it, json escapes it
    spans = recorded(
        lambda tracer: tracer.start_span("odd", attributes={"v": lone_surrogate}).end()
    )
    theirs, ours = both(spans)
    assert ours == theirs


values = st.one_of(
    st.text(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.lists(st.text(max_size=8), max_size=6),
    st.lists(st.integers(), max_size=6),
    st.lists(st.floats(allow_nan=False), max_size=4),
    st.lists(st.booleans(), max_size=4),
)


@settings(max_examples=200, deadline=None)
@given(
    # Keys of any text but the two the encoder writes a span's links into.
    attributes=st.dictionaries(
        st.text(min_size=1, max_size=12).filter(lambda key: key not in LINK_TAGS),
        values,
        max_size=12,
    ),
    limit=st.sampled_from(LIMITS),
    kind=st.sampled_from(list(SpanKind)),
)
def test_any_attributes_encode_as_the_librarys(attributes, limit, kind):
    spans = recorded(
        lambda tracer: tracer.start_span("any", kind=kind, attributes=attributes).end()
    )
    theirs, ours = both(spans, limit)
    assert without_remote(ours) == theirs
