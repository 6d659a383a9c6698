"""How the job queue is started, or not: scripts/broker.sh, and what the site
says as it starts without a broker."""

import os
import shutil
import subprocess

import pytest
import redis

from tests.support.polling import eventually
from tests.support.servers import ROOT, free_port, skip_or_fail

BROKER_SH = ROOT / "scripts" / "broker.sh"
IN_PROCESS = "No broker (CELERY_BROKER_URL is unset): jobs run in-process"


def broker_sh(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["/bin/bash", str(BROKER_SH), *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_broker_script_starts_redis_keeping_jobs_on_disk_and_stops_it(tmp_path):
    if not shutil.which("redis-server"):
        skip_or_fail("redis-server is not installed")
    env = {"TOASTSITE_CACHE": str(tmp_path), "BROKER_PORT": str(free_port())}
    started = broker_sh("start", **env)
    assert started.returncode == 0
    port = env["BROKER_PORT"]
    assert started.stderr.startswith(f"broker: redis-server on 127.0.0.1:{port}, jobs kept in")
    url = broker_sh("url", **env).stdout.strip()
    assert url == f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url, socket_timeout=2)
    try:
        assert client.config_get("appendonly") == {"appendonly": "yes"}
        assert client.config_get("bind") == {"bind": "127.0.0.1"}
        assert broker_sh("start", **env).stderr == ""  # its own: nothing to say
        # Another checkout's cache: the Redis on the port is not its own, and it says so.
        other = broker_sh("start", **{**env, "TOASTSITE_CACHE": str(tmp_path / "other")})
        assert other.returncode == 0
        assert other.stderr == (
            f"broker: a Redis already answers on 127.0.0.1:{port}, not started here: using it\n"
        )
    finally:
        assert broker_sh("stop", **env).returncode == 0

    def gone() -> bool:
        try:
            client.ping()
        except redis.ConnectionError:
            return True
        return False

    eventually(gone, "Redis to stop")


def test_the_broker_listens_on_6380_unless_told_otherwise(monkeypatch):
    monkeypatch.delenv("BROKER_PORT", raising=False)
    assert broker_sh("url").stdout == "redis://127.0.0.1:6380/0\n"


def test_without_redis_server_make_run_serves_the_site_alone():
    # PATH leads nowhere: no redis-server, as on a machine without it.
    ran = broker_sh("with", "/bin/echo", "the site", PATH="/nonexistent", CELERY_BROKER_URL="")
    assert ran.returncode == 0
    assert ran.stdout == "the site\n"
    assert "redis-server is not installed, so jobs run in-process" in ran.stderr


@pytest.mark.parametrize(
    ("broker", "said"), [("", 1), ("redis://127.0.0.1:9/0", 0)], ids=["no broker", "a broker"]
)
def test_the_site_says_once_as_it_starts_when_jobs_run_in_process(
    runserver_site, visitor, broker, said
):
    site = runserver_site(CELERY_BROKER_URL=broker)
    assert visitor.get(f"{site.url}/health/").status_code == 200
    assert site.log().count(IN_PROCESS) == said
