"""The road past the Zipkin exporter: the site sends OTLP to a real
OpenTelemetry Collector, which sends the same traces on to the same Zipkin."""

import time

import pytest

from tests.support.http import traceresponse
from tests.support.polling import eventually
from tests.support.zipkin import dependencies, fetch_trace, services

pytestmark = pytest.mark.e2e


def shape(spans: list[dict]) -> list[tuple]:
    """What a trace is made of: each span's service, name, kind and parent's name."""
    name_of = {s["id"]: s["name"] for s in spans}
    return sorted(
        (
            s["localEndpoint"]["serviceName"],
            s["name"],
            s.get("kind", "INTERNAL"),
            name_of.get(s.get("parentId", ""), ""),
        )
        for s in spans
    )


def test_one_variable_sends_the_same_trace_through_the_collector(
    visitor, split, to_zipkin, zipkin_server, collector
):
    direct, _ = split(**to_zipkin)
    response = visitor.get(f"{direct.url}/")
    expected = fetch_trace(
        zipkin_server, traceresponse(response).trace_id, until=lambda spans: len(spans) >= 11
    )

    # Keep every trace and decide quickly: this is about the way, not sampling.
    endpoint = collector(COLLECTOR_SAMPLE_PERCENT="100", COLLECTOR_DECISION_WAIT="1s").endpoint
    frontend, _ = split(OTEL_TRACES_EXPORTER="otlp", OTEL_EXPORTER_OTLP_ENDPOINT=endpoint)
    since_ms = int(time.time() * 1000) - 1
    response = visitor.get(f"{frontend.url}/")
    assert response.status_code == 200
    spans = fetch_trace(
        zipkin_server,
        traceresponse(response).trace_id,
        until=lambda spans: len(spans) >= len(expected),
        timeout=30,
    )
    assert services(spans) == {"frontend", "api"}
    assert shape(spans) == shape(expected)  # the same spans, services and parents

    eventually(
        lambda: dependencies(zipkin_server, since_ms).get(("frontend", "api")) == 2,
        "the frontend -> api link to count 2 calls",
    )
