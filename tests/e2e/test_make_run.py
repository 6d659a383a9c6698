"""`make run` as a newcomer runs it: a fresh copy of the project and an empty
HOME, its stages, Ctrl-C, the hashes of what it installs, and its Zipkin."""

import contextlib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from tests.support import zipkin
from tests.support.http import Visitor, traceresponse
from tests.support.servers import ROOT, free_port, skip_or_fail

pytestmark = pytest.mark.e2e

UV_VERSION = re.search(r"^uv==(\S+) ", (ROOT / "requirements-dev.txt").read_text(), re.M)[1]
ZIPKIN_VERSION = "3.6.1"
# One small package as requirements.txt pins it, with its hashes: up to the
# first line that does not go on.
RUNTIME = (ROOT / "requirements.txt").read_text()
SQLPARSE = re.search(r"^sqlparse==.*?[^\\]\n", RUNTIME, re.M | re.S)[0]


def wrong_hashes(requirement: str) -> str:
    return re.sub(r"sha256:\w+", "sha256:" + "0" * 64, requirement)


def project_copy(into: Path) -> Path:
    """The project's files as a fresh clone of this tree would have them."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        if (ROOT / name).is_file():
            (into / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, into / name)
    return into


def niceness(group: int, program: str) -> dict[str, int]:
    """The nice value of each `program` process in process group `group`, by
    its subcommand (celery's worker, beat): the pool's children share it."""
    found = {}
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            stat = (proc / "stat").read_text()
            argv = (proc / "cmdline").read_bytes().decode().split("\0")
        except OSError:  # gone meanwhile
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (name) "
        if int(fields[2]) == group and any(word.endswith(program) for word in argv[:2]):
            subcommand = next(word for word in argv if word in {"worker", "beat"})
            found[subcommand] = int(fields[16])  # stat's 19th field: nice
    return found


def newcomer_env(home: Path, **extra: str) -> dict[str, str]:
    """This environment without the suite's own venv, database or caches, nor
    the make that may run the suite (`make test`)."""
    dropped = {"VIRTUAL_ENV", "DATABASE_URL", "XDG_CACHE_HOME", "TOASTSITE_CACHE", "UV_CACHE_DIR"}
    dropped |= {"MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES"}
    env = {name: value for name, value in os.environ.items() if name not in dropped}
    return {**env, "HOME": str(home), **extra}


class Make:
    """`make TARGET` in a process group of its own, as a terminal runs it, so
    that `interrupt()` is Ctrl-C: SIGINT to make and to all it started."""

    def __init__(self, target: str, cwd: Path, env: dict[str, str]) -> None:
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            ["make", target],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, text: str, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.lines):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"no {text!r} from make:\n" + "\n".join(self.lines))
            time.sleep(0.05)

    def said(self, prefix: str = "toastsite: ") -> list[str]:
        return [line for line in self.lines if line.startswith(prefix)]

    def interrupt(self) -> list[str]:
        """Ctrl-C; returns what was printed after it."""
        before = len(self.lines)
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
        self.process.wait(timeout=30)
        self._reader.join(timeout=10)
        return self.lines[before:]

    def kill(self) -> None:
        """What is left of it, after a failed test: make and all it started."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)


def first_page_trace(site: str, zipkin_url: str) -> list[dict]:
    """The first page once the site answers, and its trace, from Zipkin."""
    deadline = time.monotonic() + 60
    with Visitor() as visitor:
        while True:
            try:
                response = visitor.get(f"{site}/")
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
    assert response.status_code == 200
    return zipkin.fetch_trace(zipkin_url, traceresponse(response).trace_id)


def healthy(zipkin_url: str) -> bool:
    try:
        return requests.get(f"{zipkin_url}/health", timeout=2).ok
    except requests.ConnectionError:
        return False


def assert_quiet(after_ctrl_c: list[str]) -> None:
    assert not [line for line in after_ctrl_c if "***" in line or "Traceback" in line]


def test_make_run_from_cold_says_each_stage_and_its_first_page_reaches_zipkin(tmp_path):
    if not (shutil.which("java") and shutil.which("mvn")):
        skip_or_fail("make run starts Zipkin with Java and fetches it with Maven")
    project = project_copy(tmp_path / "toastsite")
    home = tmp_path / "home"
    home.mkdir()
    port, zipkin_port = free_port(), free_port()
    zipkin_url = f"http://127.0.0.1:{zipkin_port}"
    env = newcomer_env(
        home,
        PORT=str(port),
        ZIPKIN_PORT=str(zipkin_port),
        BROKER_PORT=str(broker_port := free_port()),  # Redis, where installed: the test's own
        OTEL_EXPORTER_ZIPKIN_ENDPOINT=f"{zipkin_url}/api/v2/spans",
    )
    cache = home / ".cache" / "toastsite"
    serving = f"toastsite: serving http://127.0.0.1:{port}/ (Ctrl-C stops it)"
    zipkin_ui = f"Zipkin UI: http://localhost:{zipkin_port}/zipkin/"
    started: list[Make] = []

    def make_run() -> Make:
        started.append(Make("run", project, env))
        return started[-1]

    try:
        # Ctrl-C while the requirements install.
        make = make_run()
        make.wait_for("toastsite: installing requirements.txt")
        assert_quiet(make.interrupt())
        assert make.said() == [
            f"toastsite: fetching uv {UV_VERSION} into {cache}, once (hash-checked)",
            "toastsite: creating .venv with uv",
            "toastsite: installing requirements.txt with uv (hash-checked)",
        ]
        assert (cache / f"uv-{UV_VERSION}" / "bin" / "uv").is_file()
        assert not (project / ".venv" / ".runtime").exists()  # installs again next time
        fetched_with_maven = f"zipkin: fetching zipkin-server {ZIPKIN_VERSION} with Maven"
        # Zipkin, fetched and started in the background, goes on without make.
        deadline = time.monotonic() + 180
        while not healthy(zipkin_url):
            assert time.monotonic() < deadline, "Zipkin did not start after Ctrl-C"
            time.sleep(0.5)
        assert any(line.startswith(fetched_with_maven) for line in make.lines)

        # Again, to the first page.
        make = make_run()
        make.wait_for(serving)
        assert first_page_trace(f"http://127.0.0.1:{port}", zipkin_url)
        assert make.said() == [
            "toastsite: installing requirements.txt with uv (hash-checked)",
            "toastsite: migrating the database",
            serving,
        ]
        assert make.said("zipkin: ") == [f"zipkin: {zipkin_ui} (stop it: make zipkin-stop)"]
        if shutil.which("redis-server"):  # the broker, then a worker and beat
            make.wait_for(f"broker: redis-server on 127.0.0.1:{broker_port}, jobs kept in")
            assert len(make.said("broker: ")) == 1
            make.wait_for(" ready.")  # celery's worker@host ready.
            # Niced, so that the site's first page does not wait for their start-up.
            assert niceness(make.process.pid, "celery") == {"worker": 10, "beat": 10}
        assert_quiet(make.interrupt())
        assert healthy(zipkin_url)  # Zipkin keeps running after Ctrl-C

        # The jar is in the cache, and Maven's copy in the login's home, not HOME's.
        jar = f"zipkin-server-{ZIPKIN_VERSION}-exec.jar"
        assert (cache / jar).is_file()
        login_home = Path(pwd.getpwuid(os.getuid()).pw_dir)
        m2 = login_home / ".m2" / "repository" / "io" / "zipkin" / "zipkin-server"
        assert (m2 / ZIPKIN_VERSION / jar).is_file()
        assert not (home / ".m2").exists()

        # Warm: nothing to install.
        make = make_run()
        make.wait_for(serving)
        assert first_page_trace(f"http://127.0.0.1:{port}", zipkin_url)
        assert make.said() == ["toastsite: migrating the database", serving]
        assert_quiet(make.interrupt())

        # The first server ran the jar as it is, and unpacked it for the next.
        deadline = time.monotonic() + 120
        unpacked = cache / f"zipkin-server-{ZIPKIN_VERSION}" / jar
        while not unpacked.is_file() and time.monotonic() < deadline:
            time.sleep(0.5)
        assert unpacked.is_file()
    finally:
        for make in started:
            make.kill()
        subprocess.run(["scripts/zipkin.sh", "stop", str(zipkin_port)], cwd=project, env=env)
        subprocess.run(["scripts/broker.sh", "stop"], cwd=project, env=env)  # kept, as Zipkin


def test_waiting_for_zipkin_is_said_only_while_it_is_not_up():
    script = zipkin.zipkin_script()
    port = free_port()
    try:
        subprocess.run([script, "launch", str(port)], check=True)
        first = subprocess.run([script, "wait", str(port)], capture_output=True, text=True)
        again = subprocess.run([script, "wait", str(port)], capture_output=True, text=True)
    finally:
        subprocess.run([script, "stop", str(port)], capture_output=True)
    ui = f"Zipkin UI: http://localhost:{port}/zipkin/ (stop it: make zipkin-stop)"
    assert first.returncode == 0, first.stderr
    assert first.stderr.splitlines() == [
        "zipkin: waiting for Zipkin to start (a few seconds; up to 20 the first time)…",
        f"zipkin: started. {ui}",
    ]
    assert again.returncode == 0, again.stderr
    assert again.stderr.splitlines() == [f"zipkin: {ui}"]


def test_zipkin_listens_on_9411_unless_told_otherwise(tmp_path):
    script = zipkin.zipkin_script()
    try:
        socket.create_connection(("127.0.0.1", 9411), timeout=1).close()
        pytest.skip("something listens on 9411 already")
    except OSError:
        pass
    # A cache of its own, so that its pid files are not those of another's Zipkin.
    env = {name: value for name, value in os.environ.items() if name != "ZIPKIN_PORT"}
    env["TOASTSITE_CACHE"] = str(tmp_path)
    jar = Path(subprocess.run([script, "fetch"], capture_output=True, text=True).stdout.strip())
    (tmp_path / jar.name).symlink_to(jar)
    try:
        subprocess.run([script, "launch"], env=env, check=True)
        waited = subprocess.run([script, "wait"], env=env, capture_output=True, text=True)
    finally:
        subprocess.run([script, "stop"], env=env, capture_output=True)
    assert waited.stderr.splitlines()[-1] == (
        "zipkin: started. Zipkin UI: http://localhost:9411/zipkin/ (stop it: make zipkin-stop)"
    )
    # Its first start unpacks the jar for the next ones once it is up: let that end.
    deadline = time.monotonic() + 120
    while list(tmp_path.glob("unpack.*")) and time.monotonic() < deadline:
        time.sleep(0.5)


@pytest.mark.parametrize("stage", ["migrating the database", "waiting for Zipkin"])
def test_ctrl_c_ends_the_stages_before_serving_quietly(stage, tmp_path):
    script = zipkin.zipkin_script()
    port = free_port()
    # A cache with just the jar: the server's first start, the slowest.
    cache = tmp_path / "cache"
    cache.mkdir()
    jar = subprocess.run([script, "fetch"], capture_output=True, text=True).stdout.strip()
    (cache / Path(jar).name).symlink_to(jar)
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "ZIPKIN_PORT": str(port),
        "TOASTSITE_CACHE": str(cache),
    }
    lines: list[str] = []
    try:
        ready = subprocess.Popen(
            [ROOT / "scripts" / "ready.sh", "here"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        for line in ready.stdout:
            lines.append(line)
            if "migrating" in line and stage == "waiting for Zipkin":
                # Launched as migrating starts, Zipkin is not up when it ends.
                subprocess.run([script, "launch", str(port)], env=env, check=True)
            if stage in line:
                time.sleep(0.2)  # into the stage: Python and Zipkin take longer to be done
                os.killpg(ready.pid, signal.SIGINT)  # Ctrl-C
                break
        lines += ready.stdout.readlines()
        assert ready.wait(timeout=30) == 130, lines  # interrupted, as it was told
    finally:
        subprocess.run([script, "stop", str(port)], env=env, capture_output=True)
    assert stage in lines[-1], lines  # and nothing after it
    assert not [line for line in lines if "Traceback" in line], lines


@pytest.fixture(params=["uv", "pip"])
def installer(request, tmp_path) -> dict:
    """scripts/venv.sh in a project of its own, with uv (the cache's), or with
    venv and pip: a Python without pip cannot install uv."""
    project = tmp_path / "project"
    (project / "scripts").mkdir(parents=True)
    shutil.copy2(ROOT / "scripts" / "venv.sh", project / "scripts")
    shutil.copy2(ROOT / "requirements-dev.txt", project)
    env = {name: value for name, value in os.environ.items() if name != "VIRTUAL_ENV"}
    if request.param == "pip":
        home = tmp_path / "home"
        home.mkdir()
        base = getattr(sys, "_base_executable", sys.executable)
        subprocess.run([base, "-m", "venv", "--without-pip", tmp_path / "nopip"], check=True)
        env |= {"HOME": str(home), "PYTHON": str(tmp_path / "nopip" / "bin" / "python")}
        env.pop("XDG_CACHE_HOME", None)
        env.pop("TOASTSITE_CACHE", None)
    return {"name": request.param, "project": project, "env": env}


def venv_sh(installer: dict, requirements: str) -> subprocess.CompletedProcess:
    (installer["project"] / "req.txt").write_text(requirements)
    return subprocess.run(
        [installer["project"] / "scripts" / "venv.sh", "req.txt"],
        env=installer["env"],
        capture_output=True,
        text=True,
    )


def has_sqlparse(installer: dict) -> bool:
    python = installer["project"] / ".venv" / "bin" / "python"
    return subprocess.run([python, "-c", "import sqlparse"], capture_output=True).returncode == 0


def test_requirements_install_with_their_hashes_checked(installer):
    done = venv_sh(installer, SQLPARSE)
    assert done.returncode == 0, done.stderr
    said = [line for line in done.stderr.splitlines() if line.startswith("toastsite: ")]
    if installer["name"] == "uv":
        assert said[-2:] == [
            "toastsite: creating .venv with uv",
            "toastsite: installing req.txt with uv (hash-checked)",
        ]
    else:
        cache = Path(installer["env"]["HOME"]) / ".cache" / "toastsite"
        assert said == [
            f"toastsite: fetching uv {UV_VERSION} into {cache}, once (hash-checked)",
            "toastsite: uv could not be had; using Python's venv and pip instead, "
            "which takes longer",
            "toastsite: creating .venv",
            "toastsite: installing req.txt with pip (hash-checked)",
        ]
    assert has_sqlparse(installer)


@pytest.mark.parametrize(
    "requirements",
    [
        pytest.param(wrong_hashes(SQLPARSE), id="a wrong hash"),
        pytest.param("sqlparse==0.6.1\n", id="no hash"),
    ],
)
def test_requirements_without_their_right_hash_are_refused(installer, requirements):
    refused = venv_sh(installer, requirements)
    assert refused.returncode != 0
    assert "hash" in refused.stderr.lower()
    assert not has_sqlparse(installer)


def test_a_uv_wheel_that_does_not_match_its_hash_is_not_used(tmp_path):
    project = tmp_path / "project"
    (project / "scripts").mkdir(parents=True)
    shutil.copy2(ROOT / "scripts" / "venv.sh", project / "scripts")
    dev = (ROOT / "requirements-dev.txt").read_text()
    uv = re.search(r"^uv==.*?[^\\]\n", dev, re.M | re.S)[0]
    (project / "requirements-dev.txt").write_text(dev.replace(uv, wrong_hashes(uv)))
    (project / "req.txt").write_text(SQLPARSE)
    home = tmp_path / "home"
    home.mkdir()
    env = {name: value for name, value in os.environ.items() if name != "VIRTUAL_ENV"}
    env.pop("XDG_CACHE_HOME", None)
    env.pop("TOASTSITE_CACHE", None)
    done = subprocess.run(
        [project / "scripts" / "venv.sh", "req.txt"],
        env={**env, "HOME": str(home)},
        capture_output=True,
        text=True,
    )
    assert "DO NOT MATCH THE HASHES" in done.stderr
    assert "toastsite: uv could not be had; using Python's venv and pip instead" in done.stderr
    assert not (home / ".cache" / "toastsite" / f"uv-{UV_VERSION}").exists()
