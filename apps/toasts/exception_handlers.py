"""The API's one place where errors become HTTP answers.

DRF's own handler answers its exceptions (validation, not found, throttled,
...). On top of it: the application's errors are a 400 in DRF's shape, and a
database that cannot be reached is a clear 503 instead of a bare 500.
"""

import logging

from django.db import InterfaceError, OperationalError
from opentelemetry import trace
from rest_framework import status, views
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from apps.toasts.exceptions import ApplicationError

logger = logging.getLogger(__name__)


def exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, ApplicationError):
        exc = ValidationError({exc.field: [exc.message]} if exc.field else [exc.message])
    elif isinstance(exc, (OperationalError, InterfaceError)):
        logger.warning("Database unavailable: %s", exc)
        trace.get_current_span().record_exception(exc)
        return Response(
            {"detail": "The database is unavailable. Please try again in a moment."},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "5"},
        )
    return views.exception_handler(exc, context)
