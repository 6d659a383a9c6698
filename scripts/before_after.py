"""A page's latency before and after a change, paired: this checkout against
an older revision, side by side on one machine.

    python -m scripts.before_after REV [--path /] [--cycles 10] [--latency-ms 0] [--split]

Exports REV's files (`git archive`) into a temporary folder, migrates one
database for both, and serves each under gunicorn as the monolith (or, with
`--split`, as the api and the frontend, two servers of one worker each), as
in production (tracing on, its spans exported nowhere: the change is
measured, not the exporter). Then loads the page with wrk, one connection at a time,
each side in turn, cycle after cycle, the order swapped every cycle, so that
a shared machine's drifts hit both alike. Prints each side's median p50 and
the median over cycles of after / before. `--latency-ms` slows every API call
down (SCENARIO_LATENCY_MS), so that the calls' share of the page shows.
"""

import argparse
import statistics
import subprocess
import sys
import tempfile
from contextlib import ExitStack, contextmanager
from pathlib import Path

from scripts.bench import wrk
from scripts.harness import ROOT, free_port, gunicorn, production_env


@contextmanager
def served(folder: Path, env: dict, split: bool):
    """The site whose code is in `folder`, under gunicorn, as the monolith (two
    workers) or split (one each); yields its pages' URL."""
    if not split:
        port = free_port()
        with gunicorn(env, port, 2, cwd=folder):
            yield f"http://127.0.0.1:{port}"
        return
    api_port, port = free_port(), free_port()
    api = {**env, "TOASTSITE_ROLE": "api"}
    frontend = {
        **env,
        "TOASTSITE_ROLE": "frontend",
        "TOAST_API_URL": f"http://127.0.0.1:{api_port}",
    }
    with gunicorn(api, api_port, 1, cwd=folder), gunicorn(frontend, port, 1, cwd=folder):
        yield f"http://127.0.0.1:{port}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rev", help="the revision before the change, e.g. main or a commit")
    parser.add_argument("--path", default="/")
    parser.add_argument("--cycles", type=int, default=10)
    parser.add_argument("--duration", type=int, default=2, help="seconds of each load")
    parser.add_argument("--latency-ms", type=int, default=0)
    parser.add_argument("--split", action="store_true", help="the api and the frontend apart")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        before = Path(tmp) / "before"
        before.mkdir()
        archive = subprocess.run(["git", "archive", args.rev], cwd=ROOT, capture_output=True)
        archive.check_returncode()
        subprocess.run(["tar", "-x", "-C", before], input=archive.stdout, check=True)
        env = production_env(
            f"sqlite:///{Path(tmp) / 'bench.sqlite3'}",
            OTEL_TRACES_EXPORTER="none",
            SCENARIO_LATENCY_MS=str(args.latency_ms),
        )
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True
        )
        urls = {
            side: stack.enter_context(served(folder, env, args.split)) + args.path
            for side, folder in (("before", before), ("after", ROOT))
        }
        for url in urls.values():
            wrk(url, 3, 1)  # warm-up
        p50: dict[str, list[float]] = {"before": [], "after": []}
        failed = {"before": 0, "after": 0}  # answers other than 2xx or 3xx
        for cycle in range(args.cycles):
            for side in ("before", "after") if cycle % 2 == 0 else ("after", "before"):
                run = wrk(urls[side], args.duration, 1)
                p50[side].append(run["p50_ms"])
                failed[side] += run["non_2xx"]
            print(f"cycle {cycle + 1}: before {p50['before'][-1]} ms, after {p50['after'][-1]} ms")

    ratio = statistics.median(a / b for a, b in zip(p50["after"], p50["before"], strict=True))
    print(
        f"\n{args.path}{' (split)' if args.split else ''} with "
        f"SCENARIO_LATENCY_MS={args.latency_ms}, one client, "
        f"medians over {args.cycles} cycles: before ({args.rev}) "
        f"{statistics.median(p50['before']):.2f} ms, after "
        f"{statistics.median(p50['after']):.2f} ms; after / before, paired: {ratio:.3f}; "
        f"failed answers: before {failed['before']}, after {failed['after']}"
    )


if __name__ == "__main__":
    main()
