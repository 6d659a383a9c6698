"""How the API applies the scenarios, and says which are on.

The API says so in a `Scenarios` header on each of its answers; the pages
show that header in a banner. So in the split the banner tells what the API
really does, whatever the frontend's own settings are.
"""

import random
import time

from apps.scenarios import config

HEADER = "Scenarios"


class ScenarioFailure(Exception):
    """A failure that SCENARIO_FAILURE_RATE asked for."""


def apply() -> None:
    """Slow this API call down, or fail it, as the scenarios ask."""
    on = config.current
    if on.latency_ms:
        time.sleep(on.latency_ms / 1000)
    if random.random() < on.failure_rate:
        raise ScenarioFailure(f"scenario failure: SCENARIO_FAILURE_RATE={on.failure_rate}")


class ScenarioHeaderMiddleware:
    """Adds the `Scenarios` header to every answer, failures included, in the
    roles that serve the API (see MIDDLEWARE in settings.py)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if words := config.current.described():
            response[HEADER] = "; ".join(words)
        return response
