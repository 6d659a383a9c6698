"""Views of the whole site, whatever the role: the 500 handler and the health check."""

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, HttpResponseServerError, JsonResponse
from django.template import loader
from django.views.decorators.csrf import requires_csrf_token
from django.views.decorators.http import require_safe

from toastsite.telemetry.links import trace_links


@requires_csrf_token
def server_error(request: HttpRequest) -> HttpResponse:
    links = trace_links()
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Server error.", **links}, status=500)
    # Rendered without context processors, since one of them may be what failed.
    template = loader.get_template("500.html")
    return HttpResponseServerError(template.render(links))


@require_safe
def health(request: HttpRequest) -> JsonResponse:
    """For load balancers and compose's healthchecks: cheap, and never traced
    (OTEL_PYTHON_DJANGO_EXCLUDED_URLS in settings.py). The roles that own the
    database check that it answers."""
    if settings.SERVES_API:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
        except DatabaseError:
            return JsonResponse({"status": "database unavailable"}, status=503)
    return JsonResponse({"status": "ok"})
