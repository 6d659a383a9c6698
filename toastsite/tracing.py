"""toastsite's OpenTelemetry setup, in one place.

`setup()` runs once in each serving process, from wsgi.py and asgi.py: that
covers runserver's serving child and every gunicorn worker, and leaves
`migrate`, `shell` and `test` untraced. It reads the standard OTEL_* variables
(see settings.py) and instruments Django (server spans), requests (client
spans) and the ORM (one span per SQL statement: sql.py). The exporters it
chooses from OTEL_TRACES_EXPORTER are in exporters.py; logs.py puts the trace
ids in log lines.
"""

import contextlib
import logging
import os
import socket
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from urllib.parse import quote

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import request_started
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.signals import connection_created
from django.http.request import split_domain_port
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.django import DjangoInstrumentor
from opentelemetry.instrumentation.propagators import (
    TraceResponsePropagator,
    set_global_response_propagator,
)
from opentelemetry.instrumentation.requests import RequestsInstrumentor
from opentelemetry.propagate import set_global_textmap
from opentelemetry.propagators.textmap import TextMapPropagator
from opentelemetry.sdk.resources import OTELResourceDetector, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
    SpanProcessor,
)
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from toastsite import exporters, logs, sql

logger = logging.getLogger(__name__)

_outbound_route: ContextVar[str | None] = ContextVar("outbound_route", default=None)
_configured = False
_tracer = trace.get_tracer(__name__)


def setup(processor: SpanProcessor | None = None) -> None:
    """Set tracing up for this process; later calls do nothing.

    `processor` replaces the exporters chosen by OTEL_TRACES_EXPORTER: the
    tests pass one that keeps spans in memory.
    """
    global _configured
    if _configured:
        return
    _configured = True
    if settings.OTEL_SDK_DISABLED:
        logger.info("Tracing is off (OTEL_SDK_DISABLED).")
        return
    if isinstance(trace.get_tracer_provider(), TracerProvider):
        # Set up before us, by zero-code `opentelemetry-instrument`: leave it be.
        logger.info("Tracing was set up already; toastsite's own setup is skipped.")
        return

    # The instrumentations read the conventions to follow from the environment.
    os.environ["OTEL_SEMCONV_STABILITY_OPT_IN"] = settings.OTEL_SEMCONV_STABILITY_OPT_IN
    provider = TracerProvider(resource=_resource())
    processors = [processor] if processor else _processors_from_env()
    for each in processors:
        provider.add_span_processor(each)
    trace.set_tracer_provider(provider)

    # The SDK read OTEL_PROPAGATORS itself, but unset it means
    # "tracecontext,baggage" there, and "none" breaks Django (see NoPropagation).
    if "none" in settings.OTEL_PROPAGATORS:
        set_global_textmap(NoPropagation())
    elif settings.OTEL_PROPAGATORS == ["tracecontext"]:
        set_global_textmap(TraceContextTextMapPropagator())
    set_global_response_propagator(TraceResponsePropagator())

    DjangoInstrumentor().instrument(
        tracer_provider=provider,
        excluded_urls=settings.OTEL_PYTHON_DJANGO_EXCLUDED_URLS,
        request_hook=_serving,
    )
    request_started.connect(_untraced_so_far)
    RequestsInstrumentor().instrument(tracer_provider=provider, request_hook=_name_client_span)
    connection_created.connect(_trace_queries)
    for connection in connections.all(initialized_only=True):  # opened before setup()
        _trace_queries(connection=connection)


def _serving(span: trace.Span, request) -> None:
    # Log lines written after the span ends still name it (see logs.py).
    logs.serving(span.get_span_context())
    # The instrumentation (0.66b1) puts the whole Host header, port and all, in
    # server.address; the conventions keep the port apart, in server.port.
    if span.is_recording() and (host := request.META.get("HTTP_HOST")):
        span.set_attribute("server.address", split_domain_port(host)[0] or host)


def _untraced_so_far(**kwargs) -> None:
    logs.serving(None)  # until the request's span begins, if it gets one


def _trace_queries(sender: object = None, *, connection: BaseDatabaseWrapper, **kwargs) -> None:
    # Per connection object, which outlives reconnects: add the hook once.
    if sql.sql_span not in connection.execute_wrappers:
        connection.execute_wrappers.append(sql.sql_span)


def _resource() -> Resource:
    defaults = Resource.create(
        {
            "service.name": settings.SERVICE_NAME,
            "service.version": settings.VERSION,
            "deployment.environment": settings.DEPLOYMENT_ENVIRONMENT,
            "host.name": socket.gethostname(),
        }
    )
    # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win over our defaults.
    return defaults.merge(OTELResourceDetector().detect())


def _processors_from_env() -> list[SpanProcessor]:
    processors: list[SpanProcessor] = []
    for name in settings.OTEL_TRACES_EXPORTER:
        if name in {"zipkin", "zipkin_json"}:
            # "zipkin" means Zipkin's JSON v2 here; OpenTelemetry's own entry point
            # for that name is the protobuf exporter, which we do not install.
            zipkin = exporters.ZipkinJsonExporter(local_node_ipv4=_host_ip())
            processors.append(_batches(exporters.WarnOnFailure(zipkin, zipkin.endpoint, "Zipkin")))
        elif name == "otlp":
            # OTLP over HTTP, to an OpenTelemetry Collector; the exporter reads
            # OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT, _TIMEOUT and _HEADERS itself.
            otlp = OTLPSpanExporter()
            collector = "the OpenTelemetry Collector"
            processors.append(_batches(exporters.WarnOnFailure(otlp, otlp._endpoint, collector)))
        elif name == "console":
            processors.append(_batches(ConsoleSpanExporter()))
        elif name != "none":
            raise ImproperlyConfigured(f"OTEL_TRACES_EXPORTER: unknown exporter {name!r}")
    return processors


def _batches(exporter: SpanExporter) -> BatchSpanProcessor:
    # Sent from a background thread, every OTEL_BSP_SCHEDULE_DELAY ms: short in
    # development, so that a trace is in Zipkin by the time you follow its link.
    return BatchSpanProcessor(exporter, schedule_delay_millis=settings.OTEL_BSP_SCHEDULE_DELAY)


def _host_ip() -> str | None:
    try:
        return socket.gethostbyname(socket.gethostname())
    except OSError:
        return None


class NoPropagation(TextMapPropagator):
    """OTEL_PROPAGATORS=none: never read nor write trace headers.

    OpenTelemetry's own "none" returns no context at all from extract(), and
    the Django middleware then fails every request; this returns an empty one,
    so each service starts traces of its own.
    """

    def extract(self, carrier, context: Context | None = None, getter=None) -> Context:
        return context if context is not None else Context()

    def inject(self, carrier, context: Context | None = None, setter=None) -> None:
        pass

    @property
    def fields(self) -> set[str]:
        return set()


@contextlib.contextmanager
def outbound_route(template: str) -> Iterator[None]:
    """Name the client spans of requests made inside after `template`.

    The requests instrumentation names its spans just "GET"; with this, a call
    reads "GET /api/toasts/{id}/" in Zipkin.
    """
    token = _outbound_route.set(template)
    try:
        yield
    finally:
        _outbound_route.reset(token)


def _name_client_span(span: trace.Span, request) -> None:
    template = _outbound_route.get()
    if template and span.is_recording():
        span.update_name(f"{request.method} {template}")
        span.set_attribute("url.template", template)
        # Zipkin's Dependencies page draws the call to the service named here.
        span.set_attribute("peer.service", settings.TOAST_API_SERVICE_NAME)


def with_request_uri(application: Callable) -> Callable:
    """Wraps a WSGI app so that each request says what its URI was.

    Without RAW_URI or REQUEST_URI from the server, OpenTelemetry rebuilds the
    URL for `http.url` from Django's already decoded path, and a path outside
    Latin-1 (say /%F0%9F%8D%9E) fails every request with a 500. gunicorn sets
    RAW_URI; runserver sets neither, so we set REQUEST_URI here, before Django
    decodes anything.
    """

    def app(environ: dict, start_response: Callable) -> Iterable[bytes]:
        if "RAW_URI" not in environ and "REQUEST_URI" not in environ:
            path = quote(
                environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", ""), "/;=,", "latin-1"
            )
            query = environ.get("QUERY_STRING")
            environ["REQUEST_URI"] = f"{path}?{query}" if query else path
        return application(environ, start_response)

    return app


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
