from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from toastsite import views

# Each role serves its part of the site (see TOASTSITE_ROLE in settings).
urlpatterns = [path("health/", views.health, name="health")]
if settings.SERVES_PAGES:
    urlpatterns += [path("", include("apps.pages.urls"))]
if settings.SERVES_API:
    urlpatterns += [path("api/", include("apps.toasts.urls")), path("admin/", admin.site.urls)]
if not settings.SERVES_PAGES:
    urlpatterns += [path("", RedirectView.as_view(url="/api/"), name="root")]

handler500 = "toastsite.views.server_error"
