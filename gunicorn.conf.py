"""gunicorn settings, shared by the monolith and both services.

gunicorn itself reads PORT (bind 0.0.0.0:$PORT) and WEB_CONCURRENCY (workers).
"""

from toastsite.telemetry import logs

# Threads, not just processes: the monolith's pages call the API on the same
# server, so a page holds one thread while its API call needs another. With
# sync workers, two simultaneous page views could take every worker and wait
# on each other until the client's read timeout.
worker_class = "gthread"
threads = 8

# Each worker imports the app after the fork, never the master. So tracing is
# set up in each worker (by toastsite/wsgi.py), each with its own exporter
# thread and service.instance.id.
preload_app = False

# An access line for every request, in the site's log format: with its trace id.
logconfig_dict = logs.config(level="INFO")
