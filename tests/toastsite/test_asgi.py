"""The site's ASGI app under uvicorn: the command `make asgi` runs is the one
the tests serve it with, it leaves X-Forwarded-For to the site, and paths that
once failed tracing are plain 404s. The traces themselves are tested under
both interfaces in tests/telemetry."""

import subprocess

import pytest

from tests.support.http import traceresponse
from tests.support.servers import ROOT, UVICORN_ARGS


def make_asgi(*args: str) -> str:
    """The command `make asgi` serves the site with (its recipe's last line),
    without the Makefile's QUIETLY prefix, which only makes Ctrl-C end it well."""
    dry_run = subprocess.run(
        ["make", "--no-print-directory", "-n", "asgi", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    quietly = "trap 'sleep 0.2; exit 0' INT; "
    last = dry_run.strip().splitlines()[-1]
    assert last.startswith(quietly)
    return last.removeprefix(quietly)


def test_make_asgi_serves_the_app_as_the_tests_do():
    command = make_asgi("PORT=8123").split()
    assert command[0] == ".venv/bin/python"
    assert command[1:] == ["-m", "uvicorn", *UVICORN_ARGS, "--port", "8123"]


def test_the_readme_gives_that_command():
    readme = (ROOT / "README.md").read_text()
    assert f"make asgi   # {make_asgi()}\n" in readme


@pytest.mark.parametrize("conventions", ["http", "http/dup"])
def test_a_path_outside_latin_1_is_a_traced_404(visitor, site_server, conventions):
    # The old conventions' http.url is where runserver's 500 came from.
    site = site_server(OTEL_TRACES_EXPORTER="none", OTEL_SEMCONV_STABILITY_OPT_IN=conventions)
    response = visitor.get(f"{site.url}/%F0%9F%8D%9E")
    assert response.status_code == 404
    assert traceresponse(response).sampled


def test_uvicorn_leaves_x_forwarded_for_to_the_site(visitor, uvicorn_site):
    # uvicorn believes X-Forwarded-For from 127.0.0.1 unless told not to
    # (--no-proxy-headers); the site believes only TRUSTED_PROXIES, here not
    # this machine, so a visitor from 127.0.0.1 stays 127.0.0.1 whatever it says.
    site = uvicorn_site(
        OTEL_TRACES_EXPORTER="none", RATINGS_PER_MINUTE="1", TRUSTED_PROXIES="192.0.2.1"
    )
    pk = visitor.get(f"{site.url}/api/toasts/").json()["results"][0]["id"]
    ratings = f"{site.url}/api/toasts/{pk}/ratings/"
    answers = [
        visitor.post(ratings, json={"stars": 4}, headers={"X-Forwarded-For": forged})
        for forged in ("203.0.113.7", "198.51.100.1")
    ]
    assert [a.status_code for a in answers] == [201, 429]
