"""Tutorial step 10, "When one Collector is not enough": tail sampling across
several Collectors, with real Collector binaries and the real Zipkin.

A tail sampler can decide on a trace only if all of the trace's spans reach
it. Each service sending to a sampler of its own cuts failed traces in half;
a router that sends each trace id to one sampler keeps them whole. Each test
counts only the traces its own page views made (their `traceresponse` ids).
"""

import threading
import time
from dataclasses import dataclass

import pytest
import requests

from tests.support.collector import run, seen, tier, wait_until
from tests.support.http import traceresponse

pytestmark = pytest.mark.e2e

FAILURES = {"SCENARIO_FAILURE_RATE": "0.25"}  # in the api only, as in step 5
DECISION_WAIT = 10  # s, collector/config.yaml's default, which the samplers keep


def otlp(endpoint: str) -> dict[str, str]:
    return {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint}


@dataclass
class Visit:
    started: float  # time.time()
    trace_id: str
    failed: bool  # the page answered 503: the api failed


def visit(visitor, url: str, count: int, per_second: float, stop=None) -> list[Visit]:
    """`count` home page views at a steady rate (fewer if `stop` is set)."""
    visits = []
    begin = time.monotonic()
    for n in range(count):
        if stop is not None and stop.is_set():
            break
        time.sleep(max(0.0, begin + n / per_second - time.monotonic()))
        started = time.time()
        response = visitor.get(f"{url}/")
        assert response.status_code in (200, 503), response.status_code
        visits.append(Visit(started, traceresponse(response).trace_id, response.status_code == 503))
    return visits


def shape(spans: list[dict]) -> str:
    """whole: both services' spans, every parent there; else partial."""
    ids = {s["id"] for s in spans}
    services = {s["localEndpoint"]["serviceName"] for s in spans}
    orphans = [s for s in spans if s.get("parentId") and s["parentId"] not in ids]
    roots = [s for s in spans if not s.get("parentId")]
    return (
        "whole"
        if services == {"frontend", "api"} and len(roots) == 1 and not orphans
        else "partial"
    )


def in_zipkin(zipkin: str, trace_id: str) -> str:
    """lost, partial or whole: what Zipkin holds of a trace."""
    response = requests.get(f"{zipkin}/api/v2/trace/{trace_id}", timeout=5)
    return "lost" if response.status_code == 404 else shape(response.json())


def outcomes(zipkin: str, visits: list[Visit], samplers, timeout: float) -> dict[str, str]:
    """Each visit's trace as Zipkin holds it once the samplers are done: polls
    until every failed trace is whole, or until a second after the samplers
    last held no trace (what they kept is in Zipkin by then: they batch for
    200 ms)."""
    deadline = time.monotonic() + timeout
    was_settled = False
    while True:
        settled = all(
            s.metric("otelcol_processor_tail_sampling_sampling_traces_on_memory") == 0
            for s in samplers
            if s.process.poll() is None
        )
        found = {v.trace_id: in_zipkin(zipkin, v.trace_id) for v in visits}
        if all(found[v.trace_id] == "whole" for v in visits if v.failed):
            return found
        if was_settled or time.monotonic() > deadline:
            return found
        was_settled = settled
        time.sleep(1)


def tally(visits: list[Visit], found: dict[str, str], failed: bool) -> dict[str, int]:
    counts = {"whole": 0, "partial": 0, "lost": 0}
    for v in visits:
        if v.failed == failed:
            counts[found[v.trace_id]] += 1
    return counts


# Two kinds of failure. The api failing (step 5's scenario): its 500 makes the
# page a 503, so both services' spans say ERROR. The api too slow for the
# page: the page gives up after 0.1 s and answers 503, while the api's spans
# end well, 300 ms later (below the samplers' 500 ms "slow"): only the
# frontend's half says anything went wrong.
API_FAILS = {"api_env": FAILURES}
API_TOO_SLOW = {
    "api_env": {"SCENARIO_LATENCY_MS": "300"},
    "frontend_env": {"TOAST_API_READ_TIMEOUT": "0.1"},
}


def page_views(split, visitor, samplers, zipkin, frontend_to, api_to, scenario, count=120):
    """`count` page views of the split under `scenario`, each service sending
    to its endpoint; what Zipkin holds of them once the samplers are done."""
    frontend, _ = split(
        frontend_env={**otlp(frontend_to), **scenario.get("frontend_env", {})},
        api_env={**otlp(api_to), **scenario.get("api_env", {})},
    )
    visits = visit(visitor, frontend.url, count, per_second=8)
    time.sleep(0.5)  # the site's last batch (100 ms)
    found = outcomes(zipkin, visits, samplers, timeout=DECISION_WAIT + 30)
    return tally(visits, found, failed=True), tally(visits, found, failed=False)


def said(name: str, failed: dict, others: dict) -> str:
    text = (
        f"{name}: of {sum(failed.values())} failed traces {failed['whole']} whole, "
        f"{failed['partial']} partial, {failed['lost']} lost"
    )
    if sum(others.values()):
        kept, partial = others["whole"], others["partial"]
        text += f"; of {sum(others.values())} others {kept} kept, {partial} partial"
    return text


def test_the_trap_a_sampler_per_service_cuts_failed_traces_in_half(
    visitor, split, zipkin_server, tmp_path
):
    with (
        run(zipkin_server, tmp_path / "frontend-sampler.log", "config.yaml") as for_frontend,
        run(zipkin_server, tmp_path / "api-sampler.log", "config.yaml") as for_api,
    ):
        each = (split, visitor, [for_frontend, for_api], zipkin_server)
        ends = (for_frontend.endpoint, for_api.endpoint)
        fails, fails_others = page_views(*each, *ends, API_FAILS)
        print("\nthe trap, " + said("the api failing", fails, fails_others))
        slow, _ = page_views(*each, *ends, API_TOO_SLOW)
        print("the trap, " + said("the api too slow for the page", slow, {}))
    # Both halves said ERROR, so each sampler kept its own: whole, by luck.
    assert fails["whole"] == sum(fails.values()) > 0
    assert fails_others["partial"] == 0  # the 10% is decided by trace id, alike on both
    # Only the frontend's half said so: the api's sampler dropped its half.
    assert slow["partial"] > 0


def test_the_fix_a_router_keeps_every_failed_trace_whole(visitor, split, zipkin_server, tmp_path):
    with tier(zipkin_server, tmp_path, samplers=2) as samplers:
        each = (split, visitor, samplers.samplers, zipkin_server, samplers.endpoint)
        fails, others = page_views(*each, samplers.endpoint, API_FAILS)
        print("\nthe router, " + said("the api failing", fails, others))
        slow, _ = page_views(*each, samplers.endpoint, API_TOO_SLOW)
        print("the router, " + said("the api too slow for the page", slow, {}))
        received = [s.metric("otelcol_receiver_accepted_spans") for s in samplers.samplers]
    print(f"spans per sampler {received} ({max(received) / sum(received):.0%} to the busier one)")
    assert fails["whole"] == sum(fails.values()) > 0
    assert slow["whole"] == sum(slow.values()) > 0
    assert others["partial"] == 0
    assert others["whole"] > 0
    assert all(count > 0 for count in received)  # both samplers had their share


def test_a_sampler_killed_under_load_loses_only_what_it_held(
    visitor, split, zipkin_server, tmp_path
):
    with tier(zipkin_server, tmp_path, samplers=2, resolver="dns") as samplers:
        assert samplers.backends() == 2
        frontend, _ = split(api_env=FAILURES, **otlp(samplers.endpoint))
        visits: list[Visit] = []
        stop = threading.Event()
        load = threading.Thread(
            target=lambda: visits.extend(visit(visitor, frontend.url, 10_000, 4, stop))
        )
        load.start()
        try:
            time.sleep(15)  # steady state: both samplers hold traces
            dead = samplers.samplers[1]
            killed = time.time()
            samplers.kill(dead)
            wait_until(lambda: samplers.backends() == 1, 30, "the router did not drop the sampler")
            dropped = time.time()
            time.sleep(15)  # traces that start after the drop
        finally:
            stop.set()
            load.join()
        time.sleep(0.5)
        found = outcomes(zipkin_server, visits, samplers.samplers, timeout=DECISION_WAIT + 40)
        held = seen(dead.log)
    # What the dead sampler held undecided: traces whose first span reached it
    # less than decision_wait (and the 1 s tick of its decisions) before it died.
    waiting = {
        trace for trace, first in held.items() if first.timestamp() > killed - DECISION_WAIT - 1
    }
    failed = [v for v in visits if v.failed]
    lost = [v for v in failed if found[v.trace_id] != "whole"]
    lost_waiting = [v for v in lost if v.trace_id in waiting]
    after = [v for v in failed if v.started > dropped]
    print(
        f"\nkilled: {len(failed)} failed traces in {len(visits)} page views; "
        f"{len(lost)} failed traces lost ({len(lost_waiting)} of them held by the dead sampler), "
        f"{sum(1 for v in failed if v.trace_id in waiting)} failed traces were waiting on its "
        f"decision; the router dropped it {dropped - killed:.1f} s after the kill; "
        f"{len(after)} failed traces began after that, "
        f"{sum(found[v.trace_id] != 'whole' for v in after)} of them lost"
    )
    assert len(lost) <= sum(1 for v in failed if v.trace_id in waiting)
    assert [found[v.trace_id] for v in after] == ["whole"] * len(after)
    assert after
