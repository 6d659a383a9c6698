"""Every default the docs state is the default the code ships: README's two
configuration tables, the tutorial's scenario table, hardening's limits and
.env.example, read from the files and compared with the settings of a process
started with none of the site's variables set."""

import json
import os
import re
import subprocess
import sys

import pytest

from tests.support.servers import ROOT

# The variables the site reads; a process with none of them runs on its defaults.
OURS = re.compile(
    r"^(DJANGO_|OTEL_|SCENARIO_|TOAST|RATINGS_|TRUSTED_|ADMIN_LOGIN_|ZIPKIN_|CELERY_|QUEUE_|SUMMARY_)"
)

SHOW = """
import json, django
django.setup()
from django.conf import settings as s
from apps.scenarios import config
on = config.current
number = lambda n: f"{n:g}"
sqlite = s.DATABASES["default"]["NAME"] == str(s.BASE_DIR / "db.sqlite3")
print(json.dumps({
    "DJANGO_DEBUG": str(int(s.DEBUG)),
    "DJANGO_ALLOWED_HOSTS": ",".join(s.ALLOWED_HOSTS),
    "DATABASE_URL": "sqlite:///db.sqlite3" if sqlite else s.DATABASES["default"]["NAME"],
    "TOASTSITE_ROLE": s.ROLE,
    "TOAST_API_URL": s.TOAST_API_URL,
    "TOAST_API_CONNECT_TIMEOUT": number(s.TOAST_API_TIMEOUT[0]),
    "TOAST_API_READ_TIMEOUT": number(s.TOAST_API_TIMEOUT[1]),
    "ZIPKIN_UI_URL": s.ZIPKIN_UI_URL,
    "DJANGO_HTTPS": str(int(s.HTTPS)),
    "HSTS": [getattr(s, n, None) for n in (
        "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_HSTS_PRELOAD")],
    "RATINGS_PER_MINUTE": str(s.RATINGS_PER_MINUTE),
    "TRUSTED_PROXIES": ",".join(s.TRUSTED_PROXIES),
    "ADMIN_LOGIN_FAILURES": str(s.ADMIN_LOGIN_FAILURES),
    "ADMIN_LOGIN_LOCKOUT": str(s.ADMIN_LOGIN_LOCKOUT),
    "CELERY_BROKER_URL": "" if s.CELERY_TASK_ALWAYS_EAGER else s.CELERY_BROKER_URL,
    "QUEUE_PUBLISH_TIMEOUT": number(s.QUEUE_PUBLISH_TIMEOUT),
    "QUEUE_VISIBILITY_TIMEOUT": number(s.QUEUE_VISIBILITY_TIMEOUT),
    "SUMMARY_REPAIR_INTERVAL": number(s.SUMMARY_REPAIR_INTERVAL),
    "QUEUE_SPAN_LINKS": str(int(s.QUEUE_SPAN_LINKS)),
    "OTEL_TRACES_EXPORTER": ",".join(s.OTEL_TRACES_EXPORTER),
    "OTEL_PROPAGATORS": ",".join(s.OTEL_PROPAGATORS),
    "OTEL_SEMCONV_STABILITY_OPT_IN": s.OTEL_SEMCONV_STABILITY_OPT_IN,
    "OTEL_BSP_SCHEDULE_DELAY": str(s.OTEL_BSP_SCHEDULE_DELAY),
    "OTEL_PYTHON_DJANGO_EXCLUDED_URLS": s.OTEL_PYTHON_DJANGO_EXCLUDED_URLS,
    "SCENARIO_FAILURE_RATE": number(on.failure_rate),
    "SCENARIO_LATENCY_MS": number(on.latency_ms),
    "SCENARIO_N_PLUS_ONE": "1" if on.n_plus_one else "0",
    "SCENARIO_WORKER_LATENCY_MS": number(on.worker_latency_ms),
    "SCENARIO_WORKER_FAILURE_RATE": number(on.worker_failure_rate),
    "SCENARIO_LOST_CONTEXT": "1" if on.lost_context else "0",
}))
"""


def shipped(**env: str) -> dict:
    """The defaults, as a process with none of the site's variables set has them."""
    clean = {name: value for name, value in os.environ.items() if not OURS.match(name)}
    clean.pop("DATABASE_URL", None)
    clean |= {"DJANGO_SETTINGS_MODULE": "toastsite.settings", **env}
    shown = subprocess.run(
        [sys.executable, "-c", SHOW], cwd=ROOT, env=clean, capture_output=True, text=True
    )
    assert shown.returncode == 0, shown.stderr
    return json.loads(shown.stdout)


@pytest.fixture(scope="module")
def debug() -> dict:
    return shipped()


@pytest.fixture(scope="module")
def production() -> dict:
    return shipped(
        DJANGO_DEBUG="0", DJANGO_SECRET_KEY="only-to-read-the-settings", DJANGO_HTTPS="1"
    )


def table(path: str, heading: str) -> list[list[str]]:
    """The rows of the first table after `heading` in a markdown file, as cells."""
    text = (ROOT / path).read_text()
    after = text[text.index(heading) :] + "\n\n"
    rows = re.findall(r"^\|(.+)\|$", after[: after.index("\n\n", after.index("| ---"))], re.M)
    cells = [[cell.strip() for cell in row.split("|")] for row in rows]
    return cells[2:]  # past the header and its rule


def ticked(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def test_the_readmes_configuration_table_is_what_the_settings_ship(debug):
    rows = table("README.md", "The project's own:")
    assert len(rows) == 17
    for variables, default, _ in rows:
        names = ticked(variables)
        expected = [debug[name] for name in names if debug[name]]  # "unset": empty
        assert ticked(default) == expected, variables


def test_https_sends_hsts_for_a_year_with_subdomains_and_preload(production):
    assert production["DJANGO_HTTPS"] == "1"
    assert production["HSTS"] == [365 * 24 * 3600, True, True]


def test_the_readmes_tracing_table_is_what_the_settings_ship(debug, production):
    rows = table("README.md", "Where\ntoastsite's default differs from OpenTelemetry's:")
    assert len(rows) == 5
    for variable, default, _, _ in rows:
        (name,) = ticked(variable)
        if name == "OTEL_BSP_SCHEDULE_DELAY":  # `500` (ms) with `DJANGO_DEBUG=1`, else `5000`
            assert ticked(default) == [debug[name], "DJANGO_DEBUG=1", production[name]]
        else:
            assert ticked(default)[0] == debug[name], name


def test_the_tutorials_scenario_table_is_what_the_code_ships(debug):
    rows = table("docs/tutorial.md", "## Scenario settings")
    assert len(rows) == 7
    for variable, default, _ in rows:
        (name,) = ticked(variable)
        assert (ticked(default) or ["0"])[0] == debug[name], name  # "off": 0


def test_hardenings_limits_are_what_the_settings_ship(debug):
    text = (ROOT / "docs" / "hardening.md").read_text()
    stated = dict(re.findall(r"`([A-Z_]+)` \((?:`)?([^`)]+?)(?:`)?(?: s)?\)", text))
    for name in ("RATINGS_PER_MINUTE", "TRUSTED_PROXIES", "ADMIN_LOGIN_FAILURES"):
        assert stated[name] == debug[name], name
    assert stated["ADMIN_LOGIN_LOCKOUT"] == debug["ADMIN_LOGIN_LOCKOUT"]


def test_env_example_lists_the_defaults(debug):
    lines = (ROOT / ".env.example").read_text().splitlines()
    listed = dict(re.findall(r"^([A-Z_]+)=(\S*)", "\n".join(lines), re.M))
    for name, value in debug.items():
        if name in listed and name != "OTEL_BSP_SCHEDULE_DELAY":  # empty: "500 ... else 5000"
            assert listed[name] == value, name
    assert len(set(listed) & set(debug)) == 29
