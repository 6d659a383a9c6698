from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from apps.toasts.views import ToastViewSet

app_name = "api"

# path() routes, not regexes: their templates become span names in the traces.
router = DefaultRouter(use_regex_path=False)
router.register("toasts", ToastViewSet, basename="toast")

urlpatterns = [
    path("", include(router.urls)),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
]
