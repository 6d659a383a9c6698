"""compose.yaml, checked against what the settings expect."""

import re
from urllib.parse import urlsplit

import pytest
import yaml

from tests.support.servers import ROOT


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def test_the_four_services_are_there(services):
    assert set(services) == {"zipkin", "db", "api", "frontend"}


def test_images_are_pinned_to_a_version(services):
    for name in ("zipkin", "db"):
        image = services[name]["image"]
        assert re.fullmatch(r"[\w/.-]+:\d+(\.\d+)+[\w.-]*", image), image
    assert services["zipkin"]["image"] == "openzipkin/zipkin:3.6.1"
    assert services["api"]["build"] == services["frontend"]["build"] == "."


def test_services_wait_for_healthy_dependencies(services):
    for name in ("db", "api", "frontend"):
        assert services[name]["healthcheck"]["test"]
    assert services["api"]["depends_on"]["db"]["condition"] == "service_healthy"
    assert services["frontend"]["depends_on"]["api"]["condition"] == "service_healthy"


def test_only_the_frontend_the_api_admin_and_zipkin_are_published(services):
    published = {name: s.get("ports", []) for name, s in services.items()}
    assert published == {
        "zipkin": ["9411:9411"],
        "db": [],
        "api": ["8001:8001"],
        "frontend": ["8000:8000"],
    }


def test_environment_matches_the_settings(services):
    api, frontend, db = (services[n]["environment"] for n in ("api", "frontend", "db"))
    assert (api["TOASTSITE_ROLE"], frontend["TOASTSITE_ROLE"]) == ("api", "frontend")
    assert "DATABASE_URL" not in frontend

    api_url = urlsplit(frontend["TOAST_API_URL"])
    assert (api_url.hostname, str(api_url.port)) == ("api", api["PORT"])
    assert "api" in api["DJANGO_ALLOWED_HOSTS"].split(",")
    assert "api/" in services["api"]["healthcheck"]["test"][-1]

    database = urlsplit(api["DATABASE_URL"])
    assert (database.hostname, database.username, database.password) == (
        "db",
        db["POSTGRES_USER"],
        db["POSTGRES_PASSWORD"],
    )
    assert database.path == f"/{db['POSTGRES_DB']}"
    assert "migrate" in services["api"]["command"]

    for env in (api, frontend):
        assert env["DJANGO_DEBUG"] == "0"
        assert env["DJANGO_SECRET_KEY"] == "${DJANGO_SECRET_KEY}"  # never a default
        assert urlsplit(env["OTEL_EXPORTER_ZIPKIN_ENDPOINT"]).hostname == "zipkin"
        assert env["ZIPKIN_UI_URL"] == "http://localhost:9411/zipkin"
