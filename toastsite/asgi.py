"""ASGI entry point, set up like wsgi.py."""

import os

from django.core.asgi import get_asgi_application

from toastsite import tracing

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "toastsite.settings")

# Before Django loads its middleware: instrumenting Django adds one.
tracing.setup()
application = get_asgi_application()
