"""Guessing passwords: after too many failed logins from one address, its
logins are refused for a while, even with the right password, on the admin's
form and with the API's Basic authentication. Real servers: the monolith and
the split's api, which serve the admin."""

import subprocess
import sys
import time
import uuid

import pytest

from apps.pages.traffic import form_field
from apps.visitors.logins import LOCKED
from tests.support.http import Visitor
from tests.support.servers import ROOT, SiteServer, site_env

FAILURES, LOCKOUT = 3, 10  # seconds
PASSWORD = "correct-horse-battery-staple"


@pytest.fixture(params=["monolith", "api"])
def admin_site(request, runserver_site) -> SiteServer:
    return runserver_site(
        TOASTSITE_ROLE=request.param,
        ADMIN_LOGIN_FAILURES=str(FAILURES),
        ADMIN_LOGIN_LOCKOUT=str(LOCKOUT),
        OTEL_TRACES_EXPORTER="none",
    )


@pytest.fixture
def chef(server_database) -> str:
    """A new superuser in the servers' database; returns the username."""
    username = f"chef-{uuid.uuid4().hex[:8]}"
    subprocess.run(
        [
            *(sys.executable, "manage.py", "createsuperuser", "--noinput"),
            *("--username", username, "--email", f"{username}@example.com"),
        ],
        cwd=ROOT,
        env=site_env(DATABASE_URL=server_database, DJANGO_SUPERUSER_PASSWORD=PASSWORD),
        check=True,
        capture_output=True,
    )
    return username


def log_in(visitor: Visitor, site: SiteServer, username: str, password: str):
    url = f"{site.url}/admin/login/"
    data = {
        "csrfmiddlewaretoken": form_field(visitor.get(url).text, "csrfmiddlewaretoken"),
        "username": username,
        "password": password,
        "next": "/admin/",
    }
    return visitor.post(url, data=data, headers={"Referer": url}, allow_redirects=False)


def test_after_too_many_failures_even_the_right_password_is_refused_for_a_while(
    admin_site, chef, visitor_at
):
    guesser, colleague = visitor_at("127.0.0.2"), visitor_at("127.0.0.3")
    api = f"{admin_site.url}/api/toasts/"
    assert guesser.get(api, auth=(chef, PASSWORD)).status_code == 200  # Basic works

    failed = [log_in(guesser, admin_site, chef, f"guess-{n}") for n in range(FAILURES)]
    last_failure = time.monotonic()

    assert [answer.status_code for answer in failed] == [200] * FAILURES
    assert "Please enter the correct username and password" in failed[0].text
    assert LOCKED in failed[-1].text  # the last one says what comes next
    refused = log_in(guesser, admin_site, chef, PASSWORD)
    assert refused.status_code == 200
    assert LOCKED in refused.text
    assert "sessionid" not in guesser.cookies
    basic = guesser.get(api, auth=(chef, PASSWORD))
    assert basic.status_code == 403
    assert basic.json()["detail"] == "Invalid username/password."
    # Counted per address: someone elsewhere may log in.
    assert log_in(colleague, admin_site, chef, PASSWORD).status_code == 302
    assert time.monotonic() - last_failure < LOCKOUT  # all that happened while locked

    time.sleep(max(0.0, last_failure + LOCKOUT + 1 - time.monotonic()))
    assert guesser.get(api, auth=(chef, PASSWORD)).status_code == 200
    welcome = log_in(guesser, admin_site, chef, PASSWORD)
    assert welcome.status_code == 302
    assert "sessionid" in guesser.cookies

    log = admin_site.log()
    assert f"Failed login for '{chef}' from 127.0.0.2 (1 of {FAILURES})" in log
    assert f"Failed login for '{chef}' from 127.0.0.2 ({FAILURES} of {FAILURES})" in log
    assert f"Refused login for '{chef}' from 127.0.0.2: too many failures" in log
    assert "from 127.0.0.3" not in log
    assert PASSWORD not in log
    assert "guess-0" not in log
