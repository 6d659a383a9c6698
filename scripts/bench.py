"""What tracing costs: the site under gunicorn, variant by variant, on one machine.

    make bench         (python -m scripts.bench): the monolith, about 5 minutes
    make bench FULL=1  (python -m scripts.bench --full): everything, about 40 minutes

Runs the real Zipkin server and the site's variants under gunicorn side by side.
Counts the instructions a page view of `/` costs in each variant, with valgrind
(a count does not drift with a shared machine's load as time does), and loads
`/` with wrk from a separate process, each variant in turn, cycle after cycle
(so that drifts hit them all alike): one client for latency, then several for
throughput. The full run does this for the monolith and the split, adds the
variant with Zipkin stopped, and also counts the spans Zipkin received
against those produced, measures a page against its API call, and a worker's
memory with Zipkin stopped. Prints a table and writes bench-results/results.json
and a plot.
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import requests

from scripts.harness import (
    OUT,
    free_port,
    gunicorn,
    process,
    rss_kib,
    site,
    traced_to_zipkin,
    workers_of,
)
from toastsite.telemetry.links import parse_traceresponse


@dataclass(frozen=True)
class Variant:
    env: dict[str, str] = field(default_factory=dict)
    zero_code: bool = False  # OpenTelemetry's agent instead of toastsite's own setup
    zones: bool = False  # every part of tracing counted apart (scripts/attribution.py)
    asgi: bool = False  # toastsite/asgi.py under uvicorn instead of wsgi.py under gunicorn


# The zero-code peer with OpenTelemetry's defaults records the deprecated HTTP
# and database names; opted in to the stable ones (the pinned 0.66b1 Django,
# requests and dbapi instrumentations all read "http" and "database"), it
# records what toastsite's spans say, as closely as it can (docs/benchmarks.md).
SAME_CONVENTIONS = {"OTEL_SEMCONV_STABILITY_OPT_IN": "http,database"}
VARIANTS = {
    "off": Variant({"OTEL_SDK_DISABLED": "true"}),
    "traced": Variant(),
    "sampled 10%": Variant(
        {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.1"}
    ),
    "zipkin stopped": Variant({"OTEL_EXPORTER_ZIPKIN_ENDPOINT": "http://127.0.0.1:9/api/v2/spans"}),
    "zero-code peer": Variant({"OTEL_SEMCONV_STABILITY_OPT_IN": ""}, zero_code=True),
    "peer, same conventions": Variant(SAME_CONVENTIONS, zero_code=True),
    "asgi (uvicorn), off": Variant({"OTEL_SDK_DISABLED": "true"}, asgi=True),
    "asgi (uvicorn), traced": Variant(asgi=True),
}
# The default run: the monolith.
SHORT = [
    *("off", "traced", "sampled 10%", "zero-code peer", "peer, same conventions"),
    "asgi (uvicorn), traced",
]
ASGI = {"asgi (uvicorn), off", "asgi (uvicorn), traced"}  # the monolith only


def run_site(env: dict, variant: Variant, topology: str, prefix=()):
    return site(
        {**env, **variant.env}, topology, prefix, variant.zero_code, variant.zones, variant.asgi
    )


def wrk(url: str, seconds: int, connections: int) -> dict:
    out = subprocess.run(
        ["wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{seconds}s", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    def millis(label: str) -> float:
        value, unit = re.search(rf"{label}%\s+([\d.]+)(us|ms|s)", out).groups()
        return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "p50_ms": millis("50"),
        "p99_ms": millis("99"),
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1]),
        "non_2xx": int(errors[1]) if errors else 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="both shapes, every figure")
    parser.add_argument("--cycles", type=int, help="latency cycles (3, or 10 with --full)")
    parser.add_argument("--duration", type=int, default=2, help="seconds of each load")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--memory-seconds", type=int, default=60)
    args = parser.parse_args()
    args.cycles = args.cycles or (10 if args.full else 3)
    if not shutil.which("wrk"):
        sys.exit("bench: needs wrk (Debian/Ubuntu: apt-get install wrk)")
    topologies = ("monolith", "split") if args.full else ("monolith",)
    variants = list(VARIANTS) if args.full else SHORT

    OUT.mkdir(exist_ok=True)
    database = f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench.sqlite3'}"
    with traced_to_zipkin(database, heap="3g", OTEL_SERVICE_NAME="toastsite") as (
        zipkin_url,
        env,
    ):
        results = {"cores": os.cpu_count(), "runs": {}, "args": vars(args)}
        results["work"] = work(env, topologies, variants)
        with run_site(env, VARIANTS["traced"], "monolith") as url:  # Zipkin's JIT warms up too
            wrk(f"{url}/", 15 if args.full else 5, args.connections)
        for topology in topologies:
            measure(topology, variants, env, args, results["runs"])
        if args.full:
            results["delivery"] = span_delivery(env, zipkin_url)
            results["page_vs_api"] = page_vs_api(env)
    if args.full:
        results["memory"] = memory_with_zipkin_stopped(env, args)
    (OUT / "results.json").write_text(json.dumps(results, indent=2))
    report(results)


def measure(topology: str, variants: list[str], env: dict, args, runs: dict) -> None:
    """All variants run side by side; short loads take turns, cycle after cycle,
    so that a shared machine's drifts hit every variant alike."""
    with ExitStack() as stack:
        if topology != "monolith":
            variants = [name for name in variants if name not in ASGI]
        urls = {
            name: stack.enter_context(run_site(env, VARIANTS[name], topology)) for name in variants
        }
        for url in urls.values():
            wrk(f"{url}/", 3, args.connections)  # warm-up
        for cycle in range(args.cycles):
            names = variants[cycle % len(variants) :] + variants[: cycle % len(variants)]
            for name in names:
                url = f"{urls[name]}/"
                # One visitor at a time: latency without queueing. Then as many
                # as the machine can take: throughput.
                run = {
                    "light": wrk(url, args.duration, 1),
                    "saturated": wrk(url, args.duration, args.connections),
                }
                runs.setdefault(f"{topology}/{name}", []).append(run)
            light = {name: runs[f"{topology}/{name}"][-1]["light"]["p50_ms"] for name in names}
            print(f"{topology} cycle {cycle + 1}: p50 ms {light}", flush=True)


def work_per_page(env: dict, topology: str, variant: Variant, views=(5, 25)) -> dict:
    """Instructions the site's processes run per page view of `/`, counted by
    valgrind: a count does not drift with a shared machine's load as time does
    (the same run twice gives the same count within about 1%). The site runs twice,
    serving views[0] and then views[1] page views to one client; the
    difference cancels start-up and warm-up."""
    totals, sampled, told = [], 0, 0
    for count in views:
        out = Path(tempfile.mkdtemp())
        valgrind = ("valgrind", "--tool=callgrind", "--trace-children=yes")
        prefix = (*valgrind, f"--callgrind-out-file={out}/%p")
        with run_site(env, variant, topology, prefix) as url:
            session = requests.Session()
            for _ in range(count):
                response = session.get(f"{url}/")
                response.raise_for_status()
                if traced := parse_traceresponse(response.headers.get("traceresponse")):
                    told += 1  # the peer sends none
                    sampled += traced.sampled
        totals.append(total_instructions(out))
        shutil.rmtree(out)
    return {
        "instructions": (totals[1] - totals[0]) / (views[1] - views[0]),
        "views_sampled": f"{sampled} of {told}" if told else "not said",
    }


def total_instructions(out: Path) -> int:
    """Instructions of every process whose callgrind file is in `out`."""
    files = [f for f in out.iterdir() if not f.name.endswith(".json")]
    return sum(int(re.search(r"^totals: (\d+)", f.read_text(), re.M)[1]) for f in files)


def work(env: dict, topologies, variants: list[str]) -> dict:
    """work_per_page() of every variant in each topology, one per core at a time."""
    if not shutil.which("valgrind"):
        print("bench: no valgrind, so no instruction counts (apt-get install valgrind)")
        return {}
    jobs = {
        f"{topology}/{name}": (env, topology, VARIANTS[name])
        for topology in topologies
        for name in variants
        if topology == "monolith" or name not in ASGI
    }
    with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
        futures = {key: pool.submit(work_per_page, *job) for key, job in jobs.items()}
        return {key: future.result() for key, future in futures.items()}


def span_delivery(env: dict, zipkin_url: str, rate: int = 20, seconds: int = 10) -> dict:
    """At a steady load below saturation, spans in Zipkin against spans produced."""
    env = {**env, "OTEL_SERVICE_NAME": "bench-delivery"}
    traces: list[str] = []
    with site(env, "monolith") as url:
        session = requests.Session()
        for _ in range(rate * seconds):
            response = session.get(f"{url}/")
            traces.append(parse_traceresponse(response.headers["traceresponse"]).trace_id)
            time.sleep(1 / rate)
        time.sleep(7)  # a batch or two more
    per_trace = len(requests.get(f"{zipkin_url}/api/v2/trace/{traces[0]}").json())
    found = requests.get(
        f"{zipkin_url}/api/v2/traces",
        params={"serviceName": "bench-delivery", "limit": 100_000, "lookback": 3_600_000},
    ).json()
    return {
        "page_views": len(traces),
        "spans_produced": per_trace * len(traces),
        "spans_in_zipkin": sum(len(trace) for trace in found),
    }


def page_vs_api(env: dict) -> dict:
    """A page's own cost: its latency minus its API call's, one keep-alive client."""
    figures = {}
    env = {**env, "OTEL_TRACES_EXPORTER": "none"}
    port = free_port()
    runserver = [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"]
    with process(runserver, env, port):
        figures["runserver"] = page_and_api(f"http://127.0.0.1:{port}")
    with site(env, "monolith") as url:
        figures["gunicorn"] = page_and_api(url)
    return figures


def page_and_api(url: str, n: int = 200, warm_up: int = 20) -> dict:
    """One keep-alive client, like the pages' own, calling the API and the page
    in turn (so that drifts hit both): their medians."""
    session = requests.Session()
    targets = {"api": f"{url}/api/toasts/?page_size=100", "page": f"{url}/toasts/"}
    times: dict[str, list[float]] = {name: [] for name in targets}
    for i in range(warm_up + n):
        for name, target in targets.items():
            started = time.perf_counter()
            session.get(target).raise_for_status()
            if i >= warm_up:
                times[name].append((time.perf_counter() - started) * 1000)
    api, page = statistics.median(times["api"]), statistics.median(times["page"])
    return {"api_p50_ms": api, "page_p50_ms": page, "page_own_ms": page - api}


def memory_with_zipkin_stopped(env: dict, args) -> dict:
    env = {**env, **VARIANTS["zipkin stopped"].env}
    port = free_port()
    samples = []
    with gunicorn(env, port, workers=1) as master:
        load = subprocess.Popen(
            ["wrk", "-t1", "-c2", f"-d{args.memory_seconds}s", f"http://127.0.0.1:{port}/"],
            stdout=subprocess.DEVNULL,
        )
        time.sleep(1)
        (worker,) = workers_of(master.pid)
        while load.poll() is None:
            samples.append(rss_kib(worker))
            time.sleep(2)
    return {"seconds": args.memory_seconds, "rss_kib": samples}


def report(results: dict) -> None:
    def median(key: str, load: str, field: str) -> float:
        return statistics.median(run[load][field] for run in results["runs"][key])

    def paired(key: str, load: str, field: str) -> float:
        """The median over cycles of this variant's figure over off's, same cycle."""
        off = results["runs"][key.split("/")[0] + "/off"]
        pairs = zip(results["runs"][key], off, strict=True)
        return statistics.median(run[load][field] / floor[load][field] for run, floor in pairs)

    print(f"\n{results['cores']} cores; medians over {results['args']['cycles']} cycles")
    print("one client: latency without queueing; saturated: throughput; x off: paired by cycle")
    print(f"{'variant':28} {'p50 ms':>7} {'p99 ms':>7} {'x off':>6} {'req/s':>6} {'x off':>6}")
    for key in results["runs"]:
        print(
            f"{key:28} {median(key, 'light', 'p50_ms'):7.2f} {median(key, 'light', 'p99_ms'):7.2f}"
            f" {paired(key, 'light', 'p50_ms'):6.3f} {median(key, 'saturated', 'rps'):6.0f}"
            f" {paired(key, 'saturated', 'rps'):6.3f}"
        )
    if work := results["work"]:
        print("\nwork per page view, counted by valgrind (x off: same topology)")
        for key, figures in work.items():
            off = work[key.split("/")[0] + "/off"]["instructions"]
            print(
                f"{key:28} {figures['instructions'] / 1e6:6.1f} M instructions"
                f"  x{figures['instructions'] / off:.3f}  sampled: {figures['views_sampled']}"
            )
    if "delivery" in results:
        print("delivery:", results["delivery"])
        print("page vs API:", results["page_vs_api"])
        rss = results["memory"]["rss_kib"]
        print(f"memory, Zipkin stopped: RSS {rss[0]} -> {rss[-1]} KiB (max {max(rss)})")
    plot(results)


def plot(results: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = list(results["runs"])
    work = results.get("work")
    fig, axes = plt.subplots(1, 2 if work else 1, figsize=(14 if work else 10, 4.8), squeeze=False)
    ax = axes[0][0]
    for i, key in enumerate(keys):
        p50s = [run["light"]["p50_ms"] for run in results["runs"][key]]
        p99s = [run["light"]["p99_ms"] for run in results["runs"][key]]
        ax.scatter([i] * len(p50s), p50s, color="tab:blue", label="p50" if i == 0 else None)
        ax.scatter(
            [i] * len(p99s), p99s, color="tab:orange", marker="x", label="p99" if i == 0 else None
        )
    ax.set_xticks(range(len(keys)), keys, rotation=30, ha="right")
    ax.set_ylabel("latency of / with one client (ms)")
    ax.set_ylim(bottom=0)
    ax.set_title(f"gunicorn, {results['cores']} cores: each dot is one 2 s load")
    ax.legend()
    if work:
        ax = axes[0][1]
        millions = [work[key]["instructions"] / 1e6 for key in keys]
        ax.bar(range(len(keys)), millions, color="tab:green")
        ax.set_xticks(range(len(keys)), keys, rotation=30, ha="right")
        ax.set_ylabel("instructions per page view (millions)")
        ax.set_title("work per page view, counted by valgrind")
    fig.tight_layout()
    fig.savefig(OUT / "latency.png", dpi=110)


if __name__ == "__main__":
    main()
