"""What makes no span, under runserver, gunicorn and uvicorn alike: static files
(the site's CSS and favicon, the admin's CSS) and the health check."""

import pytest

PATHS = [
    "/static/toastsite/site.css",
    "/static/toastsite/favicon.svg",
    "/static/admin/css/base.css",
    "/health/",
]


@pytest.fixture(params=["runserver", "gunicorn", "uvicorn"])
def served_site(request, runserver_site, gunicorn_site, uvicorn_site, zipkin_receiver):
    start = {"runserver": runserver_site, "gunicorn": gunicorn_site, "uvicorn": uvicorn_site}
    return start[request.param](OTEL_EXPORTER_ZIPKIN_ENDPOINT=zipkin_receiver.endpoint)


def test_static_files_and_the_health_check_make_no_span(visitor, served_site, zipkin_receiver):
    for path in PATHS:
        response = visitor.get(f"{served_site.url}{path}")
        assert response.status_code == 200, path
        assert "traceresponse" not in response.headers, path
    # Spans leave in the order they end: once this later page's trace is in,
    # a span of any request before it would be too.
    assert zipkin_receiver.trace(visitor.get(f"{served_site.url}/toasts/"))
    paths = {span["tags"].get("url.path") for span in zipkin_receiver.spans}
    assert "/toasts/" in paths
    assert not paths & set(PATHS)
