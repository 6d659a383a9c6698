"""Waiting for something to happen, with a deadline instead of a fixed sleep."""

import time
from collections.abc import Callable
from typing import TypeVar

import pytest
import requests

T = TypeVar("T")


def eventually(check: Callable[[], T], what: str, timeout: float = 15, every: float = 0.1) -> T:
    """Calls `check()` until it returns something true, and returns that; fails
    the test, saying `what` it waited for, when `timeout` seconds have passed.
    A request that fails on the way counts as not yet."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
        except (requests.RequestException, ValueError):
            result = None
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"waited {timeout:.0f} s for {what}")
        time.sleep(every)
