"""Every log line about a request names its trace, even those written after its
span has ended: the access line and Django's line about an error answer."""

from tests.support.http import traceresponse


def lines_with(log: str, text: str) -> list[str]:
    return [line for line in log.splitlines() if text in line]


def test_runserver_access_and_error_lines_carry_the_trace_id(visitor, runserver_site):
    site = runserver_site(OTEL_TRACES_EXPORTER="none", TOAST_API_URL="http://127.0.0.1:9")
    failed = traceresponse(visitor.get(f"{site.url}/toasts/"))  # the API is down: 503
    served = traceresponse(visitor.get(f"{site.url}/api/toasts/"))
    site.stop()
    log = site.log()

    (access,) = lines_with(log, '"GET /toasts/ HTTP/1.1" 503')
    (error,) = lines_with(log, "Service Unavailable: /toasts/")
    (warning,) = lines_with(log, "Toast service unavailable")
    for line in (access, error, warning):
        assert f"[trace_id={failed.trace_id} " in line
    (ok,) = lines_with(log, '"GET /api/toasts/ HTTP/1.1" 200')
    assert f"[trace_id={served.trace_id} span_id={served.span_id}]" in ok


def test_an_untraced_request_is_not_given_another_requests_trace_id(visitor, runserver_site):
    site = runserver_site(OTEL_TRACES_EXPORTER="none")
    visitor.get(f"{site.url}/api/toasts/")
    visitor.get(f"{site.url}/health/")  # never traced
    site.stop()
    (health,) = lines_with(site.log(), '"GET /health/ HTTP/1.1" 200')
    assert "[trace_id=- span_id=-]" in health
