"""Trouble on purpose, for the tutorial: a failing or slow API on demand.

Each is off unless its SCENARIO_* setting says otherwise (see settings.py).
"""

import random
import time

from django.conf import settings


class InjectedFailure(Exception):
    """A failure that SCENARIO_FAILURE_RATE asked for."""


def misbehave() -> None:
    """Slow this API call down, or fail it, as the scenario settings ask."""
    if settings.SCENARIO_LATENCY_MS:
        time.sleep(settings.SCENARIO_LATENCY_MS / 1000)
    if random.random() < settings.SCENARIO_FAILURE_RATE:
        raise InjectedFailure(
            f"injected failure: SCENARIO_FAILURE_RATE={settings.SCENARIO_FAILURE_RATE}"
        )


def active() -> list[str]:
    """The scenarios that are on, in words, for the banner on every page."""
    descriptions = []
    if settings.SCENARIO_FAILURE_RATE:
        descriptions.append(f"the API fails {settings.SCENARIO_FAILURE_RATE:.0%} of calls")
    if settings.SCENARIO_LATENCY_MS:
        descriptions.append(f"the API takes {settings.SCENARIO_LATENCY_MS} ms longer")
    if settings.SCENARIO_N_PLUS_ONE:
        descriptions.append("the API makes N+1 queries")
    return descriptions
