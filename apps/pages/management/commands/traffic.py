"""manage.py traffic: page views and ratings against a running site, so that
Zipkin fills with realistic traces for the tutorial's lessons.

Ratings are real: they are saved like any visitor's (`--ratings 0` sends none).
"""

import random
import re
import statistics
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import requests
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


@dataclass
class Outcome:
    status: str  # the HTTP status, or "error" when there was no answer
    millis: float
    trace_id: str | None


class Command(BaseCommand):
    help = "Send page views (and some ratings) to a running toastsite."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--url", default="http://127.0.0.1:8000")
        parser.add_argument("-n", type=int, default=100, help="requests to send (%(default)s)")
        parser.add_argument(
            "--path",
            action="append",
            dest="paths",
            help="a page to visit (repeatable); default: the home page, the week and each toast",
        )
        parser.add_argument(
            "--ratings",
            type=float,
            default=0.1,
            help="share of toast page visits that send a rating, saved for real "
            "(default %(default)s; 0: none)",
        )
        parser.add_argument("--concurrency", type=int, default=1)
        parser.add_argument("--timeout", type=float, default=10, help="seconds per request")
        parser.add_argument("--seed", type=int, help="for a repeatable sequence")

    def handle(self, *, url, n, paths, ratings, concurrency, timeout, seed, **options) -> None:
        url = url.rstrip("/")
        pages = paths or discover_pages(url, timeout)
        rng = random.Random(seed)
        plan = [plan_step(rng, pages, ratings) for _ in range(n)]
        outcomes: list[Outcome] = []
        started = time.monotonic()
        # A bar on a terminal; in a log or a pipe it would be one line per request.
        show_progress = self.stderr.isatty()
        try:
            with ThreadPoolExecutor(max_workers=concurrency) as pool:
                for outcome in pool.map(lambda step: visit(url, *step, timeout=timeout), plan):
                    outcomes.append(outcome)
                    if show_progress:
                        progress(self.stderr, len(outcomes), n)
        finally:
            close_sessions()
        if show_progress:
            self.stderr.write("")
        rated = sum(stars is not None for _, stars in plan)
        self.stdout.write(summary(outcomes, time.monotonic() - started, rated))


def discover_pages(url: str, timeout: float) -> list[str]:
    try:
        week = requests.get(f"{url}/toasts/", timeout=timeout)
    except requests.RequestException as exc:
        raise CommandError(f"Cannot reach the site at {url}: {exc}") from exc
    toasts = sorted(set(re.findall(r'href="(/toasts/\d+/)"', week.text)))
    return ["/", "/toasts/", *toasts]


def plan_step(rng: random.Random, pages: list[str], ratings: float) -> tuple[str, int | None]:
    """A page to visit, and the stars to give it if this visit is a rating."""
    page = rng.choice(pages)
    is_toast = page.removeprefix("/toasts/").rstrip("/").isdigit()
    return page, rng.randint(1, 5) if is_toast and rng.random() < ratings else None


# One session per thread: pooled connections, and the CSRF cookie of its own.
_sessions: dict[int, requests.Session] = {}


def close_sessions() -> None:
    # Kept-alive connections would hold a server thread each until they time out.
    while _sessions:
        _sessions.popitem()[1].close()


def visit(url: str, page: str, stars: int | None, *, timeout: float) -> Outcome:
    session = _sessions.setdefault(threading.get_ident(), requests.Session())
    started = time.monotonic()
    try:
        if stars is not None:
            response = post_rating(session, f"{url}{page}", stars, timeout)
        else:
            response = session.get(f"{url}{page}", timeout=timeout)
    except requests.RequestException:
        return Outcome("error", (time.monotonic() - started) * 1000, None)
    header = response.headers.get("traceresponse", "")
    trace_id = header.split("-")[1] if header.count("-") == 3 else None
    return Outcome(str(response.status_code), (time.monotonic() - started) * 1000, trace_id)


def post_rating(session: requests.Session, page: str, stars: int, timeout: float):
    form = session.get(page, timeout=timeout)
    token = CSRF_INPUT.search(form.text)
    if token is None:  # no form: the page itself failed; report that answer
        return form
    data = {"stars": stars, "comment": "sent by manage.py traffic", "csrfmiddlewaretoken": token[1]}
    headers = {"Referer": page}  # Django checks it for CSRF
    return session.post(page, data=data, headers=headers, timeout=timeout, allow_redirects=False)


def progress(out, done: int, total: int, width: int = 30) -> None:
    filled = width * done // total
    out.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total}", ending="")
    out.flush()


def summary(outcomes: list[Outcome], seconds: float, ratings: int) -> str:
    millis = sorted(o.millis for o in outcomes)
    cuts = (
        statistics.quantiles(millis, n=100, method="inclusive") if len(millis) > 1 else millis * 99
    )
    p50, p90, p99 = cuts[49], cuts[89], cuts[98]
    by_status = Counter(o.status for o in outcomes)
    failed = [o for o in outcomes if not o.status.isdigit() or int(o.status) >= 500]
    lines = [
        f"{len(outcomes)} requests ({ratings} of them ratings) in {seconds:.1f} s, "
        f"{len(outcomes) / seconds:.1f}/s",
        "status: " + ", ".join(f"{status} x{count}" for status, count in sorted(by_status.items())),
        f"latency ms: p50 {p50:.1f}, p90 {p90:.1f}, p99 {p99:.1f}, max {millis[-1]:.1f}",
    ]
    if failed:
        traced = [o.trace_id for o in failed if o.trace_id]
        some = "their traces" if len(traced) <= 10 else "the first 10 of their traces"
        lines.append(f"{len(failed)} failed; {some}:")
        lines += [f"  {trace_id}" for trace_id in traced[:10]]
        lines.append(f"Open one at {settings.ZIPKIN_UI_URL}/traces/<trace id>")
    return "\n".join(lines)
