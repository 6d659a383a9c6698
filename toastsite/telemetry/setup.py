"""toastsite's OpenTelemetry setup, in one place.

`setup()` runs once in each serving process, from wsgi.py and asgi.py: that
covers runserver's serving child and every gunicorn worker, and leaves
`migrate`, `shell` and `test` untraced. It reads the standard OTEL_* variables
(see settings.py) and instruments Django (server spans), requests (client
spans), the ORM (one span per SQL statement: sql.py) and Celery (celery.py,
which also calls it in workers and beat). Its neighbours:
http.py names the spans of HTTP in and out, exporters.py sends them, logs.py
puts the trace ids in log lines, links.py links a page to its trace.
"""

import logging
import os
import socket

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import request_started
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.signals import connection_created
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

from toastsite.telemetry import celery, exporters, http, sql

logger = logging.getLogger(__name__)

_configured = False


def setup(processor: SpanProcessor | None = None, service: str | None = None) -> None:
    """Set tracing up for this process; later calls do nothing.

    `processor` replaces the exporters chosen by OTEL_TRACES_EXPORTER: the
    tests pass one that keeps spans in memory. `service` names a process that
    serves no role's HTTP (Celery's worker and beat: celery.py).
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
    provider = TracerProvider(resource=_resource(service))
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
        request_hook=http.server_request_hook,
    )
    request_started.connect(http.request_started_untraced)
    RequestsInstrumentor().instrument(tracer_provider=provider, request_hook=http.name_client_span)
    connection_created.connect(_trace_queries)
    for connection in connections.all(initialized_only=True):  # opened before setup()
        _trace_queries(connection=connection)
    celery.instrument(provider, use_span_links=settings.QUEUE_SPAN_LINKS)


def _trace_queries(sender: object = None, *, connection: BaseDatabaseWrapper, **kwargs) -> None:
    # Per connection object, which outlives reconnects: add the hook once.
    if sql.sql_span not in connection.execute_wrappers:
        connection.execute_wrappers.append(sql.sql_span)


def _resource(service: str | None = None) -> Resource:
    defaults = Resource.create(
        {
            "service.name": service or settings.SERVICE_NAME,
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
