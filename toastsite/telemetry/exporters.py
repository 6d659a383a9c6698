"""The exporters toastsite sends spans with, and how it wraps them."""

import ipaddress
import logging
import time
from collections.abc import Sequence

from opentelemetry.exporter.zipkin.json import ZipkinExporter
from opentelemetry.exporter.zipkin.json.v2 import JsonV2Encoder
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import format_span_id, format_trace_id

logger = logging.getLogger(__name__)


class RemoteEndpointEncoder(JsonV2Encoder):
    """Zipkin JSON v2, with each CLIENT span's remote endpoint.

    Zipkin draws its Dependencies page from `remoteEndpoint.serviceName`, which
    OpenTelemetry's encoder leaves out. Its Zipkin exporter specification maps
    the `peer.service` attribute to it; the address and port come from
    `server.address` (when it is an IP address) and `server.port`.
    """

    def _encode_span(self, span: ReadableSpan, encoded_local_endpoint: dict) -> dict:
        encoded = super()._encode_span(span, encoded_local_endpoint)
        attributes = span.attributes or {}
        remote = {}
        if service := attributes.get("peer.service"):
            remote["serviceName"] = service
        if address := attributes.get("server.address"):
            try:
                ip = ipaddress.ip_address(address)
                remote[f"ipv{ip.version}"] = str(ip)
            except ValueError:
                pass  # a host name: Zipkin's endpoint takes addresses only
        if port := attributes.get("server.port"):
            remote["port"] = port
        if remote:
            encoded["remoteEndpoint"] = remote
        if span.links:
            # Zipkin's model has no links, and OpenTelemetry's encoder drops them
            # without a trace; as tags, a link can be read, and searched for.
            tags = encoded.setdefault("tags", {})
            contexts = [link.context for link in span.links]
            tags["link.trace_id"] = ",".join(format_trace_id(c.trace_id) for c in contexts)
            tags["link.span_id"] = ",".join(format_span_id(c.span_id) for c in contexts)
        return encoded


class ZipkinJsonExporter(ZipkinExporter):
    """OpenTelemetry's Zipkin JSON v2 exporter, with remote endpoints."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.encoder = RemoteEndpointEncoder(self.encoder.max_tag_value_length)


class WarnOnFailure(SpanExporter):
    """Wraps an exporter so that a dead backend costs one warning a minute.

    Without it, the batch processor logs a full traceback for every batch it
    fails to send. A failed batch is dropped either way: spans are not queued
    up for later, so memory stays bounded while the backend is away.
    """

    def __init__(
        self, exporter: SpanExporter, endpoint: str, backend: str, interval: float = 60.0
    ) -> None:
        self._exporter = exporter
        self._endpoint = endpoint
        self._backend = backend
        self._interval = interval
        self._last_warning: float | None = None
        # OpenTelemetry's exporter would log an error per batch too; we report instead.
        for cls in type(exporter).__mro__:
            if cls.__module__.startswith("opentelemetry.exporter."):
                logging.getLogger(cls.__module__).setLevel(logging.CRITICAL)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        try:
            result = self._exporter.export(spans)
            problem = "" if result is SpanExportResult.SUCCESS else "the export was refused"
        except Exception as exc:  # noqa: BLE001 - any failure means the same: drop and warn
            result, problem = SpanExportResult.FAILURE, f"{type(exc).__name__}: {exc}"
        if problem:
            self._warn(len(spans), problem)
        elif self._last_warning is not None:
            logger.warning("Exporting spans to %s works again.", self._endpoint)
            self._last_warning = None
        return result

    def _warn(self, count: int, problem: str) -> None:
        now = time.monotonic()
        if self._last_warning is not None and now - self._last_warning < self._interval:
            return
        self._last_warning = now
        logger.warning(
            "Cannot export spans to %s (%s); dropped %d spans. "
            "Is %s running? This warning repeats at most once a minute.",
            self._endpoint,
            problem,
            count,
            self._backend,
        )

    def shutdown(self) -> None:
        self._exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._exporter.force_flush(timeout_millis)
