"""The site under gunicorn, as in production: every worker traces on its own,
and every log line about a request names its trace."""

from tests.support.http import traceresponse


def test_each_gunicorn_worker_exports_its_own_spans(visitor, gunicorn_site, zipkin_receiver):
    site = gunicorn_site(
        OTEL_EXPORTER_ZIPKIN_ENDPOINT=zipkin_receiver.endpoint,
        OTEL_BSP_SCHEDULE_DELAY="100",
        WEB_CONCURRENCY="2",
    )
    instances: set[str] = set()
    for _ in range(60):  # new connections, which either worker may accept
        response = visitor.get(f"{site.url}/api/toasts/", headers={"Connection": "close"})
        visitor.close()
        spans = zipkin_receiver.trace(response)
        instances |= {s["tags"]["service.instance.id"] for s in spans}
        if len(instances) == 2:
            break
    assert len(instances) == 2


def test_the_access_line_carries_the_requests_trace_id(visitor, gunicorn_site):
    site = gunicorn_site(OTEL_TRACES_EXPORTER="none")
    trace_id = traceresponse(visitor.get(f"{site.url}/api/toasts/")).trace_id
    site.stop()
    (line,) = [x for x in site.log().splitlines() if '"GET /api/toasts/ HTTP/1.1" 200' in x]
    assert "gunicorn.access" in line
    assert f"[trace_id={trace_id} span_id=" in line
