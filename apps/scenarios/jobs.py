"""How the worker's scenarios travel with each job, and act in the worker.

The API reads them (config.py) and says so in its `Scenarios` header; each job
it publishes carries them (`for_job`), and the worker applies what the job
says (`apply`). So one knob, set where the banner can see it, slows or fails
the worker, in the monolith and in the split alike.
"""

import random
import time

from apps.scenarios import config
from apps.scenarios.api import ScenarioFailure


def for_job() -> dict:
    """The worker's scenarios that are on, for a job's arguments ({} when none is)."""
    on = config.current
    said = {}
    if on.worker_latency_ms:
        said["latency_ms"] = on.worker_latency_ms
    if on.worker_failure_rate:
        said["failure_rate"] = on.worker_failure_rate
    return said


def apply(said: dict | None) -> None:
    """Slow this job down, or fail it, as its publisher said."""
    said = said if isinstance(said, dict) else {}
    if latency := said.get("latency_ms"):
        time.sleep(float(latency) / 1000)
    if random.random() < float(said.get("failure_rate", 0)):
        raise ScenarioFailure(
            f"scenario failure: SCENARIO_WORKER_FAILURE_RATE={said['failure_rate']}"
        )
