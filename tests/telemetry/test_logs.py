"""Every log line about a request names its trace, even those written after its
span has ended: the access line and Django's line about an error answer. Under
WSGI (runserver) and ASGI (uvicorn, whose access line is written on its event
loop, and Django's error line on another thread than the span's)."""

from tests.support.http import traceresponse
from tests.support.polling import eventually


def lines_with(log: str, text: str) -> list[str]:
    return [line for line in log.splitlines() if text in line]


def stop_once_logged(site, text: str) -> str:
    """Stops the site once its log has a line with `text`, and returns the log:
    runserver writes a request's access line after the visitor has the answer."""
    eventually(lambda: lines_with(site.log(), text), f"a log line with {text}")
    site.stop()
    return site.log()


def test_access_and_error_lines_carry_the_trace_id(visitor, site_server):
    site = site_server(OTEL_TRACES_EXPORTER="none", TOAST_API_URL="http://127.0.0.1:9")
    failed = traceresponse(visitor.get(f"{site.url}/toasts/"))  # the API is down: 503
    served = traceresponse(visitor.get(f"{site.url}/api/toasts/"))
    log = stop_once_logged(site, '"GET /api/toasts/ HTTP/1.1" 200')

    (access,) = lines_with(log, '"GET /toasts/ HTTP/1.1" 503')
    (error,) = lines_with(log, "Service Unavailable: /toasts/")
    (warning,) = lines_with(log, "Toast service unavailable")
    for line in (access, error, warning):
        assert f"[trace_id={failed.trace_id} " in line
    (ok,) = lines_with(log, '"GET /api/toasts/ HTTP/1.1" 200')
    assert f"[trace_id={served.trace_id} span_id={served.span_id}]" in ok


def test_an_untraced_request_is_not_given_another_requests_trace_id(visitor, site_server):
    site = site_server(OTEL_TRACES_EXPORTER="none")
    visitor.get(f"{site.url}/api/toasts/")
    visitor.get(f"{site.url}/health/")  # never traced
    log = stop_once_logged(site, '"GET /health/ HTTP/1.1" 200')
    (health,) = lines_with(log, '"GET /health/ HTTP/1.1" 200')
    assert "[trace_id=- span_id=-]" in health
