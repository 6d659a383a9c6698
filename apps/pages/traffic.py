"""Traffic: page views and ratings against a running site, as visitors make
them, so that Zipkin fills with realistic traces for the tutorial's lessons.

`manage.py traffic` runs it from the command line; the soak, the benchmark and
the tests use its pieces. Ratings are real: they are saved like any visitor's.
"""

import random
import re
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import requests
from django.conf import settings

from toastsite.telemetry.links import parse_traceresponse


class SiteUnreachable(Exception):
    """The site did not answer at all."""


@dataclass
class Outcome:
    status: str  # the HTTP status, or "error" when there was no answer
    millis: float
    trace_id: str | None


def run(
    url: str,
    n: int,
    *,
    paths: list[str] | None = None,
    ratings: float = 0.1,
    concurrency: int = 1,
    timeout: float = 10,
    seed: int | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> str:
    """Sends `n` visits to the site at `url` and returns their summary: `paths`
    (default: the home page, the week and each toast), a share `ratings` of toast
    page visits sending a rating, `concurrency` visitors at a time."""
    url = url.rstrip("/")
    pages = paths or discover_pages(url, timeout)
    rng = random.Random(seed)
    plan = [plan_step(rng, pages, ratings) for _ in range(n)]
    outcomes: list[Outcome] = []
    started = time.monotonic()
    try:
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            for outcome in pool.map(lambda step: visit(url, *step, timeout=timeout), plan):
                outcomes.append(outcome)
                if on_progress:
                    on_progress(len(outcomes), n)
    finally:
        close_sessions()
    rated = sum(stars is not None for _, stars in plan)
    return summary(outcomes, time.monotonic() - started, rated)


def discover_pages(url: str, timeout: float) -> list[str]:
    try:
        week = requests.get(f"{url}/toasts/", timeout=timeout)
    except requests.RequestException as exc:
        raise SiteUnreachable(f"Cannot reach the site at {url}: {exc}") from exc
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
    """One visit of `page`: a page view, or with `stars` a rating sent by its form."""
    session = _sessions.setdefault(threading.get_ident(), requests.Session())
    started = time.monotonic()
    try:
        if stars is None:
            response = session.get(f"{url}{page}", timeout=timeout)
        else:
            fields = {"stars": stars, "comment": "sent by manage.py traffic"}
            response = post_rating(session, f"{url}{page}", timeout=timeout, **fields)
    except requests.RequestException:
        return Outcome("error", (time.monotonic() - started) * 1000, None)
    traced = parse_traceresponse(response.headers.get("traceresponse"))
    # Only a sampled trace can be in Zipkin: the others' ids lead nowhere.
    trace_id = traced.trace_id if traced and traced.sampled else None
    return Outcome(str(response.status_code), (time.monotonic() - started) * 1000, trace_id)


def form_field(html: str, name: str) -> str | None:
    """The value of a form's input called `name` (the CSRF token, the rating's key)."""
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    return found[1] if found else None


def post_rating(
    session: requests.Session, page_url: str, *, timeout: float = 30, **fields
) -> requests.Response:
    """Sends a toast page's rating form as a browser does: it opens the page, then
    posts the fields with the form's CSRF token and key, and a Referer (Django
    checks it for CSRF). If the page has no form (it failed), that answer is
    returned instead."""
    form = session.get(page_url, timeout=timeout)
    token = form_field(form.text, "csrfmiddlewaretoken")
    if token is None:
        return form
    data = {"csrfmiddlewaretoken": token, "key": form_field(form.text, "key") or "", **fields}
    headers = {"Referer": page_url}
    return session.post(
        page_url, data=data, headers=headers, timeout=timeout, allow_redirects=False
    )


def progress(done: int, total: int, width: int = 30) -> str:
    filled = width * done // total
    return f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total}"


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
        if not traced:
            lines.append(f"{len(failed)} failed; none of them was traced (sampled).")
        else:
            some = "their traces" if len(traced) <= 10 else "the first 10 of their traces"
            if len(traced) < len(failed):
                some = f"{some} ({len(traced)} were sampled)"
            lines.append(f"{len(failed)} failed; {some}:")
            lines += [f"  {trace_id}" for trace_id in traced[:10]]
            lines.append(f"Open one at {settings.ZIPKIN_UI_URL}/traces/<trace id>")
    return "\n".join(lines)
