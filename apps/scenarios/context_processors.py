from django.http import HttpRequest

from apps.scenarios import config


def banner(request: HttpRequest) -> dict:
    """The scenarios the API said were on while serving this page, and the
    pages' own, for the banner.

    The pages' client keeps what the API's `Scenarios` header said (apps/pages/client.py).
    """
    said = getattr(request, "api_scenarios", "")
    return {"scenarios": (said.split("; ") if said else []) + config.current.described_by_pages()}
