"""The exporters' wrapper: a backend that is away costs one warning a minute,
on a clock the test moves by hand."""

import logging

from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from toastsite.telemetry.exporters import WarnOnFailure


class Backend(SpanExporter):
    """An exporter whose backend is up or down, as the test says."""

    def __init__(self) -> None:
        self.up = False

    def export(self, spans) -> SpanExportResult:
        if not self.up:
            raise ConnectionError("Connection refused")
        return SpanExportResult.SUCCESS


def test_a_backend_away_is_one_warning_a_minute_and_its_return_is_said(caplog):
    backend, now = Backend(), [1000.0]
    exporter = WarnOnFailure(
        backend, "http://127.0.0.1:9411/api/v2/spans", "Zipkin", clock=lambda: now[0]
    )

    def warnings_after(seconds: float) -> int:
        now[0] = 1000.0 + seconds
        exporter.export([])
        return sum("Cannot export spans" in r.message for r in caplog.records)

    with caplog.at_level(logging.WARNING, logger="toastsite.telemetry.exporters"):
        assert [warnings_after(t) for t in (0, 1, 10, 30, 59.9)] == [1, 1, 1, 1, 1]
        assert warnings_after(60) == 2  # a minute after the first
        assert warnings_after(119.9) == 2
        assert warnings_after(120) == 3
        backend.up = True
        assert exporter.export([]) is SpanExportResult.SUCCESS
    messages = [r.message for r in caplog.records]
    assert messages[0].startswith(
        "Cannot export spans to http://127.0.0.1:9411/api/v2/spans (ConnectionError: "
        "Connection refused); dropped 0 spans. Is Zipkin running?"
    )
    assert messages[-1] == "Exporting spans to http://127.0.0.1:9411/api/v2/spans works again."
