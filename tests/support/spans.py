"""The in-memory spans of in-process tests (the `spans` fixture), looked up."""

from opentelemetry.sdk.trace import ReadableSpan


def by_name(spans: list[ReadableSpan], name: str) -> ReadableSpan:
    """The one span named `name`; fails, listing the names, if there is not exactly one."""
    matches = [s for s in spans if s.name == name]
    assert len(matches) == 1, f"{name!r} in {[s.name for s in spans]}"
    return matches[0]
