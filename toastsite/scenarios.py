"""Scenarios, for the tutorial: a failing or slow API, or an API that makes
N+1 queries, on demand.

Each is off unless its SCENARIO_* setting says otherwise (see settings.py). The
API acts on them, and says which are on in a `Scenarios` header on each of its
answers; the pages show that header in a banner. So in the split the banner
tells what the API really does, whatever the frontend's own settings are.
"""

import random
import time

from django.conf import settings

HEADER = "Scenarios"


class ScenarioFailure(Exception):
    """A failure that SCENARIO_FAILURE_RATE asked for."""


def apply() -> None:
    """Slow this API call down, or fail it, as the scenario settings ask."""
    if settings.SCENARIO_LATENCY_MS:
        time.sleep(settings.SCENARIO_LATENCY_MS / 1000)
    if random.random() < settings.SCENARIO_FAILURE_RATE:
        raise ScenarioFailure(
            f"scenario failure: SCENARIO_FAILURE_RATE={settings.SCENARIO_FAILURE_RATE}"
        )


def active() -> list[str]:
    """The scenarios that are on, in words."""
    descriptions = []
    if settings.SCENARIO_FAILURE_RATE:
        descriptions.append(f"the API fails {settings.SCENARIO_FAILURE_RATE:.0%} of calls")
    if settings.SCENARIO_LATENCY_MS:
        descriptions.append(f"the API takes {settings.SCENARIO_LATENCY_MS} ms longer")
    if settings.SCENARIO_N_PLUS_ONE:
        descriptions.append("the API makes N+1 queries")
    return descriptions


class ScenarioHeaderMiddleware:
    """Adds the `Scenarios` header to every answer, failures included, in the
    roles that serve the API (see MIDDLEWARE in settings.py)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if on := active():
            response[HEADER] = "; ".join(on)
        return response
