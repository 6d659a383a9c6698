"""HTTP, in and out: names for the client spans of the pages' API calls, and
the request URI that the Django instrumentation needs from runserver."""

import contextlib
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from urllib.parse import quote

from django.conf import settings
from django.http.request import split_domain_port
from opentelemetry import trace

from toastsite.telemetry import logs

_outbound_route: ContextVar[str | None] = ContextVar("outbound_route", default=None)


def server_request_hook(span: trace.Span, request) -> None:
    # Log lines written after the span ends still name it (see logs.py).
    logs.serving(span.get_span_context())
    # The instrumentation (0.66b1) puts the whole Host header, port and all, in
    # server.address; the conventions keep the port apart, in server.port.
    if span.is_recording() and (host := request.META.get("HTTP_HOST")):
        span.set_attribute("server.address", split_domain_port(host)[0] or host)


def request_started_untraced(**kwargs) -> None:
    logs.serving(None)  # until the request's span begins, if it gets one


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


def name_client_span(span: trace.Span, request) -> None:
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
