"""The health URL that probes call: cheap, honest about the database, and
never in a trace."""

import time

from tests.support.servers import database_outage


def test_health_answers_and_makes_no_span(visitor, site_server, zipkin_receiver):
    site = site_server(OTEL_EXPORTER_ZIPKIN_ENDPOINT=zipkin_receiver.endpoint)
    for _ in range(3):
        response = visitor.get(f"{site.url}/health/")
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}
        assert "traceresponse" not in response.headers
    assert zipkin_receiver.trace(visitor.get(f"{site.url}/api/toasts/"))  # a batch went out
    time.sleep(0.5)
    assert not [s for s in zipkin_receiver.spans if "health" in str(s)]


def test_the_frontend_is_healthy_without_a_database(visitor, site_server):
    site = site_server(TOASTSITE_ROLE="frontend", TOAST_API_URL="http://127.0.0.1:9")
    assert visitor.get(f"{site.url}/health/").json() == {"status": "ok"}


def test_the_api_is_unhealthy_while_its_database_is_away(visitor, site_server, server_database):
    site = site_server(TOASTSITE_ROLE="api", OTEL_TRACES_EXPORTER="none")
    with database_outage(server_database):
        visitor.close()  # a new connection: a new server thread, with no database connection
        response = visitor.get(f"{site.url}/health/", headers={"Connection": "close"})
    assert response.status_code == 503
    assert response.json() == {"status": "database unavailable"}
    visitor.close()
    assert visitor.get(f"{site.url}/health/").status_code == 200
