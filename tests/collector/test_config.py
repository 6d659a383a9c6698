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


def test_a_sampler_also_takes_otlp_over_grpc_for_the_router(config):
    grpc = config["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"]
    assert grpc == "${env:COLLECTOR_HOST:-127.0.0.1}:${env:COLLECTOR_GRPC_PORT:-4317}"
    health = config["extensions"]["health_check"]["endpoint"]
    assert health.endswith(":${env:COLLECTOR_HEALTH_PORT:-13133}")


@pytest.fixture(scope="module")
def router() -> dict:
    return yaml.safe_load((ROOT / "collector" / "router.yaml").read_text())


def test_the_router_sends_each_trace_id_to_one_sampler_found_by_a_resolver(router):
    exporters = router["exporters"]
    assert set(exporters) == {"load_balancing/static", "load_balancing/dns"}
    pipeline = router["service"]["pipelines"]["traces"]
    assert pipeline["exporters"] == ["load_balancing/${env:COLLECTOR_RESOLVER:-static}"]
    assert pipeline.get("processors", []) == []
    for exporter in exporters.values():
        assert exporter["routing_key"] == "traceID"
    assert "static" in exporters["load_balancing/static"]["resolver"]
    dns = exporters["load_balancing/dns"]["resolver"]["dns"]
    assert (dns["interval"], dns["timeout"]) == ("1s", "1s")


def test_the_router_retries_and_queues_at_its_own_level_not_per_sampler(router):
    for exporter in router["exporters"].values():
        assert exporter["retry_on_failure"]["enabled"] is True
        assert exporter["sending_queue"]["enabled"] is True
        per_sampler = exporter["protocol"]["otlp"]
        assert per_sampler["retry_on_failure"]["enabled"] is False
        assert per_sampler["sending_queue"]["enabled"] is False
