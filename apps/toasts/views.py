import uuid

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, Throttled, ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response

from apps.scenarios.api import apply as apply_scenarios
from apps.toasts import selectors, services
from apps.toasts.models import Toast
from apps.toasts.permissions import IsStaffOrReadOnly
from apps.toasts.serializers import (
    RatingSerializer,
    ToastDetailSerializer,
    ToastFilterSerializer,
    ToastSerializer,
    TodayQuerySerializer,
)
from apps.toasts.throttling import VisitorRateThrottle

IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.UUID,
    OpenApiParameter.HEADER,
    description="A UUID the client makes up for this rating: sending the rating again "
    "with the same key saves it once, and answers 200 with the saved rating.",
)

TOO_MANY_RATINGS = OpenApiResponse(
    inline_serializer("Throttled", {"detail": serializers.CharField()}),
    description="Too many ratings from this visitor in the last minute "
    "(RATINGS_PER_MINUTE); the Retry-After header says how many seconds to wait.",
)


class ToastPagination(PageNumberPagination):
    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100


@extend_schema_view(list=extend_schema(parameters=[ToastFilterSerializer]))
class ToastViewSet(viewsets.ModelViewSet):
    """The week's toasts. Anyone may read and rate them; staff may edit them.

    Staff edits of toasts are DRF's own create, update and destroy, which save
    through the serializer: plain writes of the fields, with no rule beyond
    validation. Ratings have rules (one per idempotency key), so the ratings
    action writes through services.rating_create instead.
    """

    serializer_class = ToastSerializer
    pagination_class = ToastPagination
    permission_classes = [IsStaffOrReadOnly]
    lookup_value_converter = "int"
    throttle_scope: str | None = None  # no limit, but on the ratings action

    def initial(self, request: Request, *args, **kwargs) -> None:
        super().initial(request, *args, **kwargs)
        apply_scenarios()

    def get_queryset(self):
        if self.action == "ratings":  # only the toast to rate, not its summary
            return Toast.objects.all()
        return selectors.toast_list()

    def get_serializer_class(self):
        if self.action == "retrieve":
            return ToastDetailSerializer
        return RatingSerializer if self.action == "ratings" else ToastSerializer

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
        toast = selectors.toast_choose(on=day)
        if toast is None:
            raise NotFound(f"No toast is served on {day:%A} {day.isoformat()}.")
        return Response(self.get_serializer(toast).data)

    @extend_schema(
        parameters=[IDEMPOTENCY_KEY],
        responses={201: RatingSerializer, 200: RatingSerializer, 429: TOO_MANY_RATINGS},
    )
    @action(
        detail=True,
        methods=["post"],
        permission_classes=[permissions.AllowAny],
        throttle_classes=[VisitorRateThrottle],
        throttle_scope="ratings",
    )
    def ratings(self, request: Request, pk: int, format: str | None = None) -> Response:
        toast = self.get_object()
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        saved = services.rating_create(
            toast=toast, **serializer.validated_data, idempotency_key=idempotency_key(request)
        )
        saved.rating.summary_update = saved.summary_update
        status_code = status.HTTP_201_CREATED if saved.created else status.HTTP_200_OK
        return Response(self.get_serializer(saved.rating).data, status=status_code)

    def throttled(self, request: Request, wait: float | None) -> None:
        # DRF's answer says "Request was throttled."; say what was too much. It
        # adds "Expected available in N seconds." and the Retry-After header.
        raise Throttled(wait or 60, detail="Too many ratings from your address in a minute.")


def idempotency_key(request: Request) -> uuid.UUID | None:
    value = request.headers.get("Idempotency-Key")
    if value is None:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ValidationError({"Idempotency-Key": "Must be a UUID."}) from None
