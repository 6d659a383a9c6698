"""The tutorial's scenarios: off by default, and doing what they say when on."""

import math

import pytest
from django.test import Client
from django.urls import reverse

from apps.scenarios import config
from apps.toasts.models import Toast

pytestmark = pytest.mark.django_db


def test_all_scenarios_are_off_by_default(client, monkeypatch):
    for variable in ("SCENARIO_FAILURE_RATE", "SCENARIO_LATENCY_MS", "SCENARIO_N_PLUS_ONE"):
        monkeypatch.delenv(variable, raising=False)
    assert config.from_environment() == config.Scenarios(0.0, 0, False)
    assert config.current.described() == []
    assert all(client.get(reverse("api:toast-list")).status_code == 200 for _ in range(20))


def test_failure_rate_fails_that_share_of_api_calls_with_a_json_500(scenarios):
    scenarios(failure_rate=1)
    response = Client(raise_request_exception=False).get(reverse("api:toast-today"))
    assert response.status_code == 500
    assert response.json()["detail"] == "Server error."


def test_failure_rate_a_quarter_fails_a_quarter_of_the_calls(scenarios):
    scenarios(failure_rate=0.25)
    client = Client(raise_request_exception=False)
    calls = 1000
    failed = [client.options(reverse("api:toast-list")).status_code for _ in range(calls)].count(
        500
    )
    # Binomial: 250 expected, standard deviation 13.7. Five of them either side
    # fail a correct rate once in millions of runs, and a rate 1.5 times too high
    # (375 expected) or a fifth too low (200) every time.
    spread = 5 * math.sqrt(calls * 0.25 * 0.75)
    assert 250 - spread < failed < 250 + spread


def test_n_plus_one_makes_two_queries_per_toast(client, scenarios, django_assert_num_queries):
    scenarios(n_plus_one=True)
    toasts = Toast.objects.count()
    # count, the toasts, then each toast's ingredients and its ratings
    with django_assert_num_queries(2 + 2 * toasts):
        body = client.get(reverse("api:toast-list")).json()
    assert body["results"][0]["ingredients"]


def test_latency_makes_each_api_call_that_much_longer(client, scenarios, spans):
    scenarios(latency_ms=300)
    client.get(reverse("api:toast-list"))
    (api,) = [s for s in spans() if s.name == "GET api/toasts/"]
    assert api.end_time - api.start_time >= 300_000_000  # ns


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.usefixtures("api_via_live_server")
@pytest.mark.parametrize(
    ("knob", "value", "words"),
    [
        ("failure_rate", 1, "the API fails 100% of calls"),
        ("latency_ms", 300, "the API takes 300 ms longer"),
        ("n_plus_one", True, "the API makes N+1 queries"),
    ],
)
def test_the_api_says_which_scenarios_are_on_and_the_pages_show_it(scenarios, knob, value, words):
    # The API runs in this process too: its failures must not be raised here.
    client = Client(raise_request_exception=False)
    assert "Scenarios on" not in client.get(reverse("pages:week")).content.decode()
    scenarios(**{knob: value})
    response = client.get(reverse("pages:week"))  # a 503 page, with failures on
    assert response.status_code == (503 if knob == "failure_rate" else 200)
    assert f'<p class="banner">Scenarios on: {words}.</p>' in response.content.decode()
    assert client.get(reverse("api:toast-list"))["Scenarios"] == words


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("SCENARIO_FAILURE_RATE", "1.5", "SCENARIO_FAILURE_RATE must be 1.0 or less, not '1.5'."),
        ("SCENARIO_FAILURE_RATE", "a lot", "SCENARIO_FAILURE_RATE must be a number, not 'a lot'."),
        ("SCENARIO_LATENCY_MS", "-5", "SCENARIO_LATENCY_MS must be 0 or more, not '-5'."),
    ],
)
def test_a_wrong_knob_names_its_variable(monkeypatch, variable, value, message):
    from django.core.exceptions import ImproperlyConfigured

    monkeypatch.setenv(variable, value)
    with pytest.raises(ImproperlyConfigured, match=message.replace(".", r"\.")):
        config.from_environment()
