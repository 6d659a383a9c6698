"""The health URL that probes call: cheap, honest about the database, and
never in a trace."""

from tests.support.servers import database_outage


def test_health_answers_and_makes_no_span(visitor, runserver_site, zipkin_receiver):
    site = runserver_site(OTEL_EXPORTER_ZIPKIN_ENDPOINT=zipkin_receiver.endpoint)
    for _ in range(3):
        response = visitor.get(f"{site.url}/health/")
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}
        assert "traceresponse" not in response.headers
    # Spans leave in the order they end: once this later request's trace is in,
    # any span of the health checks before it would be too.
    assert zipkin_receiver.trace(visitor.get(f"{site.url}/api/toasts/"))
    paths = {s["tags"].get("url.path") for s in zipkin_receiver.spans}
    assert "/api/toasts/" in paths
    assert "/health/" not in paths


def test_the_frontend_is_healthy_without_a_database(visitor, runserver_site):
    site = runserver_site(TOASTSITE_ROLE="frontend", TOAST_API_URL="http://127.0.0.1:9")
    assert visitor.get(f"{site.url}/health/").json() == {"status": "ok"}


def test_the_api_is_unhealthy_while_its_database_is_away(visitor, runserver_site, server_database):
    site = runserver_site(TOASTSITE_ROLE="api", OTEL_TRACES_EXPORTER="none")
    with database_outage(server_database):
        visitor.close()  # a new connection: a new server thread, with no database connection
        response = visitor.get(f"{site.url}/health/", headers={"Connection": "close"})
    assert response.status_code == 503
    assert response.json() == {"status": "database unavailable"}
    visitor.close()
    assert visitor.get(f"{site.url}/health/").status_code == 200
