# Celery's Django layout: the app is loaded with Django, so that @shared_task uses it.
from toastsite.celery import app as celery_app

__all__ = ["celery_app"]
