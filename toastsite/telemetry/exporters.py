"""The exporters toastsite sends spans with, and how it wraps them."""

import functools
import ipaddress
import json
import logging
import time
from collections.abc import Callable, Sequence

import orjson
from opentelemetry.exporter.zipkin.encoder import (
    _SCOPE_NAME_KEY,
    _SCOPE_VERSION_KEY,
    NAME_KEY,
    VERSION_KEY,
)
from opentelemetry.exporter.zipkin.json import ZipkinExporter
from opentelemetry.exporter.zipkin.json.v2 import JsonV2Encoder
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import SpanContext, StatusCode

logger = logging.getLogger(__name__)


class RemoteEndpointEncoder(JsonV2Encoder):
    """Zipkin JSON v2, with each span's remote endpoint, in fewer steps.

    Zipkin draws its Dependencies page from `remoteEndpoint.serviceName`, which
    OpenTelemetry's encoder leaves out. Its Zipkin exporter specification maps
    the `peer.service` attribute to it; the address and port come from
    `server.address` (when it is an IP address) and `server.port`.

    Apart from that, the spans are OpenTelemetry's encoder's, field for field
    (tests/telemetry/test_encoder.py), built with a quarter of its work
    (docs/benchmarks.md): the tags of a span's resource and scope, the same on
    every span, are converted once, and the common values (strings, numbers,
    booleans) on a short path; anything else goes the library's way.
    """

    def __init__(self, max_tag_value_length: int | None = None) -> None:
        super().__init__(max_tag_value_length)
        limit = self.max_tag_value_length
        self._limit = limit if limit is not None and limit > 0 else None
        self._fixed: dict[tuple[int, int], tuple[object, object, dict[str, str]]] = {}

    def serialize(self, spans: Sequence[ReadableSpan], local_endpoint) -> str:
        endpoint = self._encode_local_endpoint(local_endpoint)
        encoded = [self._encode_span(span, endpoint) for span in spans]
        try:
            return orjson.dumps(encoded)  # UTF-8 bytes, as Zipkin reads them
        except TypeError:  # text that is not UTF-8 (a lone surrogate), an int past 64 bits
            return json.dumps(encoded)

    def _encode_span(self, span: ReadableSpan, encoded_local_endpoint: dict) -> dict:
        context = span.get_span_context()
        start = span.start_time
        encoded = {
            "traceId": f"{context.trace_id:032x}",
            "id": f"{context.span_id:016x}",
            "name": span.name,
            "timestamp": (start + 500) // 1000,
            "duration": (span.end_time - start + 500) // 1000,
            "localEndpoint": encoded_local_endpoint,
            "kind": self.SPAN_KIND_MAP[span.kind],
        }
        attributes = _plain(span)
        tags = self._tags(span, attributes)
        if tags:
            encoded["tags"] = tags
        if events := span.events:
            encoded["annotations"] = self._extract_annotations_from_events(events)
        if context.trace_flags.sampled:
            encoded["debug"] = True
        parent = span.parent
        if isinstance(parent, SpanContext):
            encoded["parentId"] = f"{parent.span_id:016x}"
        elif parent is not None and (parent_id := self._get_parent_id(parent)) is not None:
            encoded["parentId"] = self._encode_span_id(parent_id)
        if remote := self._remote_endpoint(attributes):
            encoded["remoteEndpoint"] = remote
        if links := span.links:
            # Zipkin's model has no links, and OpenTelemetry's encoder drops them
            # without a trace; as tags, a link can be read, and searched for.
            tags = encoded.setdefault("tags", {})
            tags["link.trace_id"] = ",".join(f"{link.context.trace_id:032x}" for link in links)
            tags["link.span_id"] = ",".join(f"{link.context.span_id:016x}" for link in links)
        return encoded

    def _tags(self, span: ReadableSpan, attributes) -> dict[str, str]:
        # The library's order: the span's attributes, its resource's, its scope's.
        tags = {}
        limit = self._limit
        for key, value in attributes.items():
            kind = type(value)
            if kind is str:
                text = value
            elif kind is bool:
                text = "true" if value else "false"
            elif kind is int or kind is float:
                text = str(value)
            else:  # sequences, and anything unusual: the library's conversion
                tags.update(self._extract_tags_from_dict({key: value}))
                continue
            tags[key] = text[:limit] if limit else text
        tags.update(self._fixed_tags(span.resource, span.instrumentation_scope))
        status = span.status
        if status.status_code is not StatusCode.UNSET:
            tags["otel.status_code"] = status.status_code.name
            if status.status_code is StatusCode.ERROR:
                tags["error"] = status.description or ""
        for count, tag in (
            (span.dropped_attributes, "otel.dropped_attributes_count"),
            (span.dropped_events, "otel.dropped_events_count"),
            (span.dropped_links, "otel.dropped_links_count"),
        ):
            if count:
                tags[tag] = str(count)
        return tags

    def _fixed_tags(self, resource, scope) -> dict[str, str]:
        """The tags of a resource and scope, converted once: a process has one
        resource and a few scopes (kept here, so that their ids stay theirs)."""
        key = (id(resource), id(scope))
        if (cached := self._fixed.get(key)) is not None:
            return cached[2]
        tags = self._extract_tags_from_dict(resource.attributes) if resource else {}
        if scope is not None:
            tags.update(
                {
                    NAME_KEY: scope.name,
                    VERSION_KEY: scope.version,
                    _SCOPE_NAME_KEY: scope.name,
                    _SCOPE_VERSION_KEY: scope.version,
                }
            )
        if len(self._fixed) >= 256:  # never reached by one process's few scopes
            self._fixed.clear()
        self._fixed[key] = (resource, scope, tags)
        return tags

    @staticmethod
    def _remote_endpoint(attributes) -> dict:
        remote = {}
        if service := attributes.get("peer.service"):
            remote["serviceName"] = service
        if (address := attributes.get("server.address")) and (ip := _ip_address(address)):
            remote[ip[0]] = ip[1]
        if port := attributes.get("server.port"):
            remote["port"] = port
        return remote


def _plain(span: ReadableSpan):
    """The span's attributes as the dict the SDK keeps them in (its public
    `attributes` is a read-only view that reads them key by key, in Python)."""
    stored = getattr(span, "_attributes", None)
    plain = getattr(stored, "_dict", None)
    return plain if type(plain) is dict else span.attributes


@functools.lru_cache(maxsize=256)
def _ip_address(address: str) -> tuple[str, str] | None:
    """("ipv4", "10.0.0.1") for an IP address; None for a host name, which
    Zipkin's endpoint does not take. A site talks to few addresses: cached."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    return f"ipv{ip.version}", str(ip)


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
        self,
        exporter: SpanExporter,
        endpoint: str,
        backend: str,
        interval: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._exporter = exporter
        self._endpoint = endpoint
        self._backend = backend
        self._interval = interval
        self._clock = clock
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
        now = self._clock()
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
