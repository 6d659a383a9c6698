"""Log lines that say which trace they belong to, under runserver, gunicorn and uvicorn.

Lines written inside a span carry its ids. Some lines about a request are
written after its span has ended: the access line, and Django's `django.request`
line about a 4xx or 5xx answer. For those, the request's context remembers the
span of the request it serves (http.py tells it when a request begins).

A context variable, not a thread-local: under WSGI each request is served on
one thread, whose context lasts until its next request, so the two behave
alike. Under ASGI the span begins on a worker thread, Django writes its
`django.request` line on another, and uvicorn its access line on the event
loop; asgiref carries context variables between them (and copies back what a
worker thread set), never thread-locals.
"""

import logging
from contextvars import ContextVar

from opentelemetry import trace

_serving: ContextVar[trace.SpanContext | None] = ContextVar("serving", default=None)


def serving(span_context: trace.SpanContext | None) -> None:
    """This request is now served under `span_context` (None: untraced)."""
    _serving.set(span_context)


class TraceContextFilter(logging.Filter):
    """Adds trace_id and span_id to every log record ("-" where no trace is)."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = trace.get_current_span().get_span_context()
        if not context.is_valid:
            context = _serving.get() or context
        record.trace_id = trace.format_trace_id(context.trace_id) if context.is_valid else "-"
        record.span_id = trace.format_span_id(context.span_id) if context.is_valid else "-"
        return True


def config(level: str) -> dict:
    """The logging configuration of Django (settings.LOGGING, which uvicorn's
    loggers get too, as Django sets up after them) and of gunicorn
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
        # Django's, gunicorn's and uvicorn's own loggers print once, through the handler above.
        "loggers": {
            name: {"handlers": ["console"], "level": "INFO", "propagate": False}
            for name in (
                "django",
                "gunicorn.error",
                "gunicorn.access",
                "uvicorn",
                "uvicorn.error",
                "uvicorn.access",
            )
        },
    }
