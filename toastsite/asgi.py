"""ASGI entry point, set up like wsgi.py: uvicorn's process (`make asgi`) loads it.

The traces are the same as under WSGI (tests/telemetry runs under both). No
REQUEST_URI wrapper is needed here: the Django instrumentation reads an ASGI
request's path from the scope, already decoded, and a path outside Latin-1
is a plain 404.
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
