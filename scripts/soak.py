"""A bounded soak of the split: steady traffic for a few minutes, then the count.

    make soak        (or: python -m scripts.soak --seconds 180 --rate 15)

Runs the real Zipkin server, Redis and a Celery worker, and the api and the
frontend under gunicorn (on PostgreSQL when DATABASE_URL points at one, else
SQLite), then sends page views and ratings at a steady rate from this process,
below saturation. Every rating's summary job goes through the queue. Reports
the answers by status, the spans Zipkin holds against those produced, the jobs
published against the jobs done and the delay from a rating's commit to its
job's end, and each gunicorn worker's memory over the run; writes
bench-results/soak.json.
"""

import argparse
import json
import os
import random
import statistics
import subprocess
import tempfile
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from apps.pages.traffic import discover_pages, plan_step, visit
from scripts.harness import OUT, ROOT, broker, rss_kib, site, traced_to_zipkin, worker, workers_of


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=180)
    parser.add_argument("--rate", type=float, default=15, help="requests per second")
    parser.add_argument("--ratings", type=float, default=0.1, help="share that are ratings")
    args = parser.parse_args()

    database = os.environ.get("DATABASE_URL") or (
        f"sqlite:///{Path(tempfile.mkdtemp()) / 'soak.sqlite3'}"
    )
    # One client sends every rating; the limit is not what this measures.
    with (
        broker() as queue,
        traced_to_zipkin(
            database, heap="2g", RATINGS_PER_MINUTE="1000000", CELERY_BROKER_URL=queue
        ) as (zipkin_url, env),
    ):
        with worker(env), site(env, "split") as url:
            results = soak(url, args)
            time.sleep(7)  # the last batches
        results["delivery"] = delivery(zipkin_url, results["traces"])
        results["jobs"] = jobs(zipkin_url, results.pop("traces"))

    OUT.mkdir(exist_ok=True)
    (OUT / "soak.json").write_text(json.dumps(results, indent=2))
    report(results)


def soak(url: str, args) -> dict:
    rng = random.Random(1)
    pages = discover_pages(url, timeout=10)
    masters = gunicorn_masters()
    memory: dict[str, list[int]] = defaultdict(list)
    total = int(args.seconds * args.rate)
    started = time.monotonic()
    futures = []
    with ThreadPoolExecutor(max_workers=8) as pool:
        for i in range(total):
            time.sleep(max(0.0, started + i / args.rate - time.monotonic()))
            page, stars = plan_step(rng, pages, args.ratings)
            futures.append((page, stars, pool.submit(visit, url, page, stars, timeout=10)))
            if i % int(args.rate * 5) == 0:  # every 5 s
                for name, master in masters.items():
                    memory[name].append(sum(rss_kib(pid) for pid in workers_of(master)))
    outcomes = [(page, stars, future.result()) for page, stars, future in futures]
    millis = sorted(outcome.millis for _, _, outcome in outcomes)
    return {
        "seconds": args.seconds,
        "rate": args.rate,
        "requests": total,
        "status": dict(Counter(outcome.status for _, _, outcome in outcomes)),
        "p50_ms": statistics.median(millis),
        "p99_ms": millis[int(len(millis) * 0.99)],
        "memory_kib": dict(memory),
        "traces": [
            ("rating" if stars else kind(page), outcome.trace_id)
            for page, stars, outcome in outcomes
        ],
    }


def kind(page: str) -> str:
    return "toast" if page.startswith("/toasts/") and page != "/toasts/" else page


def gunicorn_masters() -> dict[str, int]:
    """The two gunicorn masters of the split, the api's (started first) first."""
    found = subprocess.run(
        ["pgrep", "-f", "gunicorn toastsite.wsgi"], capture_output=True, text=True
    ).stdout.split()
    # Ours only: other checkouts on this machine may run gunicorn too.
    pids = sorted(int(pid) for pid in found if Path(f"/proc/{pid}/cwd").resolve() == ROOT)
    masters = [pid for pid in pids if workers_of(pid)]
    return dict(zip(["api", "frontend"], masters, strict=True))


def delivery(zipkin_url: str, traces: list[tuple[str, str | None]]) -> dict:
    """Spans in Zipkin against spans produced: every page of a kind makes the
    same number of spans, so the most common count per kind is what was produced."""
    stored = {}
    for service in ("frontend", "api", "worker"):
        for trace in requests.get(
            f"{zipkin_url}/api/v2/traces",
            params={"serviceName": service, "limit": 1_000_000, "lookback": 86_400_000},
        ).json():
            stored[trace[0]["traceId"]] = len(trace)
    per_kind = defaultdict(list)
    for page_kind, trace_id in traces:
        per_kind[page_kind].append(stored.get(trace_id, 0))
    produced = sum(statistics.mode(counts) * len(counts) for counts in per_kind.values() if counts)
    return {
        "traces_sent": len(traces),
        "traces_in_zipkin": sum(1 for _, trace_id in traces if trace_id in stored),
        "spans_produced": produced,
        "spans_in_zipkin": sum(sum(counts) for counts in per_kind.values()),
        "spans_per_kind": {k: statistics.mode(v) for k, v in per_kind.items()},
    }


def jobs(zipkin_url: str, traces: list[tuple[str, str | None]]) -> dict:
    """Each rating's summary job, from its trace: published (its PRODUCER span),
    done (a worker's run of that message ended in success), and the delay from
    the publish, right after the rating's commit, to the end of that run.
    Counted by message id, so that a span stored twice counts once."""
    published, done, delays, odd = set(), set(), [], []
    for page_kind, trace_id in traces:
        if page_kind != "rating" or trace_id is None:
            continue
        spans = requests.get(f"{zipkin_url}/api/v2/trace/{trace_id}", timeout=10).json()
        sent = {s["tags"]["messaging.message.id"]: s for s in spans if s.get("kind") == "PRODUCER"}
        ran = {
            s["tags"]["messaging.message.id"]: s
            for s in spans
            if s.get("kind") == "CONSUMER" and s["tags"].get("celery.state") == "SUCCESS"
        }
        if len(sent) != 1 or sent.keys() != ran.keys():
            odd.append(
                {
                    "trace": trace_id,
                    "spans": [
                        (
                            x["name"],
                            x["id"],
                            x.get("parentId"),
                            x["tags"].get("messaging.message.id"),
                        )
                        for x in spans
                        if x.get("kind") in ("PRODUCER", "CONSUMER")
                    ],
                }
            )
        published |= sent.keys()
        done |= ran.keys() & sent.keys()
        for message, run in ran.items():
            if message in sent:
                start = sent[message]["timestamp"]
                delays.append((run["timestamp"] + run["duration"] - start) / 1000)
    delays.sort()
    return {
        "published": len(published),
        "done": len(done),
        "traces_not_one_job": odd,
        "commit_to_done_p50_ms": statistics.median(delays) if delays else None,
        "commit_to_done_p99_ms": delays[int(len(delays) * 0.99)] if delays else None,
    }


def report(results: dict) -> None:
    print(f"{results['requests']} requests in {results['seconds']} s at {results['rate']}/s")
    print("status:", results["status"])
    print(f"latency: p50 {results['p50_ms']:.1f} ms, p99 {results['p99_ms']:.1f} ms")
    print("delivery:", results["delivery"])
    print("jobs:", results["jobs"])
    for name, samples in results["memory_kib"].items():
        print(f"{name} workers' RSS: {samples[0]} -> {samples[-1]} KiB (max {max(samples)})")


if __name__ == "__main__":
    main()
