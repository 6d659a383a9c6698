"""WSGI entry point: runserver's serving process and each server worker load it."""

import os

from django.core.wsgi import get_wsgi_application

from toastsite.celery import say_where_jobs_run
from toastsite.telemetry.http import with_request_uri
from toastsite.telemetry.setup import setup

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "toastsite.settings")

# Before Django loads its middleware: instrumenting Django adds one.
setup()
say_where_jobs_run()
application = with_request_uri(get_wsgi_application())
