"""WSGI entry point: runserver's serving process and each server worker load it."""

import os

from django.core.wsgi import get_wsgi_application

from toastsite import tracing

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "toastsite.settings")

# Before Django loads its middleware: instrumenting Django adds one.
tracing.setup()
application = tracing.with_request_uri(get_wsgi_application())
