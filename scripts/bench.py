"""What tracing costs: the site under gunicorn, variant by variant, on one machine.

    make bench        (or: python scripts/bench.py --cycles 10 --duration 2)

Runs the real Zipkin server, then, for the monolith and for the split, every
variant under gunicorn side by side, and loads `/` with wrk from a separate
process, each variant in turn, cycle after cycle (so that drifts of a shared
machine hit them all alike): one client for latency, then several for
throughput. Then counts the spans Zipkin received against those produced,
measures a page against its API call, counts the instructions a page view
costs in each variant (with valgrind, when installed), and a worker's memory
with Zipkin stopped.
Prints a table and writes bench-results/results.json and a plot.
"""

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench-results"
BIN = Path(sys.executable).parent

VARIANTS = {
    "off": {"OTEL_SDK_DISABLED": "true"},
    "traced": {},
    "sampled 10%": {
        "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": "0.1",
    },
    "zipkin stopped": {"OTEL_EXPORTER_ZIPKIN_ENDPOINT": "http://127.0.0.1:9/api/v2/spans"},
    "zero-code peer": {"ZERO_CODE": "1"},
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


@contextmanager
def process(command: list[str], env: dict, port: int, stop_timeout: float = 15):
    proc = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for_port(port)
        yield proc
    finally:
        proc.send_signal(signal.SIGINT)  # gunicorn: quick shutdown, not a graceful one
        try:
            proc.wait(timeout=stop_timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def gunicorn(env: dict, port: int, workers: int, prefix: tuple[str, ...]):
    command = [str(BIN / "gunicorn"), "toastsite.wsgi", "--bind", f"127.0.0.1:{port}"]
    if env.pop("ZERO_CODE", None):
        # The peer a user would reach for: OpenTelemetry's zero-code agent with
        # its defaults and the Zipkin exporter, around the same app.
        command = [
            str(BIN / "opentelemetry-instrument"),
            "--traces_exporter",
            "zipkin_json",
            "--metrics_exporter",
            "none",
            "--logs_exporter",
            "none",
            *command,
        ]
    env = {**env, "WEB_CONCURRENCY": str(workers)}
    if prefix:  # counting instructions: everything runs 50 times slower
        env.update(GUNICORN_CMD_ARGS="--timeout 600", TOAST_API_READ_TIMEOUT="600")
    return process([*prefix, *command], env, port, stop_timeout=300 if prefix else 15)


def site(base_env: dict, variant: dict, topology: str, prefix: tuple[str, ...] = ()):
    """The site in one topology, its servers' commands run under `prefix`;
    yields the URL of its pages."""

    @contextmanager
    def run():
        env = {**base_env, **variant}
        if topology == "monolith":
            port = free_port()
            # Counting: one worker, so that warm-up happens the same way in every run.
            with gunicorn(env, port, workers=1 if prefix else 2, prefix=prefix):
                yield f"http://127.0.0.1:{port}"
            return
        api_port, front_port = free_port(), free_port()
        with (
            gunicorn({**env, "TOASTSITE_ROLE": "api"}, api_port, workers=1, prefix=prefix),
            gunicorn(
                {
                    **env,
                    "TOASTSITE_ROLE": "frontend",
                    "TOAST_API_URL": f"http://127.0.0.1:{api_port}",
                },
                front_port,
                workers=1,
                prefix=prefix,
            ),
        ):
            yield f"http://127.0.0.1:{front_port}"

    return run()


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


def rss_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+)", status)[1])


def workers_of(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [int(pid) for pid in children]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=10)
    parser.add_argument("--duration", type=int, default=2, help="seconds of each load")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--memory-seconds", type=int, default=60)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("bench: needs wrk (Debian/Ubuntu: apt-get install wrk)")

    OUT.mkdir(exist_ok=True)
    tmp = Path(tempfile.mkdtemp())
    zipkin_port = free_port()
    base_env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "toastsite.settings",  # the zero-code agent needs it
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": "bench",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DATABASE_URL": f"sqlite:///{tmp / 'bench.sqlite3'}",
        "OTEL_EXPORTER_ZIPKIN_ENDPOINT": f"http://127.0.0.1:{zipkin_port}/api/v2/spans",
        "OTEL_SERVICE_NAME": "toastsite",
        "DJANGO_LOG_LEVEL": "WARNING",
    }
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=base_env, check=True
    )
    results = {"cores": os.cpu_count(), "runs": {}, "args": vars(args)}

    zipkin_cmd = [str(ROOT / "scripts" / "zipkin.sh"), "run", str(zipkin_port)]
    # Room for every span of the run: once in-memory storage is full, evicting
    # old traces costs Zipkin CPU, which it takes from the site on this machine.
    zipkin_env = {**os.environ, "MEM_MAX_SPANS": "1000000", "ZIPKIN_HEAP": "3g"}
    with process(zipkin_cmd, zipkin_env, zipkin_port):
        while requests.get(f"http://127.0.0.1:{zipkin_port}/health").status_code != 200:
            time.sleep(0.5)
        with site(base_env, {}, "monolith") as url:  # Zipkin's JIT warms up too
            wrk(f"{url}/", 15, args.connections)
        for topology in ("monolith", "split"):
            measure(topology, base_env, args, results["runs"])
        results["delivery"] = span_delivery(base_env, zipkin_port)
        results["page_vs_api"] = page_vs_api(base_env)
        results["work"] = work(base_env)
    results["memory"] = memory_with_zipkin_stopped(base_env, args)
    (OUT / "results.json").write_text(json.dumps(results, indent=2))
    report(results)


def measure(topology: str, base_env: dict, args, runs: dict) -> None:
    """All variants run side by side; short loads take turns, cycle after cycle,
    so that a shared machine's drifts hit every variant alike."""
    with ExitStack() as stack:
        urls = {
            name: stack.enter_context(site(base_env, dict(variant), topology))
            for name, variant in VARIANTS.items()
        }
        for url in urls.values():
            wrk(f"{url}/", 3, args.connections)  # warm-up
        for cycle in range(args.cycles):
            names = list(VARIANTS)
            names = names[cycle % len(names) :] + names[: cycle % len(names)]
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


def work_per_page(base_env: dict, topology: str, variant: dict, views=(5, 25)) -> dict:
    """Instructions the site's processes run per page view of `/`, counted by
    valgrind: a count does not drift with a shared machine's load as time does
    (the same run twice gives the same count within about 1%). The site runs twice,
    serving views[0] and then views[1] page views to one client; the
    difference cancels start-up and warm-up."""
    totals, sampled, told = [], 0, 0
    for count in views:
        out = Path(tempfile.mkdtemp())
        valgrind = ("valgrind", "--tool=callgrind", "--trace-children=yes")
        with site(
            base_env, variant, topology, (*valgrind, f"--callgrind-out-file={out}/%p")
        ) as url:
            session = requests.Session()
            for _ in range(count):
                response = session.get(f"{url}/")
                response.raise_for_status()
                if flags := response.headers.get("traceresponse"):  # not from the peer
                    told += 1
                    sampled += int(flags.rsplit("-", 1)[1], 16) & 1  # bit 0: "sampled"
        totals.append(
            sum(int(re.search(r"^totals: (\d+)", f.read_text(), re.M)[1]) for f in out.iterdir())
        )
        shutil.rmtree(out)
    return {
        "instructions": (totals[1] - totals[0]) / (views[1] - views[0]),
        "views_sampled": f"{sampled} of {told}" if told else "not said",
    }


def work(base_env: dict) -> dict:
    """work_per_page() of every variant in both topologies, one per core at a time."""
    if not shutil.which("valgrind"):
        print("bench: no valgrind, so no instruction counts (apt-get install valgrind)")
        return {}
    jobs = {
        f"{topology}/{name}": (base_env, topology, dict(variant))
        for topology in ("monolith", "split")
        for name, variant in VARIANTS.items()
    }
    with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
        futures = {key: pool.submit(work_per_page, *job) for key, job in jobs.items()}
        return {key: future.result() for key, future in futures.items()}


def span_delivery(base_env: dict, zipkin_port: int, rate: int = 20, seconds: int = 10) -> dict:
    """At a steady load below saturation, spans in Zipkin against spans produced."""
    env = {**base_env, "OTEL_SERVICE_NAME": "bench-delivery"}
    traces: list[str] = []
    with site(env, {}, "monolith") as url:
        session = requests.Session()
        for _ in range(rate * seconds):
            response = session.get(f"{url}/")
            traces.append(response.headers["traceresponse"].split("-")[1])
            time.sleep(1 / rate)
        time.sleep(7)  # a batch or two more
    zipkin = f"http://127.0.0.1:{zipkin_port}"
    per_trace = len(requests.get(f"{zipkin}/api/v2/trace/{traces[0]}").json())
    found = requests.get(
        f"{zipkin}/api/v2/traces",
        params={"serviceName": "bench-delivery", "limit": 100_000, "lookback": 3_600_000},
    ).json()
    return {
        "page_views": len(traces),
        "spans_produced": per_trace * len(traces),
        "spans_in_zipkin": sum(len(trace) for trace in found),
    }


def page_vs_api(base_env: dict) -> dict:
    """A page's own cost: its latency minus its API call's, one keep-alive client."""
    figures = {}
    env = {**base_env, "OTEL_TRACES_EXPORTER": "none"}
    port = free_port()
    runserver = [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"]
    with process(runserver, env, port):
        figures["runserver"] = page_and_api(f"http://127.0.0.1:{port}")
    with site(env, {}, "monolith") as url:
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


def memory_with_zipkin_stopped(base_env: dict, args) -> dict:
    env = {**base_env, **VARIANTS["zipkin stopped"]}
    port = free_port()
    samples = []
    with gunicorn(env, port, workers=1, prefix=()) as master:
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
