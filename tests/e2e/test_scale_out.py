"""Tutorial step 11, "When one Collector is not enough": tail sampling across
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

from tests.support.collector import run, seen, tier, wait_until, wait_until_decided
from tests.support.http import traceresponse
from tests.support.polling import steadily
from tests.support.zipkin import screenshot

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
    for _ in steadily(count, per_second, stop):
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
    """Each visit's trace as Zipkin holds it, once the samplers have decided."""
    time.sleep(0.5)  # the site's last batch (100 ms): the samplers have it all
    wait_until_decided(samplers, timeout)
    return {v.trace_id: in_zipkin(zipkin, v.trace_id) for v in visits}


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


@dataclass
class PageViews:
    visits: list[Visit]
    found: dict[str, str]  # trace id: whole, partial or lost

    def count(self, failed: bool) -> dict[str, int]:
        counts = {"whole": 0, "partial": 0, "lost": 0}
        for v in self.visits:
            if v.failed == failed:
                counts[self.found[v.trace_id]] += 1
        return counts

    def failed_trace(self, shape: str) -> str:
        return next(v.trace_id for v in self.visits if v.failed and self.found[v.trace_id] == shape)

    def said(self, name: str) -> str:
        failed, others = self.count(failed=True), self.count(failed=False)
        text = (
            f"{name}: of {sum(failed.values())} failed traces {failed['whole']} whole, "
            f"{failed['partial']} partial, {failed['lost']} lost"
        )
        if sum(others.values()):
            kept, partial = others["whole"], others["partial"]
            text += f"; of {sum(others.values())} others {kept} kept, {partial} partial"
        return text


def page_views(split, visitor, samplers, zipkin, frontend_to, api_to, scenario) -> PageViews:
    """120 page views of the split under `scenario`, each service sending to
    its endpoint; what Zipkin holds of them once the samplers are done."""
    frontend, _ = split(
        frontend_env={**otlp(frontend_to), **scenario.get("frontend_env", {})},
        api_env={**otlp(api_to), **scenario.get("api_env", {})},
    )
    visits = visit(visitor, frontend.url, 120, per_second=8)
    return PageViews(visits, outcomes(zipkin, visits, samplers, timeout=DECISION_WAIT + 30))


def screenshot_a_trace(page, zipkin: str, trace_id: str, name: str) -> None:
    """A home page's trace in Zipkin's UI, its call for the toast of the day open."""
    path, call = f"traces/{trace_id}", "get /api/toasts/today/"  # part of the call's label
    screenshot(page, zipkin, path, name, "get home", call, click_exact=False)


def test_the_trap_a_sampler_per_service_cuts_failed_traces_in_half(
    visitor, split, zipkin_server, tmp_path, page
):
    with (
        run(zipkin_server, tmp_path / "frontend-sampler.log", "config.yaml") as for_frontend,
        run(zipkin_server, tmp_path / "api-sampler.log", "config.yaml") as for_api,
    ):
        each = (split, visitor, [for_frontend, for_api], zipkin_server)
        ends = (for_frontend.endpoint, for_api.endpoint)
        fails = page_views(*each, *ends, API_FAILS)
        print("\nthe trap, " + fails.said("the api failing"))
        slow = page_views(*each, *ends, API_TOO_SLOW)
        print("the trap, " + slow.said("the api too slow for the page"))
    # Both halves said ERROR, so each sampler kept its own: whole, by luck.
    assert fails.count(failed=True)["whole"] == len([v for v in fails.visits if v.failed]) > 0
    assert fails.count(failed=False)["partial"] == 0  # the 10% goes by trace id, alike on both
    # Only the frontend's half said so: the api's sampler dropped its half.
    assert slow.count(failed=True)["partial"] > 0
    screenshot_a_trace(page, zipkin_server, slow.failed_trace("partial"), "step11-half-trace")


def test_the_fix_a_router_keeps_every_failed_trace_whole(
    visitor, split, zipkin_server, tmp_path, page
):
    with tier(zipkin_server, tmp_path, samplers=2) as samplers:
        each = (split, visitor, samplers.samplers, zipkin_server, samplers.endpoint)
        fails = page_views(*each, samplers.endpoint, API_FAILS)
        print("\nthe router, " + fails.said("the api failing"))
        slow = page_views(*each, samplers.endpoint, API_TOO_SLOW)
        print("the router, " + slow.said("the api too slow for the page"))
        received = [s.metric("otelcol_receiver_accepted_spans") for s in samplers.samplers]
    print(f"spans per sampler {received} ({max(received) / sum(received):.0%} to the busier one)")
    for run_ in (fails, slow):
        failed = run_.count(failed=True)
        assert failed["whole"] == sum(failed.values()) > 0
    others = fails.count(failed=False)
    assert others["partial"] == 0
    assert others["whole"] > 0
    assert all(count > 0 for count in received)  # both samplers had their share
    screenshot_a_trace(page, zipkin_server, slow.failed_trace("whole"), "step11-whole-trace")


@dataclass
class Killed:
    visits: list[Visit]
    found: dict[str, str]
    waiting: set[str]  # failed traces the dead sampler held undecided
    killed: float
    dropped: float | None  # when the router stopped sending to it

    def lost(self, visits) -> list[Visit]:
        return [v for v in visits if v.failed and self.found[v.trace_id] != "whole"]

    @property
    def after_drop(self) -> list[Visit]:
        return [v for v in self.visits if self.dropped and v.started > self.dropped]

    def __str__(self) -> str:
        failed = [v for v in self.visits if v.failed]
        lost = self.lost(self.visits)
        text = (
            f"{len(failed)} failed traces in {len(self.visits)} page views; {len(lost)} lost, "
            f"{sum(v.trace_id in self.waiting for v in lost)} of them held by the dead sampler, "
            f"which held {len(self.waiting)} failed traces undecided when it died"
        )
        if self.dropped:
            after = [v for v in self.after_drop if v.failed]
            text += (
                f"; the router dropped it {self.dropped - self.killed:.1f} s after the kill; "
                f"of {len(after)} failed traces begun after that, {len(self.lost(after))} lost"
            )
        return text


def kill_a_sampler_under_load(visitor, split, zipkin, folder, resolver, router=()) -> Killed:
    """Page views at 4 a second through a router and two samplers; 15 s in,
    one sampler is killed; 15 s after the router has dropped it (or after the
    kill, with a resolver that never drops), the page views stop."""
    with tier(zipkin, folder, samplers=2, resolver=resolver, router=router) as samplers:
        assert samplers.backends() == 2
        frontend, _ = split(api_env=FAILURES, **otlp(samplers.endpoint))
        visits: list[Visit] = []
        stop = threading.Event()
        load = threading.Thread(
            target=lambda: visits.extend(visit(visitor, frontend.url, 10_000, 4, stop))
        )
        load.start()
        dropped = None
        try:
            time.sleep(15)  # steady: both samplers hold traces
            dead = samplers.samplers[1]
            killed = time.time()
            samplers.kill(dead)
            if resolver != "static":
                wait_until(lambda: samplers.backends() == 1, 30, "the router kept the dead sampler")
                dropped = time.time()
            time.sleep(15)
        finally:
            stop.set()
            load.join()
        found = outcomes(zipkin, visits, samplers.samplers, timeout=DECISION_WAIT + 60)
    # Undecided: traces whose first span reached it less than decision_wait
    # (and the 1 s tick of its decisions) before it died.
    failed = {v.trace_id for v in visits if v.failed}
    held = seen(dead.log)
    waiting = {t for t, first in held.items() if first.timestamp() > killed - DECISION_WAIT - 1}
    return Killed(visits, found, waiting & failed, killed, dropped)


def test_a_sampler_killed_under_load_loses_only_what_it_held(
    visitor, split, zipkin_server, tmp_path
):
    killed = kill_a_sampler_under_load(visitor, split, zipkin_server, tmp_path, "dns")
    print(f"\na sampler killed: {killed}")
    assert len(killed.lost(killed.visits)) <= len(killed.waiting)
    assert [v for v in killed.after_drop if v.failed]  # some began after the drop
    assert killed.lost(killed.after_drop) == []
