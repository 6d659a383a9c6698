"""Which trace a page belongs to: its id, its address in the Zipkin UI for the
footer, and the W3C `traceresponse` header that tells a caller the same."""

from typing import NamedTuple

from django.conf import settings
from django.http import HttpRequest
from opentelemetry import trace


def trace_links() -> dict[str, str]:
    """The current trace's id and its address in the Zipkin UI, if it is recorded."""
    trace_id = current_trace_id()
    if trace_id is None:
        return {}
    return {"trace_id": trace_id, "trace_url": f"{settings.ZIPKIN_UI_URL}/traces/{trace_id}"}


def current_trace_id() -> str | None:
    """The current trace's id as Zipkin shows it, if this request is traced and sampled."""
    context = trace.get_current_span().get_span_context()
    if not (context.is_valid and context.trace_flags.sampled):
        return None
    return trace.format_trace_id(context.trace_id)


def trace_link(request: HttpRequest) -> dict:
    """A context processor: the page's trace id, its address, and when Zipkin
    will have it, for the footer."""
    links = trace_links()
    return {**links, "trace_note": when_in_zipkin()} if links else {}


def when_in_zipkin() -> str:
    """When a trace followed from its page is there: a link followed too soon,
    or to a trace a tail sampler drops, opens an empty page in the Zipkin UI."""
    if "otlp" in settings.OTEL_TRACES_EXPORTER:
        return (
            "The Collector decides whether to keep it about 10 s after the page; "
            "until then, and if it drops it, Zipkin shows nothing."
        )
    if {"zipkin", "zipkin_json"} & set(settings.OTEL_TRACES_EXPORTER):
        every = f"{settings.OTEL_BSP_SCHEDULE_DELAY / 1000:g}"
        return f"Its spans leave for Zipkin in batches, every {every} s."
    return ""


class TraceResponse(NamedTuple):
    trace_id: str
    span_id: str
    sampled: bool


def parse_traceresponse(header: str | None) -> TraceResponse | None:
    """A `traceresponse` header (version-traceid-spanid-flags), or None if it is
    missing or malformed: the trace that served a response."""
    parts = (header or "").split("-")
    if len(parts) != 4:
        return None
    _, trace_id, span_id, flags = parts
    try:
        sampled = bool(int(flags, 16) & 1)
    except ValueError:
        return None
    return TraceResponse(trace_id, span_id, sampled)
