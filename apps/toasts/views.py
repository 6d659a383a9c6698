from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response

from apps.toasts import scenarios, selectors
from apps.toasts.models import Toast
from apps.toasts.serializers import (
    RatingSerializer,
    ToastFilterSerializer,
    ToastSerializer,
    TodayQuerySerializer,
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
    def today(self, request: Request) -> Response:
        query = TodayQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        day = query.validated_data.get("date") or timezone.localdate()
        toast = selectors.toast_of_the_day(on=day)
        if toast is None:
            raise NotFound(f"No toast is served on {day:%A} {day.isoformat()}.")
        return Response(ToastSerializer(toast, context=self.get_serializer_context()).data)

    @extend_schema(request=RatingSerializer, responses={201: RatingSerializer})
    @action(detail=True, methods=["post"], permission_classes=[permissions.AllowAny])
    def ratings(self, request: Request, pk: int) -> Response:
        toast = get_object_or_404(Toast, pk=pk)
        serializer = RatingSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        serializer.save(toast=toast)
        return Response(serializer.data, status=status.HTTP_201_CREATED)
