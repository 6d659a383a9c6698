"""Waiting for something to happen, with a deadline instead of a fixed sleep;
and doing something at a steady rate."""

import threading
import time
from collections.abc import Callable, Iterator
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


def steadily(count: int, per_second: float, stop: threading.Event | None = None) -> Iterator[int]:
    """0 to `count - 1`, each when its turn comes at `per_second` a second,
    counted from the start (a slow turn is caught up on, not added to the
    rest); the count ends early once `stop` is set."""
    begin = time.monotonic()
    for n in range(count):
        if stop is not None and stop.is_set():
            return
        time.sleep(max(0.0, begin + n / per_second - time.monotonic()))
        yield n
