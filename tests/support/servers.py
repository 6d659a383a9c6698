"""The site as users run it: real server processes, their database, and its outage."""

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests

# Shared with the benchmark and the soak: a free port, and waiting for it.
from scripts.harness import free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"  # screenshots; git-ignored


def site_env(**env: str) -> dict[str, str]:
    """The environment of a process of the site's own (a server, manage.py): this
    one's, with the site's settings (not the tests', tests/settings.py) and `env`."""
    return {**os.environ, "DJANGO_SETTINGS_MODULE": "toastsite.settings", **env}


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
            if is_up(requests.get(url, timeout=5)):
                return
        except (requests.RequestException, ValueError):  # not up yet, or slow to say so
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{name} was not up within {timeout}s:\n{log.read_text()[-3000:]}")


class ServerProcess:
    """A server in a process of its own, on a free port of 127.0.0.1, run in
    `cwd` (the site's, unless a subclass says), its output in `log_path`; up
    once it listens."""

    stop_signal = signal.SIGTERM
    cwd: Path = ROOT
    own_session = False  # a process group of its own, as a terminal gives

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        with log_path.open("w") as log:
            self.process = subprocess.Popen(
                self.command(),
                cwd=self.cwd,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=self.own_session,
            )
        try:
            wait_for_port(self.port, timeout=30, process=self.process)
        except RuntimeError as exc:
            self.stop()
            raise RuntimeError(f"{self.name()} did not start: {exc}\n{self.log()}") from None

    def command(self) -> list[str]:
        raise NotImplementedError

    def name(self) -> str:
        return type(self).__name__

    def log(self) -> str:
        return self.log_path.read_text()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(self.stop_signal)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class SiteServer(ServerProcess):
    """`manage.py runserver`, as a user starts it."""

    # Like Ctrl-C: Python runs its exit hooks, so pending spans are flushed.
    stop_signal = signal.SIGINT

    def command(self) -> list[str]:
        return [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{self.port}"]


class GunicornSite(ServerProcess):
    """The site under gunicorn with gunicorn.conf.py, as in production; SIGTERM is
    its graceful stop, in which workers flush their spans."""

    def command(self) -> list[str]:
        return [sys.executable, "-m", "gunicorn", "toastsite.wsgi", "-b", f"127.0.0.1:{self.port}"]


class UvicornSite(ServerProcess):
    """The site's ASGI app under uvicorn, started as `make asgi` starts it
    (UVICORN_ARGS, checked against the Makefile); SIGTERM is its graceful stop,
    after which Python's exit hooks flush the spans."""

    def command(self) -> list[str]:
        return [sys.executable, "-m", "uvicorn", *UVICORN_ARGS, "--port", str(self.port)]


# What `make asgi` runs after `python -m uvicorn` (tests/toastsite/test_asgi.py).
UVICORN_ARGS = (
    "toastsite.asgi:application",
    "--host",
    "127.0.0.1",
    "--lifespan",
    "off",
    "--no-proxy-headers",
)


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
        env=site_env(DATABASE_URL=url),
        check=True,
    )


@contextmanager
def postgres_database(url: str, name: str, template: str | None = None) -> Iterator[str]:
    """A database called `name` beside the one `url` names, empty or a copy of
    `template`, dropped on the way out; yields its URL."""
    import psycopg

    parts = urlsplit(url)
    like = f' TEMPLATE "{template}"' if template else ""
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"{like}')
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def database_copy(url: str, folder: Path) -> Iterator[str]:
    """A copy of the migrated database at `url`, for one test's server processes:
    whatever they save or count (the limits) starts from the same state each time."""
    if url.startswith("postgres"):
        template = urlsplit(url).path.lstrip("/")
        with postgres_database(url, f"{template}_{folder.name[-20:]}", template) as copy:
            yield copy
    else:
        copy = folder / "toastsite.sqlite3"
        shutil.copyfile(urlsplit(url).path, copy)
        yield f"sqlite:///{copy}"


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
