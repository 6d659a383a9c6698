"""Settings for toastsite, all read from the environment here, but for the
tutorial's scenario knobs, which live with the scenarios (apps/scenarios/config.py).

See .env.example for every variable and its default.
"""

import ipaddress
import os
import re
import tomllib
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from toastsite.env import env_bool, env_list, env_number
from toastsite.telemetry import logs

BASE_DIR = Path(__file__).resolve().parent.parent
# The one place the version is written down; spans carry it as service.version.
VERSION = tomllib.loads((BASE_DIR / "pyproject.toml").read_text())["project"]["version"]

DEBUG = env_bool("DJANGO_DEBUG", True)

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("Set DJANGO_SECRET_KEY when DJANGO_DEBUG is off.")
    SECRET_KEY = "django-insecure-development-only"

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")

# Behind TLS (a proxy that terminates HTTPS and sets X-Forwarded-Proto): redirect
# plain HTTP, send HSTS, and keep the session and CSRF cookies off plain HTTP.
HTTPS = env_bool("DJANGO_HTTPS", False)
if HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    SECURE_HSTS_SECONDS = 60 * 60 * 24 * 365
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

# One codebase, three ways to run it:
# - monolith: the pages, the API and the admin in one process (the default);
# - frontend: the pages only, with no database; they reach the API at TOAST_API_URL;
# - api: the API and the admin, which own the database.
ROLE = os.environ.get("TOASTSITE_ROLE", "monolith")
if ROLE not in {"monolith", "frontend", "api"}:
    raise ImproperlyConfigured("TOASTSITE_ROLE must be monolith, frontend or api.")
SERVES_PAGES = ROLE in {"monolith", "frontend"}
SERVES_API = ROLE in {"monolith", "api"}

INSTALLED_APPS = [
    # The project itself: site-wide templates, static files and commands. First,
    # so that its runserver replaces the one of django.contrib.staticfiles.
    "toastsite",
    "apps.pages",
    "apps.toasts",
    "apps.scenarios",
    "apps.visitors",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "toastsite.middleware.SafeAppendSlashMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "apps.pages.middleware.ToastServiceErrorMiddleware",
]
if SERVES_API:
    MIDDLEWARE.append("apps.scenarios.api.ScenarioHeaderMiddleware")

ROOT_URLCONF = "toastsite.urls"
WSGI_APPLICATION = "toastsite.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "toastsite.telemetry.links.trace_link",
                "apps.scenarios.context_processors.banner",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=60,
        # A kept connection is checked before reuse, so the site recovers by
        # itself when the database comes back after an outage.
        conn_health_checks=True,
    )
}
if ROLE == "frontend":
    DATABASES = {}  # Django's dummy backend: any query would raise
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": f"django.contrib.auth.password_validation.{name}"}
    for name in (
        "UserAttributeSimilarityValidator",
        "MinimumLengthValidator",
        "CommonPasswordValidator",
        "NumericPasswordValidator",
    )
]

# Request bodies beyond this are refused (400) before anything reads them.
DATA_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024

# Flash messages live in a cookie, so the pages need no database for them.
MESSAGE_STORAGE = "django.contrib.messages.storage.cookie.CookieStorage"

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TZ", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "apps.toasts.exception_handlers.exception_handler",
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.BasicAuthentication",
    ],
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Toast API",
    "DESCRIPTION": "The toast of the day, the week's toasts and their ratings.",
    "VERSION": "1.0.0",
    # Serve Swagger UI from our own static files, not from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # The API answers /api/toasts/today.json too (format suffixes), but each
    # endpoint is listed once, without its {format} twin.
    "PREPROCESSING_HOOKS": ["drf_spectacular.hooks.preprocess_exclude_path_format"],
}

# --- The toast API, as the pages see it -------------------------------------
# Unset (the monolith): the pages call the API on the server they were
# requested from. Set it when the API runs elsewhere, e.g. http://api:8001.
TOAST_API_URL = os.environ.get("TOAST_API_URL", "").rstrip("/")
# (connect, read) timeouts in seconds: a slow API must never hang a page.
TOAST_API_TIMEOUT = (
    env_number("TOAST_API_CONNECT_TIMEOUT", 2.0),
    env_number("TOAST_API_READ_TIMEOUT", 5.0),
)

# --- Limits -------------------------------------------------------------------
# Ratings one visitor may send per minute: the API refuses more with a 429
# (DRF's throttling, apps/toasts/throttling.py), and the pages say so.
RATINGS_PER_MINUTE = env_number("RATINGS_PER_MINUTE", 30, minimum=1)
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {"ratings": f"{RATINGS_PER_MINUTE}/min"}

# Failed logins one address may make (the admin's form, the API's Basic
# authentication) before its logins are refused, even with the right password,
# until ADMIN_LOGIN_LOCKOUT seconds after its last failure (apps/visitors/logins.py).
ADMIN_LOGIN_FAILURES = env_number("ADMIN_LOGIN_FAILURES", 5, minimum=1)
ADMIN_LOGIN_LOCKOUT = env_number("ADMIN_LOGIN_LOCKOUT", 900, minimum=1)  # seconds
AUTHENTICATION_BACKENDS = ["apps.visitors.logins.LimitedModelBackend"]

# Proxies whose X-Forwarded-For is believed about who the visitor is:
# addresses, networks (10.0.0.0/8) or host names. Why and how:
# apps/visitors/proxies.py.
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES", "127.0.0.1,::1")
for _proxy in TRUSTED_PROXIES:
    try:
        ipaddress.ip_network(_proxy, strict=False)
    except ValueError:
        looks_like_an_address = re.fullmatch(r"[\d.:/]+", _proxy)
        if looks_like_an_address or not re.fullmatch(r"[\w-]+(\.[\w-]+)*", _proxy):
            raise ImproperlyConfigured(
                f"TRUSTED_PROXIES: {_proxy!r} is no address, network or host name."
            ) from None

# The limits count in Django's cache. Where there is a database, the cache is a
# table in it, so every process and every container of the API shares one count;
# `migrate` creates it (apps/toasts/migrations/0004_cache_table.py runs
# createcachetable; run that command yourself if you rename the table). The
# frontend counts nothing and keeps Django's default: each process's memory.
if ROLE != "frontend":
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "toastsite_cache",
            # Room for every visitor of a busy minute before Django culls a third.
            "OPTIONS": {"MAX_ENTRIES": 10_000},
        }
    }

# --- Jobs on a queue -------------------------------------------------------------
# Celery (toastsite/celery.py), configured here: every CELERY_* setting below is
# one of Celery's own, lower-cased without the prefix. The one job the site
# needs: a toast's rating summary, recomputed after each rating (apps/toasts/tasks.py).
# Unset, there is no broker: jobs run in-process, at once, inside the request
# that asks for them (Celery's "eager" mode), and the site says so as it starts.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "")
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
if CELERY_TASK_ALWAYS_EAGER:
    CELERY_BROKER_URL = "memory://"  # never reached; else kombu warns that it guesses one
# A publish waits at most this long (seconds) for the broker, twice at most, so
# that a broker that is down or frozen never hangs a page: the rating is saved
# anyway, and the repair job below counts it once the broker is back.
QUEUE_PUBLISH_TIMEOUT = env_number("QUEUE_PUBLISH_TIMEOUT", 1.0, minimum=0.1)
# Seconds a job may stay unacknowledged before Redis hands it to another worker:
# how soon the job of a worker that died is done elsewhere, and longer than any
# job runs (else it runs twice; it is idempotent, but that is waste).
QUEUE_VISIBILITY_TIMEOUT = env_number("QUEUE_VISIBILITY_TIMEOUT", 30, minimum=1)
# Seconds between two runs of the repair job (Celery beat): it recomputes every
# summary that does not match its ratings, e.g. of a rating saved while the
# broker was down. How late a summary may be, at most, after the broker is back.
SUMMARY_REPAIR_INTERVAL = env_number("SUMMARY_REPAIR_INTERVAL", 60.0, minimum=0.5)
# 1: the worker's span starts a trace of its own, with a link to the publish,
# instead of being its child (tutorial step 10, "two shapes").
QUEUE_SPAN_LINKS = env_bool("QUEUE_SPAN_LINKS", False)

# A job is acknowledged when it is done, not when it starts, and a job whose
# worker died is put back (redelivered), never dropped: every job is done at
# least once; the jobs are idempotent, so at least once is once in effect.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# One job at a time per worker process: none waits behind a slow one.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Nobody waits for a job's result: no result backend.
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # Without these, a frozen Redis (it accepts, never answers) hangs a publish.
    "socket_timeout": QUEUE_PUBLISH_TIMEOUT,
    "socket_connect_timeout": QUEUE_PUBLISH_TIMEOUT,
    "visibility_timeout": QUEUE_VISIBILITY_TIMEOUT,
    # Look for jobs past their visibility timeout every second, not every 100 s
    # (kombu's 10 s times 10).
    "unacked_restore_interval": 1,
    "unacked_restore_throttle": 1,
}
CELERY_BEAT_SCHEDULE = {
    "rating-summary-repair": {
        "task": "toasts.rating_summary_repair",
        "schedule": SUMMARY_REPAIR_INTERVAL,
    },
}
# The worker logs in the site's format, with trace ids, not Celery's own.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- Tracing ------------------------------------------------------------------
# Standard OpenTelemetry variables. The SDK itself reads the others:
# OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER(_ARG),
# OTEL_PROPAGATORS and OTEL_EXPORTER_ZIPKIN_ENDPOINT / _TIMEOUT.
OTEL_SDK_DISABLED = env_bool("OTEL_SDK_DISABLED", False)
OTEL_TRACES_EXPORTER = env_list("OTEL_TRACES_EXPORTER", "zipkin")
# OTEL_TRACES_EXPORTER=otlp speaks OTLP over HTTP with protobuf, the one OTLP
# protocol installed; the exporter reads OTEL_EXPORTER_OTLP_ENDPOINT itself.
OTLP_PROTOCOL = (
    os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
    or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
    or "http/protobuf"
)
if "otlp" in OTEL_TRACES_EXPORTER and OTLP_PROTOCOL != "http/protobuf":
    raise ImproperlyConfigured(
        f"OTEL_EXPORTER_OTLP_PROTOCOL is {OTLP_PROTOCOL!r}; toastsite installs OTLP over "
        "HTTP only: use http/protobuf."
    )
# Unset, toastsite reads W3C trace context only, not OpenTelemetry's default
# "tracecontext,baggage": baggage from outside is not ours to trust or pass on.
OTEL_PROPAGATORS = env_list("OTEL_PROPAGATORS", "tracecontext")
# Spans leave in batches every OTEL_BSP_SCHEDULE_DELAY ms. OpenTelemetry's
# default, 5 s, suits production; in development a trace should be in Zipkin
# about as soon as its page is on the screen.
OTEL_BSP_SCHEDULE_DELAY = env_number("OTEL_BSP_SCHEDULE_DELAY", 500 if DEBUG else 5000)
# Requests that make no span: the health check, which a probe calls every few
# seconds, and static files. Under gunicorn WhiteNoise serves those inside the
# middleware that the Django instrumentation puts first (runserver serves them
# before it). Regexes, each searched for in the whole URL, comma-separated.
OTEL_PYTHON_DJANGO_EXCLUDED_URLS = os.environ.get(
    "OTEL_PYTHON_DJANGO_EXCLUDED_URLS", f"/health/,/{STATIC_URL}"
)
# Today's names for HTTP attributes (http.request.method, url.full, ...), not
# the deprecated ones; "http/dup" sends both, "" the old names only.
OTEL_SEMCONV_STABILITY_OPT_IN = os.environ.get("OTEL_SEMCONV_STABILITY_OPT_IN", "http")
SERVICE_NAME = "toastsite" if ROLE == "monolith" else ROLE
# What the pages' calls to the API name as their peer, for Zipkin's
# Dependencies page: the api service, or the monolith itself.
TOAST_API_SERVICE_NAME = "api" if TOAST_API_URL else SERVICE_NAME
DEPLOYMENT_ENVIRONMENT = "development" if DEBUG else "production"
# Where people open a trace: the footer links to <ZIPKIN_UI_URL>/traces/<id>.
ZIPKIN_UI_URL = os.environ.get("ZIPKIN_UI_URL", "http://localhost:9411/zipkin").rstrip("/")

LOGGING = logs.config(level=os.environ.get("DJANGO_LOG_LEVEL", "INFO"))
