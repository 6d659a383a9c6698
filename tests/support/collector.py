"""The OpenTelemetry Collector for the tests: built from collector/builder.yaml
by scripts/collector.sh (once, into the cache), run with collector/config.yaml."""

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.servers import ROOT, free_port, skip_or_fail, wait_until_healthy


@contextmanager
def collector(zipkin: str, log: Path, **env: str) -> Iterator[str]:
    """A Collector on free ports of 127.0.0.1 that sends on to `zipkin`; yields
    its OTLP endpoint. `env` overrides the config's settings (COLLECTOR_*)."""
    built = subprocess.run(
        [ROOT / "scripts" / "collector.sh", "build"], capture_output=True, text=True
    )
    if built.returncode != 0:
        skip_or_fail(f"cannot build the OpenTelemetry Collector: {built.stderr.strip()[-500:]}")
    otlp, health = free_port(), free_port()
    settings = {
        "COLLECTOR_OTLP_PORT": str(otlp),
        "COLLECTOR_HEALTH_PORT": str(health),
        "COLLECTOR_METRICS_PORT": str(free_port()),
        "COLLECTOR_ZIPKIN_ENDPOINT": f"{zipkin}/api/v2/spans",
        **env,
    }
    config = ROOT / "collector" / "config.yaml"
    with log.open("w") as out:
        process = subprocess.Popen(
            [built.stdout.strip(), "--config", str(config)],
            env={**os.environ, **settings},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until_healthy("the Collector", f"http://127.0.0.1:{health}/", process, log)
        yield f"http://127.0.0.1:{otlp}"
    finally:
        process.terminate()
        process.wait(timeout=30)
