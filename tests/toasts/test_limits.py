"""The API limits ratings per visitor, whoever passes them on: real servers,
the monolith and the split, visitors at addresses of their own (127.0.0.x)."""

import time
from typing import NamedTuple

import pytest

from apps.pages.traffic import post_rating
from tests.support.http import Visitor, traceresponse

LIMIT = 3


class Site(NamedTuple):
    pages: str  # where visitors open pages and send the form
    api: str  # where the API answers


@pytest.fixture(params=["monolith", "split"])
def either_shape(request, runserver_site, split) -> Site:
    env = {"RATINGS_PER_MINUTE": str(LIMIT), "OTEL_TRACES_EXPORTER": "none"}
    if request.param == "monolith":
        server = runserver_site(**env)
        return Site(server.url, server.url)
    frontend, api = split(**env)
    return Site(frontend.url, api.url)


def a_toast(visitor: Visitor, api: str) -> int:
    return visitor.get(f"{api}/api/toasts/").json()["results"][0]["id"]


def rate_at_the_api(visitor: Visitor, api: str, pk: int, **kwargs):
    return visitor.post(f"{api}/api/toasts/{pk}/ratings/", json={"stars": 4}, **kwargs)


def test_the_api_answers_the_rating_over_the_limit_with_a_429_and_reads_stay_open(
    either_shape, visitor_at
):
    visitor = visitor_at("127.0.0.2")
    pk = a_toast(visitor, either_shape.api)
    count = visitor.get(f"{either_shape.api}/api/toasts/{pk}/").json()["rating"]["count"]

    answers = [rate_at_the_api(visitor, either_shape.api, pk) for _ in range(LIMIT + 1)]

    assert [a.status_code for a in answers] == [201] * LIMIT + [429]
    refused = answers[-1]
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.headers["Content-Type"] == "application/json"
    assert refused.json()["detail"].startswith("Too many ratings from your address in a minute.")
    for _ in range(LIMIT + 1):
        assert visitor.get(f"{either_shape.api}/api/toasts/{pk}/").status_code == 200
    assert (
        visitor.get(f"{either_shape.api}/api/toasts/{pk}/").json()["rating"]["count"]
        == count + LIMIT
    )


def test_each_visitor_behind_the_frontend_is_counted_and_the_form_says_so(either_shape, visitor_at):
    first, second = visitor_at("127.0.0.2"), visitor_at("127.0.0.3")
    page = f"{either_shape.pages}/toasts/{a_toast(first, either_shape.api)}/"

    sent = [post_rating(first, page, stars=5).status_code for _ in range(LIMIT)]
    limited = post_rating(first, page, stars=5, comment="one too many")

    assert sent == [302] * LIMIT
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert "You sent many ratings in a minute. Please wait a moment." in limited.text
    assert "one too many" in limited.text  # the form again, as it was sent
    # The frontend sends them all, but a second visitor has a count of their own.
    assert post_rating(second, page, stars=5).status_code == 302


def test_a_forged_x_forwarded_for_does_not_reset_the_count(either_shape, visitor_at):
    visitor = visitor_at("127.0.0.2")
    pk = a_toast(visitor, either_shape.api)
    sent = [rate_at_the_api(visitor, either_shape.api, pk).status_code for _ in range(LIMIT)]
    assert sent == [201] * LIMIT

    for forged in ["203.0.113.7", "127.0.0.1", "198.51.100.1, 127.0.0.1"]:
        headers = {"X-Forwarded-For": forged}
        assert rate_at_the_api(visitor, either_shape.api, pk, headers=headers).status_code == 429
        # Sent to the form, the header is passed on with the real address after it.
        visitor.headers.update(headers)
        assert (
            post_rating(visitor, f"{either_shape.pages}/toasts/{pk}/", stars=1).status_code == 429
        )
        del visitor.headers["X-Forwarded-For"]


def test_two_gunicorn_workers_share_one_count(gunicorn_site, visitor_at, zipkin_receiver):
    site = gunicorn_site(
        WEB_CONCURRENCY="2",
        RATINGS_PER_MINUTE=str(LIMIT),
        OTEL_EXPORTER_ZIPKIN_ENDPOINT=zipkin_receiver.endpoint,
        OTEL_BSP_SCHEDULE_DELAY="100",
    )
    visitor = visitor_at("127.0.0.2")
    pk = a_toast(visitor, site.url)
    statuses: list[int] = []
    workers: set[str] = set()
    started = time.monotonic()
    # New connections, which either worker may accept, until both have answered.
    while len(statuses) < 8 or len(workers) < 2:
        assert time.monotonic() - started < 45, f"one worker answered all: {statuses}"
        visitor.close()
        answer = rate_at_the_api(visitor, site.url, pk, headers={"Connection": "close"})
        statuses.append(answer.status_code)
        server_span = traceresponse(answer).span_id
        span = next(s for s in zipkin_receiver.trace(answer) if s["id"] == server_span)
        workers.add(span["tags"]["service.instance.id"])

    # Counted apart, each worker would have let its first ratings through.
    assert statuses == [201] * LIMIT + [429] * (len(statuses) - LIMIT)
