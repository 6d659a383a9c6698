import logging

from django.shortcuts import render
from opentelemetry import trace

from apps.pages.client import ToastServiceUnavailable

logger = logging.getLogger(__name__)


class ToastServiceErrorMiddleware:
    """Shows the 503 page when a page could not get its data from the API."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, ToastServiceUnavailable):
            return None
        logger.warning("Toast service unavailable: %s", exception)
        # The page's own span shows why it failed, beside the failed client span.
        trace.get_current_span().record_exception(exception)
        context = {"cause": exception.cause, "reached": exception.reached}
        return render(request, "pages/503.html", context, status=503)
