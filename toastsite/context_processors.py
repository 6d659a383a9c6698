from django.http import HttpRequest

from toastsite import tracing


def trace(request: HttpRequest) -> dict:
    """The current trace's id and its address in the Zipkin UI, for the footer."""
    return tracing.trace_links()


def scenarios(request: HttpRequest) -> dict:
    """The scenarios the API said were on while serving this page, for the banner.

    The pages' client keeps what the API's `Scenarios` header said (apps/pages/client.py).
    """
    said = getattr(request, "api_scenarios", "")
    return {"scenarios": said.split("; ") if said else []}
