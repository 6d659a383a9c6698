"""The same code as two services: a frontend with no database, and the API."""

import os
import re
import subprocess
import sys

import pytest
import requests

from tests.conftest import ROOT, home_page_trace, named

# Nothing listens here: a frontend that opened a database would fail.
UNREACHABLE_DATABASE = "postgres://nobody:nothing@127.0.0.1:9/none"
SHOW_ENGINE = "from django.db import connection; print(connection.settings_dict['ENGINE'])"


@pytest.fixture
def split(site_server, zipkin_receiver):
    """The api and the frontend as two real server processes."""
    tracing = {"OTEL_EXPORTER_ZIPKIN_ENDPOINT": zipkin_receiver.endpoint}
    api = site_server(TOASTSITE_ROLE="api", **tracing)
    frontend = site_server(
        TOASTSITE_ROLE="frontend",
        TOAST_API_URL=api.url,
        DATABASE_URL=UNREACHABLE_DATABASE,
        **tracing,
    )
    return frontend, api


def test_the_frontend_process_has_no_database_configured():
    shown = subprocess.run(
        [
            sys.executable,
            "-c",
            "from django.db import connection; print(connection.settings_dict['ENGINE'])",
        ],
        cwd=ROOT,
        env={
            **os.environ,
            "TOASTSITE_ROLE": "frontend",
            "DJANGO_SETTINGS_MODULE": "toastsite.settings",
            "DATABASE_URL": UNREACHABLE_DATABASE,
            "PYTHONPATH": str(ROOT),
        },
        capture_output=True,
        text=True,
        check=True,
    )
    assert shown.stdout.strip() == "django.db.backends.dummy"


def test_the_frontend_serves_pages_and_ratings_without_a_database(browser, split):
    frontend, api = split
    assert browser.get(f"{frontend.url}/").status_code == 200
    week = browser.get(f"{frontend.url}/toasts/")
    assert week.status_code == 200
    assert "Caprese" in week.text

    pk = browser.get(f"{api.url}/api/toasts/", params={"weekday": 0}).json()["results"][0]["id"]
    page = browser.get(f"{frontend.url}/toasts/{pk}/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)[1]
    rated = browser.post(
        f"{frontend.url}/toasts/{pk}/",
        data={"stars": 5, "comment": "from the frontend", "csrfmiddlewaretoken": token},
        headers={"Referer": f"{frontend.url}/toasts/{pk}/"},
    )
    assert rated.status_code == 200
    assert "Your 5-star rating is saved" in rated.text
    ratings = browser.get(f"{api.url}/api/toasts/{pk}/").json()["rating"]
    assert ratings["count"] >= 1


@pytest.mark.parametrize("path", ["/api/", "/admin/"])
def test_the_frontend_serves_neither_the_api_nor_the_admin(browser, split, path):
    frontend, _ = split
    assert browser.get(f"{frontend.url}{path}").status_code == 404


def test_the_api_serves_the_api_and_the_admin_but_no_pages(browser, split):
    _, api = split
    assert browser.get(f"{api.url}/toasts/").status_code == 404
    assert browser.get(f"{api.url}/", allow_redirects=False).headers["Location"] == "/api/"
    admin = browser.get(f"{api.url}/admin/")
    assert admin.url.endswith("/admin/login/?next=/admin/")


def test_one_page_view_is_one_trace_across_both_services(browser, split, zipkin_receiver):
    frontend, _ = split
    response = browser.get(f"{frontend.url}/")
    spans = zipkin_receiver.trace(response)

    home = home_page_trace(spans)
    service_of = {name: span["localEndpoint"]["serviceName"] for name, span in home.items()}
    assert service_of == {"page": "frontend", "call": "frontend", "api": "api", "choose": "api"}
    services = {s["localEndpoint"]["serviceName"] for s in spans}
    assert services == {"frontend", "api"}


def test_a_database_outage_is_a_503_on_both_services_and_heals_without_a_restart(
    split, database_outage, browser, zipkin_receiver
):
    frontend, api = split

    def get(url: str) -> requests.Response:
        # A new connection each time: runserver serves a kept-alive one from one
        # thread, whose SQLite connection would outlive the outage's start. It
        # closes the connection when asked to, but does not say so in its
        # answer, so the client's pool must not offer it again.
        browser.close()
        return browser.get(url, headers={"Connection": "close"})

    assert get(f"{api.url}/api/toasts/").status_code == 200
    with database_outage():
        answer = get(f"{api.url}/api/toasts/")
        page = get(f"{frontend.url}/")
    assert answer.status_code == 503
    assert answer.json()["detail"].startswith("The database is unavailable.")
    assert answer.headers["Retry-After"] == "5"
    assert page.status_code == 503
    assert "The toast service is unavailable" in page.text
    failed = named(zipkin_receiver.trace(page), "GET api/toasts/today/")
    assert failed["tags"]["http.status_code"] == "503"
    assert failed["tags"]["otel.status_code"] == "ERROR"
    assert "OperationalError" in str(failed["annotations"])

    assert get(f"{api.url}/api/toasts/").status_code == 200
    assert get(f"{frontend.url}/").status_code == 200
