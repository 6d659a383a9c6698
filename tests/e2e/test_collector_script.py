"""scripts/collector.sh as the tutorial uses it (steps 9 and 10): start, a start
with other settings, a tier of a router and samplers, a sampler killed, stop.
Run on a free port, with a state folder of its own, so that it never meets a
Collector the reader (or another test) runs."""

import os
import subprocess
from pathlib import Path

import pytest
import requests

from tests.support.collector import binary, loopback_port, wait_until
from tests.support.servers import ROOT, wait_until_healthy

pytestmark = pytest.mark.e2e

SCRIPT = ROOT / "scripts" / "collector.sh"


@pytest.fixture
def script(tmp_path):
    """Runs collector.sh with its state in tmp_path, the build found where it is."""
    built = Path(binary()).parents[1]  # .../collector/otelcol-<hash>/otelcol-toastsite
    (tmp_path / "collector").symlink_to(built)
    port = loopback_port(["127.0.0.1", "127.0.0.2", "127.0.0.3"], block=range(-1, 3))
    env = {**os.environ, "TOASTSITE_CACHE": str(tmp_path), "COLLECTOR_PORT": str(port)}
    env = {k: v for k, v in env.items() if not k.startswith("COLLECTOR_") or k == "COLLECTOR_PORT"}

    def run(*args: str, **settings: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [SCRIPT, *args], env={**env, **settings}, capture_output=True, text=True, timeout=120
        )

    run.port = port
    run.state = tmp_path
    yield run
    run("stop")


def pids(state: Path, port: int) -> list[tuple[int, str]]:
    lines = (state / f"collector-{port}.pids").read_text().split("\n")
    return [(int(pid), address) for pid, address in (line.split() for line in lines if line)]


def alive(pid: int) -> bool:
    """Running, and not a zombie that its parent has yet to reap."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_a_start_with_other_settings_restarts_the_collector(script):
    first = script("start", str(script.port))
    assert first.returncode == 0, first.stderr
    ((before, _),) = pids(script.state, script.port)

    again = script("start", str(script.port))
    assert again.returncode == 0
    assert "already running" in again.stderr
    assert pids(script.state, script.port) == [(before, "127.0.0.1")]

    hundred = script("start", str(script.port), COLLECTOR_SAMPLE_PERCENT="100")
    assert hundred.returncode == 0, hundred.stderr
    assert "+ COLLECTOR_SAMPLE_PERCENT=100" in hundred.stderr
    ((after, _),) = pids(script.state, script.port)
    assert after != before
    assert not alive(before)
    settings = (script.state / f"collector-{script.port}.settings").read_text()
    assert "COLLECTOR_SAMPLE_PERCENT=100" in settings

    back = script("start", str(script.port))  # back to the default, 10%
    assert back.returncode == 0
    assert "- COLLECTOR_SAMPLE_PERCENT=100" in back.stderr
    assert not alive(after)


def test_a_start_refuses_when_something_else_answers_on_the_port(script, tmp_path):
    port = script.port
    ports = {"OTLP": port, "GRPC": port - 1, "HEALTH": port + 1, "METRICS": port + 2}
    env = {**os.environ, **{f"COLLECTOR_{k}_PORT": str(v) for k, v in ports.items()}}
    with (tmp_path / "other.log").open("w") as log:
        other = subprocess.Popen(
            [binary(), "--config", str(ROOT / "collector" / "config.yaml")],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        log = tmp_path / "other.log"
        wait_until_healthy("the other Collector", f"http://127.0.0.1:{port + 1}/", other, log)
        refused = script("start", str(port))
        assert refused.returncode == 1
        assert "not started by" in refused.stderr
        assert "stop it" in refused.stderr
        assert other.poll() is None  # left alone
    finally:
        other.terminate()
        other.wait(timeout=30)


def test_start_tier_a_router_and_samplers_then_one_killed(script):
    started = script("start-tier", "2", COLLECTOR_RESOLVER="dns")
    assert started.returncode == 0, started.stderr
    processes = pids(script.state, script.port)
    assert [address for _, address in processes] == ["127.0.0.2", "127.0.0.3", "127.0.0.1"]
    for _, address in processes:
        health = requests.get(f"http://{address}:{script.port + 1}/", timeout=5)
        assert health.ok
    hosts = script.state / f"collector-{script.port}.hosts"
    assert hosts.read_text() == (
        "127.0.0.2 samplers.toastsite.test\n127.0.0.3 samplers.toastsite.test\n"
    )

    def backends() -> float:
        text = requests.get(f"http://127.0.0.1:{script.port + 2}/metrics", timeout=5).text
        line = next(
            x for x in text.splitlines() if x.startswith("otelcol_loadbalancer_num_backends")
        )
        return float(line.split()[-1])

    wait_until(lambda: backends() == 2, 10, "the router did not find both samplers")
    killed = script("kill-sampler", "3")
    assert killed.returncode == 0, killed.stderr
    assert not alive(processes[1][0])
    assert hosts.read_text() == "127.0.0.2 samplers.toastsite.test\n"
    wait_until(lambda: backends() == 1, 15, "the router did not drop the killed sampler")

    restarted = script("start-tier", "2", COLLECTOR_RESOLVER="dns")  # a sampler was gone
    assert restarted.returncode == 0, restarted.stderr
    assert "had stopped" in restarted.stderr
    running = pids(script.state, script.port)
    stopped = script("stop")
    assert stopped.returncode == 0
    assert not any(alive(pid) for pid, _ in running)
    assert not hosts.exists()
