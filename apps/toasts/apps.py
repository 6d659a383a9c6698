from django.apps import AppConfig


class ToastsConfig(AppConfig):
    name = "apps.toasts"
    label = "toasts"

    def ready(self) -> None:
        # The jobs, registered with Celery in every process, not only in workers:
        # queue.py publishes them by name.
        from apps.toasts import tasks  # noqa: F401
