"""What the benchmark and the soak share: Zipkin, the site under gunicorn in
either shape, the job queue (Redis and a Celery worker), and reading a worker's
memory. Run them as modules from the project's folder (`python -m
scripts.bench`), as the Makefile does."""

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench-results"
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 60, process: subprocess.Popen | None = None) -> None:
    """Until something listens on `port` of 127.0.0.1: a TCP connection, not a
    request, which would leave a trace. Fails if `process` exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the process for port {port} exited ({process.returncode})")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port} after {timeout:.0f} s")


@contextmanager
def process(
    command: list[str], env: dict, port: int, stop_timeout: float = 15, start_timeout=60, cwd=ROOT
):
    """A server process run in `cwd`, once it listens on `port`; stopped on the way out."""
    proc = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for_port(port, start_timeout)
        yield proc
    finally:
        proc.send_signal(signal.SIGINT)  # gunicorn: quick shutdown, not a graceful one
        try:
            proc.wait(timeout=stop_timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def zipkin(heap: str) -> Iterator[str]:
    """The real Zipkin server, with room for every span of a run; yields its URL.

    Once in-memory storage is full, evicting old traces costs Zipkin CPU,
    which it takes from the site on this machine.
    """
    port = free_port()
    command = [str(ROOT / "scripts" / "zipkin.sh"), "run", str(port)]
    env = {**os.environ, "MEM_MAX_SPANS": "1000000", "ZIPKIN_HEAP": heap}
    with process(command, env, port, start_timeout=300):  # Java starts slowly on a loaded day
        url = f"http://127.0.0.1:{port}"
        while requests.get(f"{url}/health").status_code != 200:
            time.sleep(0.5)
        yield url


def gunicorn(env: dict, port: int, workers: int, prefix=(), zero_code=False, zones=False, cwd=ROOT):
    """gunicorn serving the site whose code is in `cwd` (this checkout's, unless
    told), its command run under `prefix` (valgrind)."""
    command = [str(BIN / "gunicorn"), "toastsite.wsgi", "--bind", f"127.0.0.1:{port}"]
    if zones:  # the same gunicorn, each part of tracing run through its own C function
        command = [sys.executable, "-m", "scripts.attribution", "serve", *command[1:]]
    if zero_code:
        # The peer a user would reach for: OpenTelemetry's zero-code agent with
        # its defaults and the Zipkin exporter, around the same app.
        command = [
            *(str(BIN / "opentelemetry-instrument"), "--traces_exporter", "zipkin_json"),
            *("--metrics_exporter", "none", "--logs_exporter", "none"),
            *command,
        ]
    env = {**env, "WEB_CONCURRENCY": str(workers)}
    if prefix:  # counting: everything runs 50 times slower, idle connections too
        env.update(GUNICORN_CMD_ARGS="--timeout 600 --keep-alive 600", TOAST_API_READ_TIMEOUT="600")
        env.update(TOAST_API_CONNECT_TIMEOUT="600")  # the API accepts late on a loaded day
    timeout = 300 if prefix else 15
    return process(
        [*prefix, *command], env, port, stop_timeout=timeout, start_timeout=timeout * 4, cwd=cwd
    )


def uvicorn(env: dict, port: int, workers: int, prefix=()):
    """uvicorn serving the site's ASGI app as `make asgi` does, run under `prefix`."""
    command = [sys.executable, "-m", "uvicorn", "toastsite.asgi:application"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    command += ["--lifespan", "off", "--no-proxy-headers"]
    if prefix:  # counting: everything runs 50 times slower, idle connections too
        command += ["--timeout-keep-alive", "600"]
        env = {**env, "TOAST_API_READ_TIMEOUT": "600", "TOAST_API_CONNECT_TIMEOUT": "600"}
    timeout = 300 if prefix else 15
    return process([*prefix, *command], env, port, stop_timeout=timeout, start_timeout=timeout * 4)


@contextmanager
def site(
    env: dict, topology: str, prefix=(), zero_code=False, zones=False, asgi=False
) -> Iterator[str]:
    """The site as a monolith or split, under gunicorn (or, `asgi`, the monolith
    under uvicorn); yields its pages' URL."""
    if topology == "monolith":
        port = free_port()
        # Counting: one worker, so that warm-up happens the same way in every run.
        workers = 1 if prefix else 2
        if asgi:
            server = uvicorn(env, port, workers, prefix)
        else:
            server = gunicorn(env, port, workers, prefix, zero_code, zones)
        with server:
            yield f"http://127.0.0.1:{port}"
        return
    api_port, front_port = free_port(), free_port()
    frontend_env = {**env, "TOASTSITE_ROLE": "frontend"}
    frontend_env["TOAST_API_URL"] = f"http://127.0.0.1:{api_port}"
    with ExitStack() as stack:
        api_env = {**env, "TOASTSITE_ROLE": "api"}
        stack.enter_context(gunicorn(api_env, api_port, 1, prefix, zero_code))
        stack.enter_context(gunicorn(frontend_env, front_port, 1, prefix, zero_code))
        yield f"http://127.0.0.1:{front_port}"


def production_env(database_url: str, **extra: str) -> dict:
    """The site's environment as in production, quiet, with a throwaway secret."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "toastsite.settings",  # the zero-code agent needs it
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": "not-a-secret-for-measuring-only",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_LOG_LEVEL": "WARNING",
        "DATABASE_URL": database_url,
        **extra,
    }


@contextmanager
def traced_to_zipkin(database_url: str, heap: str, **extra: str) -> Iterator[tuple[str, dict]]:
    """The real Zipkin, and the site's environment as in production sending to it,
    its database migrated; yields Zipkin's URL and that environment."""
    with zipkin(heap) as url:
        env = production_env(
            database_url, OTEL_EXPORTER_ZIPKIN_ENDPOINT=f"{url}/api/v2/spans", **extra
        )
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True
        )
        yield url, env


def rss_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmRSS:")[1].split()[0])


def workers_of(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [int(pid) for pid in children]


@contextmanager
def broker() -> Iterator[str]:
    """Debian's redis-server on a free port, its jobs on disk in a temporary folder,
    as scripts/broker.sh runs it; yields its CELERY_BROKER_URL."""
    port = free_port()
    folder = tempfile.mkdtemp()
    command = ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--dir", folder]
    with process([*command, "--appendonly", "yes", "--save", ""], os.environ, port):
        yield f"redis://127.0.0.1:{port}/0"


def worker(env: dict, pool: str = "prefork", concurrency: int = 2, prefix=()):
    """A Celery worker for the site's jobs; stopped (warm, flushing its spans) on the
    way out. `prefix`: valgrind, to count its instructions."""
    command = [str(BIN / "celery"), "-A", "toastsite", "worker", "--pool", pool]
    command += ["--concurrency", str(concurrency), "--loglevel", "WARNING"]
    command += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
    return _celery([*prefix, *command], env, stop_timeout=300 if prefix else 30)


@contextmanager
def _celery(command: list[str], env: dict, stop_timeout: float):
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    try:
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)  # Celery's warm shutdown
        try:
            proc.wait(timeout=stop_timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def queue_drained(url: str) -> bool:
    """Whether the broker holds no job: none waiting, none delivered and unacknowledged."""
    import redis

    client = redis.Redis.from_url(url)
    return client.llen("celery") == 0 and client.zcard("unacked_index") == 0
