"""compose.yaml and the Dockerfile, checked for what the README promises of them
that a run does not show: tests/split/test_compose_up.py runs the real thing
(its pages, trace, logs and users), CI on stand-in images.
"""

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


def test_the_four_services_are_there_and_the_collector_on_request(services):
    always = {name for name, service in services.items() if "profiles" not in service}
    assert always == {"zipkin", "db", "api", "frontend"}
    assert services["collector"]["profiles"] == ["collector"]


def test_images_are_pinned_to_a_version(services):
    for name, service in services.items():
        if "image" in service:
            assert re.fullmatch(r"[\w/.-]+:\d+(\.\d+)+[\w.-]*", service["image"]), name


def test_api_and_frontend_are_built_from_this_dockerfile_for_their_port(services):
    for name in ("api", "frontend"):
        build = services[name]["build"]
        assert build["context"] == "."
        assert build["args"]["PORT"] == services[name]["environment"]["PORT"]  # EXPOSE


def test_services_wait_for_healthy_dependencies(services):
    for name in ("zipkin", "db", "api", "frontend"):
        assert services[name]["healthcheck"]["test"]
    # Spans sent before Zipkin listens would be lost: wait until it is healthy.
    assert services["api"]["depends_on"] == {
        "db": {"condition": "service_healthy"},
        "zipkin": {"condition": "service_healthy"},
    }
    assert services["frontend"]["depends_on"] == {
        "api": {"condition": "service_healthy"},
        "zipkin": {"condition": "service_healthy"},
    }
    assert services["api"]["restart"] == "on-failure"


def test_healthchecks_probe_what_each_service_serves(services):
    # The official Zipkin image's own check (on PATH there, and in CI's stand-in).
    assert services["zipkin"]["healthcheck"]["test"] == ["CMD", "docker-healthcheck"]
    # Over TCP, not the Unix socket the image's initialising server listens on.
    assert "-h 127.0.0.1" in services["db"]["healthcheck"]["test"][-1]
    # The site's /health/ on each role's own port: untraced, and the api's
    # checks the database.
    for name in ("api", "frontend"):
        port = services[name]["environment"]["PORT"]
        assert f"http://127.0.0.1:{port}/health/" in services[name]["healthcheck"]["test"][-1]


def test_published_ports_are_on_loopback_and_the_database_is_never_published(services):
    for name, service in services.items():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), (name, port)
    assert "ports" not in services["db"]


def test_environment_matches_the_settings(services):
    api, frontend, db = (services[n]["environment"] for n in ("api", "frontend", "db"))
    assert (api["TOASTSITE_ROLE"], frontend["TOASTSITE_ROLE"]) == ("api", "frontend")
    assert "DATABASE_URL" not in frontend

    api_url = urlsplit(frontend["TOAST_API_URL"])
    assert (api_url.hostname, str(api_url.port)) == ("api", api["PORT"])
    assert "api" in api["DJANGO_ALLOWED_HOSTS"].split(",")

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
        # Never a default: without one, compose stops and points to the README.
        key = env["DJANGO_SECRET_KEY"]
        assert re.fullmatch(r"\$\{DJANGO_SECRET_KEY:\?[^}]*README[^}]*\}", key), key
        assert urlsplit(env["OTEL_EXPORTER_ZIPKIN_ENDPOINT"]).hostname == "zipkin"
        assert env["ZIPKIN_UI_URL"] == "http://localhost:9411/zipkin"


def test_the_image_runs_as_a_user_with_a_home():
    dockerfile = (ROOT / "Dockerfile").read_text()
    # gunicorn keeps its control socket under $HOME.
    assert re.search(r"useradd [^\n]*--create-home", dockerfile)
    assert re.search(r"^USER toast$", dockerfile, re.M)
    assert re.search(r"^EXPOSE \$\{?PORT\}?$", dockerfile, re.M)


def test_the_api_believes_the_frontend_about_who_the_visitor_is(services):
    # The frontend passes the visitor's address on; the api counts ratings by it.
    trusted = services["api"]["environment"]["TRUSTED_PROXIES"].split(",")
    assert "frontend" in trusted
    assert "frontend" in services  # a host name in compose's network


def test_the_collector_profile_runs_the_official_image_with_the_same_config(services):
    collector = services["collector"]
    assert collector["image"] == "otel/opentelemetry-collector-contrib:0.161.0"
    assert collector["volumes"] == ["./collector/config.yaml:/etc/otelcol-contrib/config.yaml:ro"]
    assert (
        collector["environment"]["COLLECTOR_ZIPKIN_ENDPOINT"]
        == (services["api"]["environment"]["OTEL_EXPORTER_ZIPKIN_ENDPOINT"])
    )
    assert collector["depends_on"]["zipkin"]["condition"] == "service_healthy"
    for name in ("api", "frontend"):
        env = services[name]["environment"]
        # One variable switches both services over (tutorial step 9).
        assert env["OTEL_TRACES_EXPORTER"] == "${OTEL_TRACES_EXPORTER:-zipkin}"
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://collector:4318"
        assert "collector" not in services[name].get("depends_on", {})  # off without the profile
