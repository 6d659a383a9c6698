"""ASGI entry point, set up like wsgi.py.

Not served by anything yet, and so not tested: `make run`, `make split`,
gunicorn and compose all serve wsgi.py. Kept as Django's startproject writes
it, with the same tracing setup, until an ASGI server serves it.
"""

import os

from django.core.asgi import get_asgi_application

from toastsite.celery import jobs_at_start
from toastsite.telemetry.setup import setup

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "toastsite.settings")

# Before Django loads its middleware: instrumenting Django adds one.
setup()
jobs_at_start()
application = get_asgi_application()
