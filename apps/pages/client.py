"""The pages' one way to the toast API.

Every call goes through `_call`, the one place that turns what can go wrong on
the way into an outcome a page understands:

- the API cannot be reached, times out, fails (5xx) or answers garbage:
  `ToastServiceUnavailable`, which the pages show as a 503 page that says which;
- the API answers 404: `ToastNotFound`, which is Django's Http404;
- the API rejects what we sent (400): `RequestRejected`, with its errors;
- the API refuses more from this visitor for now (429): `RateLimited`, with
  the seconds it asks us to wait.

`at_once` makes several calls side by side, each on a thread of a pool, in the
request's context.
"""

import contextvars
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any

import requests
from django.conf import settings
from django.http import Http404, HttpRequest
from requests.adapters import HTTPAdapter

from apps.scenarios import config as scenarios
from apps.scenarios.api import HEADER as SCENARIOS_HEADER
from toastsite.telemetry.http import outbound_route


class ToastServiceUnavailable(Exception):
    """The toast API could not give an answer.

    `cause` says what happened, for the 503 page: "connection" (the API could
    not be reached), "timeout" (it did not answer in time) or "error" (it
    answered with an error, or with something that is not its JSON).
    `reached` says whether the request got to the API: if it did, a write may
    have happened all the same.
    """

    def __init__(self, message: str, *, cause: str) -> None:
        super().__init__(message)
        self.cause = cause
        self.reached = cause != "connection"


class ToastNotFound(Http404):
    """The toast API has no such thing."""


class RequestRejected(Exception):
    """The toast API refused the data we sent (HTTP 400)."""

    def __init__(self, errors: dict[str, Any]) -> None:
        super().__init__(errors)
        self.errors = errors


class RateLimited(Exception):
    """The toast API refused: this visitor sent too many requests (HTTP 429).

    `retry_after` is how many seconds the API asks them to wait.
    """

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"rate limited; retry after {retry_after} s")
        self.retry_after = retry_after


# One pooled session per process: connections to the API are kept alive and
# reused across page views. Sized for the server's threads.
_session = requests.Session()
_session.mount("http://", HTTPAdapter(pool_maxsize=32))
_session.mount("https://", HTTPAdapter(pool_maxsize=32))
_session.headers["Accept"] = "application/json"

# The threads that calls made at once run on, as many as the session keeps
# connections; started as needed, so each server worker has its own.
_pool = ThreadPoolExecutor(max_workers=32, thread_name_prefix="toast-api")


def at_once(*calls: Callable[[], Any]) -> list[Any]:
    """Runs `calls` side by side and returns their results, in order.

    Each runs on a thread of the pool in a copy of this thread's context: the
    current span (so its client span is a child of the page's) and every other
    context variable. A pool's thread has a context of its own, not the
    request's; a call submitted bare starts a trace of its own
    (SCENARIO_LOST_CONTEXT shows it).

    Once all have ended, the first that failed, in order, raises its exception,
    as it would have had they run one after the other: the page fails the
    same way. The others' answers are dropped.
    """
    if scenarios.current.lost_context:
        futures = [_pool.submit(call) for call in calls]  # the trap: no context carried
    else:
        futures = [_pool.submit(contextvars.copy_context().run, call) for call in calls]
    wait(futures)
    return [future.result() for future in futures]


def toast_of_the_day(request: HttpRequest) -> dict | None:
    try:
        return _call(request, "GET", "toasts/today/")
    except ToastNotFound:
        return None


def week(request: HttpRequest) -> list[dict]:
    return _call(request, "GET", "toasts/", params={"page_size": 100})["results"]


def toast(request: HttpRequest, pk: int) -> dict:
    return _call(request, "GET", "toasts/{id}/", pk=pk)


def rate(request: HttpRequest, pk: int, *, stars: int, comment: str, key: uuid.UUID | None) -> dict:
    payload = {"stars": stars, "comment": comment}
    # The API limits ratings per visitor: it must count the visitor, not us.
    headers = {"X-Forwarded-For": forwarded_for(request)}
    if key:
        headers["Idempotency-Key"] = str(key)
    return _call(request, "POST", "toasts/{id}/ratings/", pk=pk, json=payload, headers=headers)


def forwarded_for(request: HttpRequest) -> str:
    """X-Forwarded-For for a call on a visitor's behalf, as a proxy writes it: the
    header we got, if any, with the address we got the request from appended
    (why the API believes it: apps/visitors/proxies.py)."""
    remote = request.META.get("REMOTE_ADDR", "")
    received = request.META.get("HTTP_X_FORWARDED_FOR", "").strip()
    return f"{received}, {remote}" if received else remote


def _call(
    request: HttpRequest, method: str, route: str, pk: int | None = None, **kwargs: Any
) -> Any:
    """Call the API at `route` (a template like "toasts/{id}/") and return its JSON."""
    url = f"{_api_base(request)}/api/{route.format(id=pk)}"
    try:
        with outbound_route(f"/api/{route}"):
            response = _session.request(method, url, timeout=settings.TOAST_API_TIMEOUT, **kwargs)
    except requests.RequestException as exc:
        # A connect timeout is a ConnectionError too: the request never got there.
        cause = "connection" if isinstance(exc, requests.ConnectionError) else "timeout"
        raise ToastServiceUnavailable(f"{method} {url} failed: {exc}", cause=cause) from exc
    # What the API says about its scenarios, for the banner (apps/scenarios/).
    request.api_scenarios = response.headers.get(SCENARIOS_HEADER, "")

    if response.status_code == 404:
        raise ToastNotFound(f"{method} {url}: not found")
    try:
        data = response.json() if response.status_code < 500 else None
    except ValueError as exc:
        raise ToastServiceUnavailable(f"{method} {url}: answer is not JSON", cause="error") from exc
    if response.status_code == 400:
        raise RequestRejected(data)
    if response.status_code == 429:
        raise RateLimited(_retry_after(response))
    if not response.ok:
        raise ToastServiceUnavailable(f"{method} {url}: HTTP {response.status_code}", cause="error")
    return data


def _retry_after(response: requests.Response, default: int = 60) -> int:
    # Seconds; the HTTP-date form is allowed too, but the API never sends it.
    try:
        return max(1, int(response.headers.get("Retry-After", default)))
    except ValueError:
        return default


def _api_base(request: HttpRequest) -> str:
    # The monolith calls itself: the API is on the server this page came from.
    # request.get_host() is checked against ALLOWED_HOSTS, so it is safe to use.
    return settings.TOAST_API_URL or f"{request.scheme}://{request.get_host()}"
