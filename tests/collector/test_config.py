"""collector/config.yaml, checked against what the tutorial's step 9 says of it."""

import re

import pytest
import yaml

from tests.support.servers import ROOT


@pytest.fixture(scope="module")
def config() -> dict:
    return yaml.safe_load((ROOT / "collector" / "config.yaml").read_text())


def default(value: str) -> str:
    """The default of a ${env:NAME:-default} setting."""
    return re.fullmatch(r"\$\{env:\w+:-(.+)\}", str(value))[1]


def test_tail_sampling_waits_10_s_and_keeps_errors_slow_traces_and_a_tenth(config):
    sampling = config["processors"]["tail_sampling"]
    assert default(sampling["decision_wait"]) == "10s"
    policies = {policy["type"]: policy for policy in sampling["policies"]}
    assert policies["status_code"]["status_code"]["status_codes"] == ["ERROR"]
    assert default(policies["latency"]["latency"]["threshold_ms"]) == "500"
    assert default(policies["probabilistic"]["probabilistic"]["sampling_percentage"]) == "10"


def test_otlp_over_http_in_zipkin_out(config):
    endpoint = config["receivers"]["otlp"]["protocols"]["http"]["endpoint"]
    assert endpoint == "${env:COLLECTOR_HOST:-127.0.0.1}:${env:COLLECTOR_OTLP_PORT:-4318}"
    assert default(config["exporters"]["zipkin"]["endpoint"]).endswith(":9411/api/v2/spans")
    pipeline = config["service"]["pipelines"]["traces"]
    assert pipeline["processors"] == ["tail_sampling", "batch"]
    assert "zipkin" in pipeline["exporters"]
