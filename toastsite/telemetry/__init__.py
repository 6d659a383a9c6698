"""Tracing: everything toastsite does with OpenTelemetry, in one room.

- setup.py: `setup()`, called once per serving process from wsgi.py and asgi.py;
- http.py: names and fixes for the spans of HTTP in (Django) and out (requests);
- sql.py: one span per SQL statement of the ORM;
- exporters.py: Zipkin JSON with remote endpoints, and one warning a minute
  when the backend is away;
- logs.py: trace ids in log lines;
- links.py: a page's trace id and its link into the Zipkin UI.
"""
