"""The site as users run it: real server processes, their database, and its outage."""

import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests

# Shared with the benchmark and the soak: a free port, and waiting for it.
from scripts.harness import free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"  # screenshots; git-ignored


def skip_or_fail(reason: str) -> None:
    """Skip on a laptop that lacks a part; in CI (CI=true) the part must be there."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must run the end-to-end tests")
    pytest.skip(reason)


def wait_until_healthy(
    name: str,
    url: str,
    process: subprocess.Popen,
    log: Path,
    is_up: Callable[[requests.Response], bool] = lambda response: response.ok,
    timeout: float = 90,
) -> None:
    """Polls `url` until `is_up(response)`; fails with the log's end if the
    process exits or the time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited:\n{log.read_text()[-3000:]}")
        try:
            if is_up(requests.get(url, timeout=1)):
                return
        except (requests.ConnectionError, requests.Timeout, ValueError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{name} was not up within {timeout}s:\n{log.read_text()[-3000:]}")


class SiteServer:
    """`manage.py runserver` in a process of its own, as a user starts it."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self._log = log_path.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{self.port}"],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self._wait_until_up()

    def _wait_until_up(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"runserver exited:\n{self.log()}")
            # A TCP connection, not a request: a request would leave a trace.
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"runserver did not answer within {timeout}s:\n{self.log()}")

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text()

    def stop(self) -> None:
        # SIGINT, like Ctrl-C: Python runs its exit hooks, so pending spans are flushed.
        if self.process.poll() is None:
            self.process.send_signal(2)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if not self._log.closed:
            self._log.close()


class GunicornSite:
    """The site under gunicorn with gunicorn.conf.py, as in production."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        with log_path.open("w") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "toastsite.wsgi",
                    "-b",
                    f"127.0.0.1:{self.port}",
                ],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_for_port(self.port)

    def log(self) -> str:
        return self.log_path.read_text()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()  # a graceful stop: workers flush their spans
            self.process.wait(timeout=30)


def clear_cache(url: str) -> None:
    """Forgets what the limits counted in the database at `url` (its cache table)."""
    from django.conf import settings

    statement = f'DELETE FROM "{settings.CACHES["default"]["LOCATION"]}"'
    if url.startswith("postgres"):
        import psycopg

        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute(statement)
    else:
        with closing(sqlite3.connect(urlsplit(url).path)) as connection, connection:
            connection.execute(statement)


class Split(NamedTuple):
    frontend: SiteServer
    api: SiteServer


def started(kind, base_env: dict, tmp_path: Path) -> Iterator[Callable[..., object]]:
    """A factory of `kind` servers with `base_env` and more; stops them all after."""
    started = []

    def start(**env: str):
        server = kind({**base_env, **env}, tmp_path / f"{kind.__name__}-{len(started)}.log")
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def migrate(url: str) -> None:
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": url},
        check=True,
    )


@contextmanager
def postgres_database(url: str, suffix: str) -> Iterator[str]:
    """A migrated database of its own beside the one `url` names, dropped after."""
    import psycopg

    parts = urlsplit(url)
    name = f"{parts.path.lstrip('/')}_{suffix}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')
    server_url = urlunsplit(parts._replace(path=f"/{name}"))
    migrate(server_url)
    try:
        yield server_url
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def database_outage(url: str) -> Iterator[None]:
    """Takes the database at `url` away for real: PostgreSQL refuses
    connections to it; a SQLite file is moved aside."""
    if url.startswith("postgres"):
        with _postgres_outage(url):
            yield
    else:
        with _sqlite_outage(Path(urlsplit(url).path)):
            yield


@contextmanager
def _postgres_outage(url: str) -> Iterator[None]:
    import psycopg

    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [name]
        )
        try:
            yield
        finally:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')


@contextmanager
def _sqlite_outage(path: Path) -> Iterator[None]:
    aside = path.with_suffix(".away")
    path.rename(aside)
    path.mkdir()  # a directory where the file was: SQLite cannot open it
    try:
        yield
    finally:
        path.rmdir()
        aside.rename(path)
