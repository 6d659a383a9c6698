from django.urls import path

from apps.pages import views

app_name = "pages"

urlpatterns = [
    path("", views.home, name="home"),
    path("toasts/", views.week, name="week"),
    path("toasts/<int:pk>/", views.toast, name="toast"),
]
