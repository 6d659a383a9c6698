from django.apps import AppConfig


class ToastsiteConfig(AppConfig):
    """The project itself, as an app: its templates, static files and runserver."""

    name = "toastsite"
