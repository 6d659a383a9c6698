from django.http import HttpRequest


def banner(request: HttpRequest) -> dict:
    """The scenarios the API said were on while serving this page, for the banner.

    The pages' client keeps what the API's `Scenarios` header said (apps/pages/client.py).
    """
    said = getattr(request, "api_scenarios", "")
    return {"scenarios": said.split("; ") if said else []}
