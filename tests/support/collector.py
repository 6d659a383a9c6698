"""The OpenTelemetry Collector for the tests: built from collector/builder.yaml
by scripts/collector.sh (once, into the cache), run with collector/config.yaml
alone, or as a tier: collector/router.yaml in front of N samplers."""

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import requests

from tests.support.servers import ROOT, free_port, skip_or_fail, wait_until_healthy

SAMPLERS_NAME = "samplers.toastsite.test"


def binary() -> str:
    built = subprocess.run(
        [ROOT / "scripts" / "collector.sh", "build"], capture_output=True, text=True
    )
    if built.returncode != 0:
        skip_or_fail(f"cannot build the OpenTelemetry Collector: {built.stderr.strip()[-500:]}")
    return built.stdout.strip()


@dataclass
class Running:
    """One Collector process: where it listens, and its log."""

    process: subprocess.Popen
    address: str
    otlp: int  # OTLP/HTTP
    grpc: int
    metrics: int
    log: Path

    @property
    def endpoint(self) -> str:
        return f"http://{self.address}:{self.otlp}"

    def metric(self, name: str, missing: float | None = None) -> float:
        """The sum of a metric's series in the Collector's own Prometheus metrics
        (`missing` if it has none yet: a counter appears when first counted)."""
        text = requests.get(f"http://{self.address}:{self.metrics}/metrics", timeout=5).text
        values = [float(m[1]) for m in re.finditer(rf"^{name}(?:{{.*}})? (\S+)$", text, re.M)]
        if not values and missing is not None:
            return missing
        assert values, f"no metric {name} at {self.address}:{self.metrics}"
        return sum(values)

    def undecided(self) -> float:
        """Traces a tail sampler has taken in and not decided on yet. (Its
        traces_on_memory gauge also counts decided traces: without a decision
        cache, they stay in memory until the processor needs the room.)"""
        received = self.metric("otelcol_processor_tail_sampling_new_trace_id_received", 0)
        decided = self.metric("otelcol_processor_tail_sampling_global_count_traces_sampled", 0)
        return received - decided


@contextmanager
def run(
    zipkin: str, log: Path, config: str, address: str = "127.0.0.1", ports=None, wrap=(), **env
) -> Iterator[Running]:
    """A Collector on `address` with collector/`config`, sending on to `zipkin`
    (for a sampler); `env` overrides its COLLECTOR_* settings. `config` may
    be several files, merged in order, as `--config` does."""
    otlp, grpc, health, metrics = ports or (free_port() for _ in range(4))
    settings = {
        "COLLECTOR_HOST": address,
        "COLLECTOR_OTLP_PORT": str(otlp),
        "COLLECTOR_GRPC_PORT": str(grpc),
        "COLLECTOR_HEALTH_PORT": str(health),
        "COLLECTOR_METRICS_PORT": str(metrics),
        "COLLECTOR_ZIPKIN_ENDPOINT": f"{zipkin}/api/v2/spans",
        **env,
    }
    configs = [arg for file in config.split() for arg in ("--config", _config_path(file))]
    with log.open("w") as out:
        process = subprocess.Popen(
            [*wrap, binary(), *configs],
            env={**os.environ, **settings},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until_healthy(
            f"the Collector on {address}", f"http://{address}:{health}/", process, log
        )
        yield Running(process, address, otlp, grpc, metrics, log)
    finally:
        if process.poll() is None:
            process.terminate()
        process.wait(timeout=30)


def _config_path(file: str) -> str:
    path = Path(file)
    return str(path if path.is_absolute() else ROOT / "collector" / path)


@contextmanager
def collector(zipkin: str, log: Path, **env: str) -> Iterator[Running]:
    """A Collector on free ports of 127.0.0.1 that sends on to `zipkin`, with
    collector/config.yaml; `env` overrides its settings (COLLECTOR_*)."""
    with run(zipkin, log, "config.yaml", **env) as running:
        yield running


# Every span a sampler receives, logged before it decides: which traces it
# held. A second pipeline from the same receiver, for the tests only.
SEEN = """
exporters:
  debug/seen:
    verbosity: detailed
    sampling_initial: 1000000000
    sampling_thereafter: 1
service:
  pipelines:
    traces/seen:
      receivers: [otlp]
      exporters: [debug/seen]
  telemetry:
    logs:
      sampling:
        enabled: false  # else the Collector logs 10 lines alike per 10 s, then 1 in 100
"""


def seen(log: Path) -> dict[str, datetime]:
    """The trace ids in a sampler's log (with SEEN), each with the time its
    first span arrived."""
    first: dict[str, datetime] = {}
    when = None
    for line in log.read_text(errors="replace").splitlines():
        stamp = re.match(r"(\d{4}-\d\d-\d\dT[\d:.]+Z)\s", line)
        if stamp:
            when = datetime.fromisoformat(stamp[1].replace("Z", "+00:00"))
        trace = re.match(r"\s*Trace ID\s*: ([0-9a-f]{32})", line)
        if trace and when:
            first.setdefault(trace[1], when)
    return first


@dataclass
class Tier:
    router: Running
    samplers: list[Running]
    hosts: Path | None  # the router's /etc/hosts, with the dns resolver

    @property
    def endpoint(self) -> str:
        return self.router.endpoint

    def backends(self) -> int:
        """How many samplers the router sends to, by its own count."""
        return int(self.router.metric("otelcol_loadbalancer_num_backends"))

    def kill(self, sampler: Running) -> None:
        """SIGKILL, as a crash; with dns, the name then stops listing it, as
        Kubernetes' headless service does when a pod dies."""
        sampler.process.send_signal(signal.SIGKILL)
        sampler.process.wait(timeout=10)
        if self.hosts:
            lines = self.hosts.read_text().splitlines(keepends=True)
            # In place: the router sees this file through a bind mount, and a
            # new file (a rename) would not be seen through it.
            with self.hosts.open("r+") as hosts:
                hosts.writelines(line for line in lines if not line.startswith(sampler.address))
                hosts.truncate()


def loopback_port(addresses: list[str], block: range = range(1)) -> int:
    """A port free on every one of `addresses`, with the ports at the offsets
    in `block` from it (as scripts/collector.sh uses PORT-1 to PORT+2)."""
    for _ in range(50):
        port = free_port()
        try:
            for address in addresses:
                for offset in block:
                    with closing(socket.socket()) as probe:
                        probe.bind((address, port + offset))
            return port
        except OSError:
            continue
    raise RuntimeError(f"no port free on all of {addresses}")


@contextmanager
def tier(
    zipkin: str, folder: Path, samplers: int = 2, resolver: str = "static", router=(), **env
) -> Iterator[Tier]:
    """A router on 127.0.0.1 in front of `samplers` tail samplers on 127.0.0.2,
    127.0.0.3, ..., each on the same ports of its own address, as
    `scripts/collector.sh start-tier` runs them. `env` goes to the samplers;
    `router` names extra config files for the router."""
    addresses = [f"127.0.0.{k}" for k in range(2, samplers + 2)]
    ports = [loopback_port(addresses) for _ in range(4)]
    with ExitStack() as running:
        started = [
            running.enter_context(
                run(
                    zipkin,
                    folder / f"sampler-{address}.log",
                    f"config.yaml {seen_file(folder)}",
                    address,
                    ports,
                    **env,
                )
            )
            for address in addresses
        ]
        grpc = ports[1]
        settings = {"COLLECTOR_RESOLVER": resolver}
        wrap: list[str] = []
        hosts = None
        if resolver == "static":
            settings["COLLECTOR_SAMPLERS"] = "[" + ", ".join(f"{a}:{grpc}" for a in addresses) + "]"
        else:
            hosts = folder / "hosts"
            hosts.write_text("".join(f"{a} {SAMPLERS_NAME}\n" for a in addresses))
            wrap = private_hosts(hosts)
            settings |= {
                "COLLECTOR_SAMPLERS_NAME": SAMPLERS_NAME,
                "COLLECTOR_SAMPLERS_PORT": str(grpc),
            }
        config = " ".join(["router.yaml", *router])
        the_router = running.enter_context(
            run(zipkin, folder / "router.log", config, wrap=wrap, **settings)
        )
        yield Tier(the_router, started, hosts)


def seen_file(folder: Path) -> str:
    path = folder / "seen.yaml"
    path.write_text(SEEN)
    return str(path)


def private_hosts(hosts: Path) -> list[str]:
    """The command prefix that runs a process with `hosts` as its /etc/hosts,
    in a mount namespace of its own: no other process sees it, and nothing
    is left to restore if the test dies. (Go's resolver reads /etc/hosts
    again when it changes.)"""
    if shutil.which("unshare") is None:
        skip_or_fail("unshare (util-linux) is needed to give the router a hosts file of its own")
    unshare = ["unshare", "--mount", "--propagation", "private"]
    if os.geteuid() != 0:
        unshare.append("--map-root-user")
    probe = subprocess.run(
        [*unshare, "mount", "--bind", str(hosts), "/etc/hosts"], capture_output=True, text=True
    )
    if probe.returncode != 0:
        skip_or_fail(f"cannot give the router a hosts file of its own: {probe.stderr.strip()}")
    return [*unshare, "sh", "-c", 'mount --bind "$0" /etc/hosts && exec "$@"', str(hosts)]


def wait_until_decided(samplers: list[Running], timeout: float) -> None:
    """Polls until every live sampler has decided on every trace it took in,
    on two polls a second apart: what they kept is in Zipkin by then (they
    batch for 200 ms).
    Call it once the spans are in: a sampler that has none yet holds nothing."""
    deadline = time.monotonic() + timeout
    was_empty = False
    while True:
        live = [s for s in samplers if s.process.poll() is None]
        empty = all(s.undecided() == 0 for s in live)
        if empty and was_empty:
            return
        assert time.monotonic() < deadline, f"the samplers still held traces after {timeout} s"
        was_empty = empty
        time.sleep(1)


def wait_until(condition, timeout: float, what: str, every: float = 0.25):
    """Polls `condition()` until it returns something true; fails after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(every)
    raise AssertionError(f"{what} within {timeout} s")
