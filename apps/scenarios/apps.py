from django.apps import AppConfig


class ScenariosConfig(AppConfig):
    """Trouble on demand for the tutorial: a failing, slow or wasteful API."""

    name = "apps.scenarios"
    label = "scenarios"

    def ready(self) -> None:
        # Read the knobs now: a wrong value stops the process as it starts.
        from apps.scenarios import config  # noqa: F401
