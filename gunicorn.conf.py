"""gunicorn settings, shared by the monolith and both services.

gunicorn itself reads PORT (bind 0.0.0.0:$PORT) and WEB_CONCURRENCY (workers).
"""

import os

# Threads, not just processes: the monolith's pages call the API on the same
# server, so a page holds one thread while its API call needs another. With
# sync workers, two simultaneous page views could take every worker and wait
# on each other until the client's read timeout.
worker_class = "gthread"
threads = 8

# Import the app in each worker, after the fork, never in the master.
preload_app = False


def post_fork(server, worker):
    # Each worker gets its own tracer provider, exporter thread and
    # service.instance.id. (wsgi.py calls setup() again; that does nothing.)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "toastsite.settings")
    from toastsite import tracing

    tracing.setup()
