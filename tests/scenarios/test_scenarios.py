"""The tutorial's scenarios: off by default, and doing what they say when on."""

import math
import time

import pytest
from django.test import Client
from django.urls import reverse

from apps.scenarios import config
from apps.toasts.models import Toast

pytestmark = pytest.mark.django_db


def test_all_scenarios_are_off_by_default(client, monkeypatch):
    for variable in (
        "SCENARIO_FAILURE_RATE",
        "SCENARIO_LATENCY_MS",
        "SCENARIO_N_PLUS_ONE",
        "SCENARIO_WORKER_LATENCY_MS",
        "SCENARIO_WORKER_FAILURE_RATE",
        "SCENARIO_LOST_CONTEXT",
    ):
        monkeypatch.delenv(variable, raising=False)
    assert config.from_environment() == config.Scenarios(0.0, 0, False, 0, 0.0, False)
    assert config.current.described() == []
    assert config.current.described_by_pages() == []
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


def test_the_worker_scenarios_are_said_by_the_api_whose_jobs_carry_them(client, scenarios):
    scenarios(worker_latency_ms=2000, worker_failure_rate=0.25)
    response = client.get(reverse("api:toast-list"))
    assert response["Scenarios"] == (
        "each job takes the worker 2000 ms longer; the worker fails 25% of jobs"
    )


def test_a_job_is_slowed_or_failed_as_its_publisher_said():
    from apps.scenarios import jobs
    from apps.scenarios.api import ScenarioFailure

    started = time.monotonic()
    jobs.apply({"latency_ms": 200})
    assert time.monotonic() - started >= 0.2
    with pytest.raises(ScenarioFailure, match="SCENARIO_WORKER_FAILURE_RATE=1"):
        jobs.apply({"failure_rate": 1})
    jobs.apply(None)  # a job without scenarios: nothing happens
