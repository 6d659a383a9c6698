from django.apps import AppConfig


class ToastsConfig(AppConfig):
    name = "apps.toasts"
    label = "toasts"
