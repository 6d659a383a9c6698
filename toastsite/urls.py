from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("", include("apps.pages.urls")),
    path("api/", include("apps.toasts.urls")),
    path("admin/", admin.site.urls),
]

handler500 = "apps.pages.views.server_error"
