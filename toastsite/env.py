"""Reading the environment: what settings.py, and the scenarios' knobs, are made of."""

import os
from typing import TypeVar

from django.core.exceptions import ImproperlyConfigured

Number = TypeVar("Number", int, float)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_number(
    name: str, default: Number, minimum: Number | None = None, maximum: Number | None = None
) -> Number:
    """A number from the environment, as the type of its default."""
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        number = type(default)(value)
    except ValueError:
        kind = "a whole number" if isinstance(default, int) else "a number"
        raise ImproperlyConfigured(f"{name} must be {kind}, not {value!r}.") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name} must be {minimum} or more, not {value!r}.")
    if maximum is not None and number > maximum:
        raise ImproperlyConfigured(f"{name} must be {maximum} or less, not {value!r}.")
    return number
