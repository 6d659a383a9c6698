"""What the Collector tier costs: a router and two samplers, started by
`scripts/collector.sh start-tier` in front of the real Zipkin, fed synthetic
OTLP at a steady rate of traces shaped like a home page view (11 spans: the
frontend's page and two API calls, the api's two requests, the business span
and five SQL spans; a quarter of them failed in both services, as step 5's
scenario does). Reports each process's CPU (share of one core) and memory.

    python -m scripts.tier_bench                (15 traces a second for 60 s, then 150)
    python -m scripts.tier_bench --rates 15 --seconds 30

Synthetic load, so that the site's own cost stays out of the figures; it is
sent as the site's SDK sends: each service posts its spans in one OTLP/HTTP
JSON batch a second.
"""

import argparse
import os
import random
import statistics
import subprocess
import time
from pathlib import Path

import requests

from scripts.harness import ROOT, free_port, rss_kib, zipkin

SCRIPT = ROOT / "scripts" / "collector.sh"
TICKS = os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", type=float, nargs="+", default=[15, 150])
    parser.add_argument("--seconds", type=int, default=60)
    args = parser.parse_args()
    with zipkin(heap="1g") as url:
        for rate in args.rates:
            report(rate, args.seconds, measure(url, rate, args.seconds))


def measure(zipkin_url: str, rate: float, seconds: int) -> dict[str, dict]:
    port = free_port()
    env = {
        **os.environ,
        "COLLECTOR_PORT": str(port),
        "COLLECTOR_ZIPKIN_ENDPOINT": f"{zipkin_url}/api/v2/spans",
    }
    subprocess.run([SCRIPT, "start-tier", "2"], env=env, check=True)
    try:
        pids = running(port)
        time.sleep(5)  # idle, after start-up
        idle = {name: rss_kib(pid) for name, pid in pids.items()}
        before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        memory: dict[str, list[int]] = {name: [] for name in pids}
        started = time.monotonic()
        sent = 0
        for second in range(seconds):
            time.sleep(max(0.0, started + second - time.monotonic()))
            sent += send(f"http://127.0.0.1:{port}/v1/traces", int(rate))
            for name, pid in pids.items():
                memory[name].append(rss_kib(pid))
        elapsed = time.monotonic() - started
        used = {name: cpu_seconds(pid) - before[name] for name, pid in pids.items()}
        time.sleep(2)  # the last batches through the router
        accepted = {name: accepted_spans(address) for name, address in addresses(port).items()}
    finally:
        subprocess.run([SCRIPT, "stop", str(port)], env=env, check=True)
    return {
        name: {
            "cpu": used[name] / elapsed,
            "mib_idle": idle[name] / 1024,
            "mib_mean": statistics.mean(memory[name]) / 1024,
            "mib_max": max(memory[name]) / 1024,
            "sent": sent,
            "accepted": accepted[name],
        }
        for name in pids
    }


def recorded(port: int) -> list[tuple[str, int, str]]:
    """The tier's processes, as collector.sh recorded them: the router on
    127.0.0.1, the samplers on their own addresses."""
    cache = Path(os.environ.get("TOASTSITE_CACHE", Path.home() / ".cache" / "toastsite"))
    lines = (cache / f"collector-{port}.pids").read_text().split("\n")
    processes = []
    for line in filter(None, lines):
        pid, address = line.split()
        name = "router" if address == "127.0.0.1" else f"sampler {address}"
        processes.append((name, int(pid), f"{address}:{port + 2}"))
    return processes


def running(port: int) -> dict[str, int]:
    return {name: pid for name, pid, _ in recorded(port)}


def addresses(port: int) -> dict[str, str]:
    return {name: metrics for name, _, metrics in recorded(port)}


def accepted_spans(metrics: str) -> int:
    """What the Collector's receiver took in, by its own count."""
    text = requests.get(f"http://{metrics}/metrics", timeout=5).text
    lines = [
        line for line in text.splitlines() if line.startswith("otelcol_receiver_accepted_spans")
    ]
    return int(sum(float(line.split()[-1]) for line in lines))


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def send(url: str, traces: int) -> int:
    """One second's traces: each service posts its spans in one batch."""
    now = time.time_ns()
    frontend, api = [], []
    for _ in range(traces):
        trace = random.randbytes(16).hex()
        failed = random.random() < 0.25
        page, call_today, call_week = (random.randbytes(8).hex() for _ in range(3))
        frontend += [
            span(trace, page, None, "GET home", 2, now, 30, failed),
            span(trace, call_today, page, "GET /api/toasts/today/", 3, now, 12, failed),
            span(trace, call_week, page, "GET /api/toasts/", 3, now, 10),
        ]
        today, week, choose = (random.randbytes(8).hex() for _ in range(3))
        api += [
            span(trace, today, call_today, "GET api/toasts/today/", 2, now, 10, failed),
            span(trace, week, call_week, "GET api/toasts/", 2, now, 8),
            span(trace, choose, today, "choose toast of the day", 1, now, 4),
        ]
        api += [
            span(trace, random.randbytes(8).hex(), parent, "SELECT toasts_toast", 3, now, 1)
            for parent in (today, today, week, week, week)
        ]
    for service, spans in (("frontend", frontend), ("api", api)):
        body = {"resourceSpans": [resource(service, spans)]}
        requests.post(url, json=body, timeout=10).raise_for_status()
    return len(frontend) + len(api)


def span(trace, span_id, parent, name, kind, now, millis, failed=False) -> dict:
    attributes = {"http.route": name, "server.address": "127.0.0.1", "db.system.name": "sqlite"}
    return {
        "traceId": trace,
        "spanId": span_id,
        "parentSpanId": parent or "",
        "name": name,
        "kind": kind,
        "startTimeUnixNano": str(now),
        "endTimeUnixNano": str(now + millis * 1_000_000),
        "attributes": [{"key": k, "value": {"stringValue": v}} for k, v in attributes.items()],
        "status": {"code": 2 if failed else 0},
    }


def resource(service: str, spans: list[dict]) -> dict:
    attributes = {"service.name": service, "service.version": "1.0", "host.name": "bench"}
    return {
        "resource": {
            "attributes": [{"key": k, "value": {"stringValue": v}} for k, v in attributes.items()]
        },
        "scopeSpans": [{"scope": {"name": "scripts.tier_bench"}, "spans": spans}],
    }


def report(rate: float, seconds: int, results: dict[str, dict]) -> None:
    print(f"\n{rate:g} traces a second x 11 spans, for {seconds} s:")
    sent = next(iter(results.values()))["sent"]
    print(
        f"  sent {sent} spans; accepted: "
        + ", ".join(f"{n} {r['accepted']}" for n, r in results.items())
    )
    for name, r in results.items():
        print(
            f"  {name:20} {r['cpu']:6.1%} of a core, memory {r['mib_mean']:.0f} MiB on average "
            f"({r['mib_max']:.0f} at most; {r['mib_idle']:.0f} idle)"
        )


if __name__ == "__main__":
    main()
