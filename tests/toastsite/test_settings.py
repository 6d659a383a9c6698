"""Production settings, checked the way Django checks them: `check --deploy`."""

import re
import secrets
import subprocess
import sys

import pytest

from tests.support.servers import ROOT, site_env

# Warnings that only make sense behind TLS: SSL redirect, HSTS, secure cookies.
TLS_ONLY = {"security.W004", "security.W008", "security.W012", "security.W016"}


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    production = {
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "toast.example",
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=site_env(**{**production, **env}),
        capture_output=True,
        text=True,
    )


def warnings(check: subprocess.CompletedProcess) -> set[str]:
    return set(re.findall(r"\(([\w.]+\.[WE]\d+)\)", check.stdout + check.stderr))


@pytest.mark.parametrize("role", ["monolith", "frontend", "api"])
def test_deploy_check_warns_only_about_what_needs_tls(role):
    check = manage("check", "--deploy", TOASTSITE_ROLE=role)
    assert warnings(check) == TLS_ONLY, check.stdout + check.stderr


@pytest.mark.parametrize("role", ["monolith", "frontend", "api"])
def test_deploy_check_is_clean_with_django_https(role):
    check = manage(
        "check", "--deploy", "--fail-level", "WARNING", TOASTSITE_ROLE=role, DJANGO_HTTPS="1"
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "no issues" in check.stdout


def test_no_secret_key_outside_debug_refuses_to_start():
    check = manage("check", DJANGO_SECRET_KEY="")
    assert check.returncode != 0
    assert "Set DJANGO_SECRET_KEY when DJANGO_DEBUG is off." in check.stderr


def setting(name: str, **env: str) -> str:
    shown = manage(
        "shell", "-c", f"from django.conf import settings; print(settings.{name})", **env
    )
    assert shown.returncode == 0, shown.stderr
    return shown.stdout.splitlines()[-1]  # after what the shell says it imported


def test_spans_leave_every_half_second_in_development_and_five_in_production():
    assert setting("OTEL_BSP_SCHEDULE_DELAY", DJANGO_DEBUG="1") == "500"
    assert setting("OTEL_BSP_SCHEDULE_DELAY", DJANGO_DEBUG="0") == "5000"
    assert setting("OTEL_BSP_SCHEDULE_DELAY", OTEL_BSP_SCHEDULE_DELAY="2000") == "2000"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("TOAST_API_READ_TIMEOUT", "soon", "TOAST_API_READ_TIMEOUT must be a number, not 'soon'."),
        ("RATINGS_PER_MINUTE", "2.5", "RATINGS_PER_MINUTE must be a whole number, not '2.5'."),
        ("RATINGS_PER_MINUTE", "0", "RATINGS_PER_MINUTE must be 1 or more, not '0'."),
        ("ADMIN_LOGIN_FAILURES", "0", "ADMIN_LOGIN_FAILURES must be 1 or more, not '0'."),
        ("ADMIN_LOGIN_LOCKOUT", "soon", "ADMIN_LOGIN_LOCKOUT must be a whole number, not 'soon'."),
        (
            "TRUSTED_PROXIES",
            "127.0.0.1,10.0.0.300",
            "TRUSTED_PROXIES: '10.0.0.300' is no address, network or host name.",
        ),
        (
            "TRUSTED_PROXIES",
            "http://frontend",
            "TRUSTED_PROXIES: 'http://frontend' is no address, network or host name.",
        ),
    ],
)
def test_a_value_that_is_wrong_names_its_variable(variable, value, message):
    check = manage("check", **{variable: value})
    assert check.returncode != 0
    assert f"ImproperlyConfigured: {message}" in check.stderr
