"""WSGI entry point: runserver's serving process and each server worker load it."""

import os

from django.core.wsgi import get_wsgi_application

from toastsite.celery import jobs_at_start
from toastsite.telemetry.http import with_request_uri
from toastsite.telemetry.setup import setup

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "toastsite.settings")

# Before Django loads its middleware: instrumenting Django adds one.
setup()
jobs_at_start()
application = with_request_uri(get_wsgi_application())
