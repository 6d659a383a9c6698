import io
import re

import pytest
from django.core.management import CommandError, call_command

from apps.toasts.models import Rating

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.usefixtures("api_via_live_server"),
]


def traffic(url: str, **options) -> str:
    out, err = io.StringIO(), io.StringIO()
    call_command("traffic", url=url, stdout=out, stderr=err, **options)
    assert err.getvalue() == ""  # no progress bar where nobody watches a terminal
    return out.getvalue()


def test_sends_page_views_and_ratings_and_sums_them_up(live_server):
    summary = traffic(live_server.url, n=30, ratings=0.5, seed=7)
    rated = int(re.search(r"30 requests \((\d+) of them ratings\)", summary)[1])
    assert rated > 0
    assert Rating.objects.count() == rated  # every rating really saved, once
    statuses = dict(re.findall(r"(\d{3}) x(\d+)", summary.splitlines()[1]))
    assert statuses.keys() <= {"200", "302"}
    assert int(statuses.get("302", 0)) == rated
    assert re.search(r"latency ms: p50 [\d.]+, p90 [\d.]+, p99 [\d.]+, max [\d.]+", summary)


def test_lists_the_trace_ids_of_failed_requests(live_server, settings):
    settings.TOAST_API_URL = "http://127.0.0.1:9"  # the API is down: every page is a 503
    summary = traffic(live_server.url, n=5, ratings=0)
    assert "503 x5" in summary
    assert "5 failed; their traces:" in summary
    assert len(re.findall(r"^  [0-9a-f]{32}$", summary, re.MULTILINE)) == 5


def test_a_long_list_of_failures_is_cut_to_ten(live_server, settings):
    settings.TOAST_API_URL = "http://127.0.0.1:9"
    summary = traffic(live_server.url, n=12, ratings=0, paths=["/toasts/"])
    assert "12 failed; the first 10 of their traces:" in summary
    assert len(re.findall(r"^  [0-9a-f]{32}$", summary, re.MULTILINE)) == 10


def test_visits_only_the_paths_it_is_given(live_server, requests_received):
    summary = traffic(live_server.url, n=6, paths=["/"], seed=1)
    assert "6 requests (0 of them ratings)" in summary
    assert "200 x6" in summary
    pages = [e["PATH_INFO"] for e in requests_received if not e["PATH_INFO"].startswith("/api/")]
    assert pages == ["/"] * 6
    assert not Rating.objects.exists()


def test_an_unreachable_site_is_a_clear_error():
    with pytest.raises(CommandError, match="Cannot reach the site at http://127.0.0.1:9"):
        traffic("http://127.0.0.1:9", n=1)


def test_lists_only_the_ids_of_traces_that_were_sampled(runserver_site):
    # A trace that sampling left out is in no Zipkin: its id would lead nowhere.
    site = runserver_site(OTEL_TRACES_SAMPLER="always_off", TOAST_API_URL="http://127.0.0.1:9")
    summary = traffic(site.url, n=3, ratings=0, paths=["/toasts/"])
    assert "503 x3" in summary
    assert "3 failed; none of them was traced (sampled)." in summary
    assert not re.findall(r"^  [0-9a-f]{32}$", summary, re.MULTILINE)
