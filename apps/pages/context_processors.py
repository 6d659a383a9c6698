from django.conf import settings
from django.http import HttpRequest

from apps.toasts import scenarios
from toastsite import tracing


def trouble(request: HttpRequest) -> dict:
    """The scenarios switched on, for the banner that says so on every page."""
    return {"scenarios": scenarios.active()}


def trace(request: HttpRequest) -> dict:
    """The current trace's id and its address in the Zipkin UI, for the footer."""
    return trace_links()


def trace_links() -> dict:
    trace_id = tracing.current_trace_id()
    if trace_id is None:
        return {}
    return {"trace_id": trace_id, "trace_url": f"{settings.ZIPKIN_UI_URL}/traces/{trace_id}"}
