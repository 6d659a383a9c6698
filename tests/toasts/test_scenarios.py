"""The tutorial's scenarios: off by default, and doing what they say when on."""

import pytest
from django.test import Client
from django.urls import reverse

from apps.toasts.models import Toast

pytestmark = pytest.mark.django_db


def test_all_scenarios_are_off_by_default(client, settings):
    assert (settings.SCENARIO_FAILURE_RATE, settings.SCENARIO_LATENCY_MS) == (0, 0)
    assert not settings.SCENARIO_N_PLUS_ONE
    assert all(client.get(reverse("api:toast-list")).status_code == 200 for _ in range(20))


def test_failure_rate_fails_that_share_of_api_calls_with_a_json_500(settings):
    settings.SCENARIO_FAILURE_RATE = 1
    response = Client(raise_request_exception=False).get(reverse("api:toast-today"))
    assert response.status_code == 500
    assert response.json()["detail"] == "Server error."


def test_failure_rate_a_quarter_fails_some_and_not_all(settings):
    settings.SCENARIO_FAILURE_RATE = 0.25
    client = Client(raise_request_exception=False)
    statuses = [client.get(reverse("api:toast-list")).status_code for _ in range(80)]
    assert 0 < statuses.count(500) < 40  # about 20; both bounds are ~5 sigma away


def test_n_plus_one_makes_two_queries_per_toast(client, settings, django_assert_num_queries):
    settings.SCENARIO_N_PLUS_ONE = True
    toasts = Toast.objects.count()
    # count, the toasts, then each toast's ingredients and its ratings
    with django_assert_num_queries(2 + 2 * toasts):
        body = client.get(reverse("api:toast-list")).json()
    assert body["results"][0]["ingredients"]


def test_latency_makes_each_api_call_that_much_longer(client, settings, spans):
    settings.SCENARIO_LATENCY_MS = 300
    client.get(reverse("api:toast-list"))
    (api,) = [s for s in spans() if s.name == "GET api/toasts/"]
    assert api.end_time - api.start_time >= 300_000_000  # ns


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.usefixtures("api_via_live_server")
@pytest.mark.parametrize(
    ("setting", "value", "words"),
    [
        ("SCENARIO_FAILURE_RATE", 1, "the API fails 100% of calls"),
        ("SCENARIO_LATENCY_MS", 300, "the API takes 300 ms longer"),
        ("SCENARIO_N_PLUS_ONE", True, "the API makes N+1 queries"),
    ],
)
def test_the_api_says_which_scenarios_are_on_and_the_pages_show_it(settings, setting, value, words):
    # The API runs in this process too: its failures must not be raised here.
    client = Client(raise_request_exception=False)
    assert "Scenarios on" not in client.get(reverse("pages:week")).content.decode()
    setattr(settings, setting, value)
    response = client.get(reverse("pages:week"))  # a 503 page, with failures on
    assert response.status_code == (503 if setting == "SCENARIO_FAILURE_RATE" else 200)
    assert f'<p class="banner">Scenarios on: {words}.</p>' in response.content.decode()
    assert client.get(reverse("api:toast-list"))["Scenarios"] == words
