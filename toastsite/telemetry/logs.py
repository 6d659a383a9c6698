"""Log lines that say which trace they belong to, under runserver and gunicorn.

Lines written inside a span carry its ids. Some lines about a request are
written after its span has ended: the access line, and Django's `django.request`
line about a 4xx or 5xx answer. For those, each serving thread remembers the
span of the request it serves (http.py tells it when a request begins), until
its next request.
"""

import logging
import threading

from opentelemetry import trace

_serving = threading.local()


def serving(span_context: trace.SpanContext | None) -> None:
    """This thread now serves a request under `span_context` (None: untraced)."""
    _serving.span_context = span_context


class TraceContextFilter(logging.Filter):
    """Adds trace_id and span_id to every log record ("-" where no trace is)."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = trace.get_current_span().get_span_context()
        if not context.is_valid:
            context = getattr(_serving, "span_context", None) or context
        record.trace_id = trace.format_trace_id(context.trace_id) if context.is_valid else "-"
        record.span_id = trace.format_span_id(context.span_id) if context.is_valid else "-"
        return True


def config(level: str) -> dict:
    """The logging configuration of Django (settings.LOGGING) and of gunicorn
    (gunicorn.conf.py): one format, with the trace ids, on standard error."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"trace": {"()": "toastsite.telemetry.logs.TraceContextFilter"}},
        "formatters": {
            "plain": {
                "format": "%(asctime)s %(levelname)s %(name)s "
                "[trace_id=%(trace_id)s span_id=%(span_id)s] %(message)s",
            },
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "plain",
                "filters": ["trace"],
            },
        },
        "root": {"handlers": ["console"], "level": level},
        # Django's and gunicorn's own loggers print once, through the handler above.
        "loggers": {
            name: {"handlers": ["console"], "level": "INFO", "propagate": False}
            for name in ("django", "gunicorn.error", "gunicorn.access")
        },
    }
