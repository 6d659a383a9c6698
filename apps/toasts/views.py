import logging
import uuid

from django.db import IntegrityError, InterfaceError, OperationalError, transaction
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from opentelemetry import trace
from rest_framework import permissions, status, views, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response

from apps.toasts import scenarios, selectors
from apps.toasts.models import Rating, Toast
from apps.toasts.serializers import (
    RatingSerializer,
    ToastFilterSerializer,
    ToastSerializer,
    TodayQuerySerializer,
)

logger = logging.getLogger(__name__)


IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.UUID,
    OpenApiParameter.HEADER,
    description="A UUID the client makes up for this rating: sending the rating again "
    "with the same key saves it once, and answers 200 with the saved rating.",
)


class ToastPagination(PageNumberPagination):
    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100


class IsStaffOrReadOnly(permissions.BasePermission):
    def has_permission(self, request: Request, view) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return True
        return bool(request.user and request.user.is_staff)


class ToastViewSet(viewsets.ModelViewSet):
    """The week's toasts. Anyone may read and rate them; staff may edit them."""

    serializer_class = ToastSerializer
    pagination_class = ToastPagination
    permission_classes = [IsStaffOrReadOnly]
    lookup_value_converter = "int"

    def initial(self, request: Request, *args, **kwargs) -> None:
        super().initial(request, *args, **kwargs)
        scenarios.misbehave()

    def get_queryset(self):
        return selectors.toasts_with_ratings()

    @extend_schema(parameters=[ToastFilterSerializer])
    def list(self, request: Request, *args, **kwargs) -> Response:
        return super().list(request, *args, **kwargs)

    def filter_queryset(self, queryset):
        if self.action != "list":
            return queryset
        query = ToastFilterSerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        if "weekday" in query.validated_data:
            queryset = queryset.filter(weekday=query.validated_data["weekday"])
        return queryset

    @extend_schema(parameters=[TodayQuerySerializer], responses=ToastSerializer)
    @action(detail=False)
    def today(self, request: Request, format: str | None = None) -> Response:
        query = TodayQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        day = query.validated_data.get("date") or timezone.localdate()
        toast = selectors.toast_of_the_day(on=day)
        if toast is None:
            raise NotFound(f"No toast is served on {day:%A} {day.isoformat()}.")
        return Response(ToastSerializer(toast, context=self.get_serializer_context()).data)

    @extend_schema(
        request=RatingSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses={201: RatingSerializer, 200: RatingSerializer},
    )
    @action(detail=True, methods=["post"], permission_classes=[permissions.AllowAny])
    def ratings(self, request: Request, pk: int, format: str | None = None) -> Response:
        toast = get_object_or_404(Toast, pk=pk)
        key = idempotency_key(request)
        if key and (saved := Rating.objects.filter(idempotency_key=key).first()):
            return already_saved(saved, toast)
        serializer = RatingSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            with transaction.atomic():
                serializer.save(toast=toast, idempotency_key=key)
        except IntegrityError:
            # The same key twice at the same moment: the other request saved it.
            return already_saved(Rating.objects.get(idempotency_key=key), toast)
        return Response(serializer.data, status=status.HTTP_201_CREATED)


def idempotency_key(request: Request) -> uuid.UUID | None:
    value = request.headers.get("Idempotency-Key")
    if value is None:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ValidationError({"Idempotency-Key": "Must be a UUID."}) from None


def already_saved(rating: Rating, toast: Toast) -> Response:
    if rating.toast_id != toast.pk:
        raise ValidationError({"Idempotency-Key": "Already used for a rating of another toast."})
    return Response(RatingSerializer(rating).data, status=status.HTTP_200_OK)


def exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF's handler, plus a clear 503 when the database cannot be reached."""
    if isinstance(exc, (OperationalError, InterfaceError)):
        logger.warning("Database unavailable: %s", exc)
        trace.get_current_span().record_exception(exc)
        return Response(
            {"detail": "The database is unavailable. Please try again in a moment."},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "5"},
        )
    return views.exception_handler(exc, context)
