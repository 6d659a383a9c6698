"""The same code as two services: a frontend with no database, and the API."""

import subprocess
import sys

import pytest
import requests

from apps.pages.traffic import post_rating
from tests.support.servers import ROOT, database_outage, site_env
from tests.support.zipkin import home_page_trace, named

# Nothing listens here: a frontend that opened a database would fail.
UNREACHABLE_DATABASE = "postgres://nobody:nothing@127.0.0.1:9/none"


@pytest.fixture
def split_without_frontend_db(split, zipkin_receiver):
    """The api and the frontend as two real server processes; the frontend's
    database, if it ever opened one, would be unreachable."""
    return split(
        frontend_env={"DATABASE_URL": UNREACHABLE_DATABASE},
        OTEL_EXPORTER_ZIPKIN_ENDPOINT=zipkin_receiver.endpoint,
    )


def test_the_frontend_process_has_no_database_configured():
    shown = subprocess.run(
        [
            sys.executable,
            "-c",
            "from django.db import connection; print(connection.settings_dict['ENGINE'])",
        ],
        cwd=ROOT,
        env=site_env(
            TOASTSITE_ROLE="frontend", DATABASE_URL=UNREACHABLE_DATABASE, PYTHONPATH=str(ROOT)
        ),
        capture_output=True,
        text=True,
        check=True,
    )
    assert shown.stdout.strip() == "django.db.backends.dummy"


def test_the_frontend_serves_pages_and_ratings_without_a_database(
    visitor, split_without_frontend_db
):
    frontend, api = split_without_frontend_db
    assert visitor.get(f"{frontend.url}/").status_code == 200
    week = visitor.get(f"{frontend.url}/toasts/")
    assert week.status_code == 200
    assert "Caprese" in week.text

    pk = visitor.get(f"{api.url}/api/toasts/", params={"weekday": 0}).json()["results"][0]["id"]
    page_url = f"{frontend.url}/toasts/{pk}/"
    rated = post_rating(visitor, page_url, stars=5, comment="from the frontend")
    assert rated.status_code == 302
    assert "Your 5-star rating is saved" in visitor.get(page_url).text
    ratings = visitor.get(f"{api.url}/api/toasts/{pk}/").json()["rating"]
    assert ratings["count"] >= 1


@pytest.mark.parametrize("path", ["/api/", "/admin/"])
def test_the_frontend_serves_neither_the_api_nor_the_admin(
    visitor, split_without_frontend_db, path
):
    frontend, _ = split_without_frontend_db
    assert visitor.get(f"{frontend.url}{path}").status_code == 404


def test_the_api_serves_the_api_and_the_admin_but_no_pages(visitor, split_without_frontend_db):
    _, api = split_without_frontend_db
    assert visitor.get(f"{api.url}/toasts/").status_code == 404
    assert visitor.get(f"{api.url}/", allow_redirects=False).headers["Location"] == "/api/"
    admin = visitor.get(f"{api.url}/admin/")
    assert admin.url.endswith("/admin/login/?next=/admin/")


def test_one_page_view_is_one_trace_across_both_services(
    visitor, split_without_frontend_db, zipkin_receiver
):
    frontend, _ = split_without_frontend_db
    response = visitor.get(f"{frontend.url}/")
    spans = zipkin_receiver.trace(response)

    home = home_page_trace(spans)
    service_of = {name: span["localEndpoint"]["serviceName"] for name, span in home.items()}
    assert service_of == {"page": "frontend", "call": "frontend", "api": "api", "choose": "api"}
    assert {s["localEndpoint"]["serviceName"] for s in spans} == {"frontend", "api"}


def test_a_database_outage_is_a_503_on_both_services_and_heals_without_a_restart(
    split_without_frontend_db, server_database, visitor, zipkin_receiver
):
    frontend, api = split_without_frontend_db

    def get(url: str) -> requests.Response:
        # A new connection each time: runserver serves a kept-alive one from one
        # thread, whose SQLite connection would outlive the outage's start. It
        # closes the connection when asked to, but does not say so in its
        # answer, so the client's pool must not offer it again.
        visitor.close()
        return visitor.get(url, headers={"Connection": "close"})

    assert get(f"{api.url}/api/toasts/").status_code == 200
    with database_outage(server_database):
        answer = get(f"{api.url}/api/toasts/")
        page = get(f"{frontend.url}/")
    assert answer.status_code == 503
    assert answer.json()["detail"].startswith("The database is unavailable.")
    assert answer.headers["Retry-After"] == "5"
    assert page.status_code == 503
    assert "The toast service is unavailable" in page.text
    failed = named(zipkin_receiver.trace(page), "GET api/toasts/today/")
    assert failed["tags"]["http.response.status_code"] == "503"
    assert failed["tags"]["otel.status_code"] == "ERROR"
    assert "OperationalError" in str(failed["annotations"])

    assert get(f"{api.url}/api/toasts/").status_code == 200
    assert get(f"{frontend.url}/").status_code == 200


def test_the_banner_shows_what_the_api_does_not_the_frontends_settings(visitor, split):
    frontend, _ = split(api_env={"SCENARIO_LATENCY_MS": "50", "SCENARIO_N_PLUS_ONE": "1"})
    html = visitor.get(f"{frontend.url}/toasts/").text
    banner = "Scenarios on: the API takes 50 ms longer; the API makes N+1 queries."
    assert f'<p class="banner">{banner}</p>' in html
