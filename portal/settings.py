"""Gatehouse settings: everything that varies between machines comes from the environment.

With no environment at all this is production-shaped: DEBUG is off, so a
SECRET_KEY, ALLOWED_HOSTS and PORTAL_BASE_URL must be set. Development mode is
asked for explicitly with DEBUG=true (the Makefile does, for `make run`, `make
test` and `make lint`; so does the test settings module, tests/settings.py):
a development portal on SQLite with Celery tasks run in-process. Production
also sets DATABASE_URL and REDIS_URL (see README).
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

from portal.env import REQUIRED, env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("GATEHOUSE_VAR_DIR", str(BASE_DIR / "var")))

# Off unless asked for: a forgotten variable must not put the debug page (with its
# tracebacks and local variables) in front of strangers.
DEBUG = env_bool("DEBUG", False)

if DEBUG:
    SECRET_KEY = env_str("SECRET_KEY", "dev-only-insecure-key-do-not-use-in-production-0123456789")
else:
    SECRET_KEY = env_str("SECRET_KEY")
    if len(SECRET_KEY) < 50:
        raise ImproperlyConfigured("SECRET_KEY must be at least 50 characters in production.")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "portal",
    "batches",
    "signoffs",
    "tokens",
    "notifications",
    "reviews",
    "metrics",
    "demo",
    # Login throttling: failed sign-ins per account and per address (portal/throttle.py).
    "axes",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # After a successful write, this browser reads the live version afresh for a moment.
    "portal.middleware.WroteCookieMiddleware",
    # Before any process_view (CSRF parses the body there): size and sign-in checks from the headers.
    "portal.middleware.RequestBodyGuardMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "portal.middleware.DatabaseUnavailableMiddleware",
    # Last, as django-axes asks: answers a locked-out sign-in with the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "portal.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "demo.context_processors.demo",
            ],
        },
    },
]

WSGI_APPLICATION = "portal.wsgi.application"

# Database: DATABASE_URL, or the embedded SQLite file.
_database_url = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'gatehouse.sqlite3'}")
_postgres = _database_url.startswith(("postgres://", "postgresql://", "pgsql://"))
# Opening a PostgreSQL connection per request cost 5x the throughput of a trivial view
# (measured: 189 req/s with a new connection each time, 949 with reuse). So on
# PostgreSQL each web worker and each Celery worker keeps its connection for up to
# DATABASE_CONN_MAX_AGE seconds, checked before reuse (CONN_HEALTH_CHECKS), so a
# restarted database costs a reconnect, never a failed request. Gunicorn's sync
# workers serve one request at a time: one connection per worker (see README).
DATABASES = {
    "default": dj_database_url.parse(
        _database_url,
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 600 if _postgres else 0, minimum=0),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded default keeps its file under var/; make sure the folder exists.
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # WAL lets the web server and the in-process sync loop read while one writes;
    # IMMEDIATE transactions make SQLite take the write lock up front so two
    # writers queue instead of failing with "database is locked" mid-transaction.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"transaction_mode": "IMMEDIATE", "timeout": 20, "init_command": "PRAGMA journal_mode=WAL;"}
    )
# Under ASGI (the production web process, portal/asgi.py sets DATABASE_POOL) Django runs each
# request's sync code in a thread of its own that ends with the request, and connections are
# per thread: a kept connection would be a new connection per request, left open until the
# thread is collected (measured: 95 connections after 4 s of /readyz/, then "too many
# clients"). So there, each process borrows from a pool (psycopg_pool, Django's
# OPTIONS["pool"]) of at most DATABASE_POOL_MAX_SIZE connections, returned at each request's end:
# enough for its WEB_THREADS, its version watchers and the streams' opening checks.
DATABASE_POOL = _postgres and env_bool("DATABASE_POOL", False)
if DATABASE_POOL:
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # the pool keeps them; Django refuses both
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": env_int("DATABASE_POOL_MAX_SIZE", 6, minimum=1),
        "timeout": 10,  # seconds a request waits for a free connection before it fails
    }
# Threads per web process for the ordinary (sync) views under ASGI (portal/serving.py): with the GIL
# more only queue for it, but a request waiting on the database or Redis leaves it to another.
WEB_THREADS = env_int("WEB_THREADS", 4, minimum=1)
TEST_DATABASE_NAME = env_str("TEST_DATABASE_NAME", None)
if TEST_DATABASE_NAME:
    DATABASES["default"]["TEST"] = {"NAME": TEST_DATABASE_NAME}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

AUTHENTICATION_BACKENDS = [
    # First: refuses a locked-out account or address before the password is even hashed.
    "portal.throttle.LoginThrottleBackend",
    # Django's ModelBackend, with each request's user and roles kept in the cache (portal/auth.py).
    "portal.auth.CachedModelBackend",
]
# Login throttling (django-axes): per account and, separately, per address; the lockout expires.
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
LOGIN_LOCKOUT_MINUTES = env_int("LOGIN_LOCKOUT_MINUTES", 15, minimum=1)
AXES_FAILURE_LIMIT = LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(minutes=LOGIN_LOCKOUT_MINUTES)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "portal.throttle.lockout_response"
AXES_CLIENT_IP_CALLABLE = "portal.throttle.client_ip"
AXES_VERBOSE = False

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-gb"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]

# Evidence lives in private storage: there is deliberately no MEDIA_URL route.
# Files are only ever served through signoffs' permission-checking view.
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "private-media")))
EVIDENCE_S3_BUCKET = env_str("EVIDENCE_S3_BUCKET", None)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "evidence": (
        {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": EVIDENCE_S3_BUCKET,
                "endpoint_url": env_str("EVIDENCE_S3_ENDPOINT_URL", None),
                "default_acl": "private",
                "querystring_auth": True,
                "file_overwrite": False,
            },
        }
        if EVIDENCE_S3_BUCKET
        else {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": MEDIA_ROOT / "evidence", "base_url": None},
        }
    ),
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
EVIDENCE_MAX_BYTES = env_int("EVIDENCE_MAX_BYTES", 15 * 1024 * 1024, minimum=1)
# Decompression-bomb guard: an image whose header declares more pixels than this
# is refused before decoding (also Pillow's own MAX_IMAGE_PIXELS, set at startup).
EVIDENCE_MAX_PIXELS = env_int("EVIDENCE_MAX_PIXELS", 50_000_000, minimum=1)
# Memory one decoded screenshot may take (4 bytes a pixel), checked from the header before decoding:
# 128 MiB is a 32-megapixel image, four 4K screens' worth.
EVIDENCE_MAX_DECODED_BYTES = env_int("EVIDENCE_MAX_DECODED_BYTES", 128 * 1024 * 1024, minimum=1024 * 1024)
# Uploads larger than this spill to a temporary file instead of memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 512 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
# The largest request body each endpoint accepts (by URL name), refused from its Content-Length before
# anything is read or spooled (portal.middleware). Every other endpoint: REQUEST_BODY_MAX_BYTES.
_MULTIPART_SLACK = 64 * 1024  # the form's other fields and the multipart framing around the file
REQUEST_BODY_MAX_BYTES = env_int("REQUEST_BODY_MAX_BYTES", 100 * 1024, minimum=1024)
REQUEST_BODY_LIMITS = {
    "login": 16 * 1024,
    "admin:login": 16 * 1024,
    # A plan file may be 1 MB (pages.views.plans.PLAN_MAX_BYTES); its confirmation carries it signed, compressed.
    "pages:plan-import": 1024 * 1024 + _MULTIPART_SLACK,
    "pages:evidence-upload": EVIDENCE_MAX_BYTES + _MULTIPART_SLACK,
    # GitHub caps webhook payloads at 25 MB.
    "batches:github-webhook": 25 * 1024 * 1024,
}
# The only endpoints a stranger may send a body to: the sign-in forms and the signed webhook.
ANONYMOUS_BODY_URL_NAMES = frozenset({"login", "admin:login", "batches:github-webhook"})
# URL namespaces that authenticate each request by a token, not the session (their own 401s apply).
TOKEN_AUTHENTICATED_NAMESPACES = frozenset({"api"})

# Celery: with no broker configured, tasks run eagerly in-process (embedded default).
REDIS_URL = env_str("REDIS_URL", None)
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL)
# Under pytest (which sets PYTEST_VERSION) tasks run in-process too, even when the
# shell points REDIS_URL at a broker; the worker tests start a real worker themselves.
CELERY_TASK_ALWAYS_EAGER = env_bool(
    "CELERY_TASK_ALWAYS_EAGER", CELERY_BROKER_URL is None or "PYTEST_VERSION" in os.environ
)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Celery's consumer, except that a Redis outage mid-task does not end the worker, and that it tries to
# reconnect every second, for as long as Redis is away (portal/worker.py).
CELERY_WORKER_CONSUMER = "portal.worker:Consumer"
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
GATE_SYNC_INTERVAL_SECONDS = env_int("GATE_SYNC_INTERVAL_SECONDS", 60, minimum=5)
# Adaptive polling (batches/polling.py): each cycle beat queues the batches that are due, spread over
# the cycle. Webhooks carry the news; the poll reconciles. A batch changed within GATE_SYNC_HOT_MINUTES
# (a gate event, a push, a merge, a webhook naming its PRs) is polled every cycle; a quiet one once per
# GATE_SYNC_QUIET_MINUTES; approved batches never. At most GATE_SYNC_MAX_PRS_PER_CYCLE PRs a cycle
# (GitHub's secondary limit is 900 requests a minute per endpoint, and each PR costs one on each of
# three or four endpoints). Polling waits while fewer than GITHUB_RATE_LIMIT_RESERVE requests remain
# of the hourly limit (what GitHub's headers last said), keeping those for webhooks and people.
GATE_SYNC_HOT_MINUTES = env_int("GATE_SYNC_HOT_MINUTES", 10, minimum=1)
GATE_SYNC_QUIET_MINUTES = env_int("GATE_SYNC_QUIET_MINUTES", 30, minimum=1)
GATE_SYNC_MAX_PRS_PER_CYCLE = env_int("GATE_SYNC_MAX_PRS_PER_CYCLE", 270, minimum=1)
GITHUB_RATE_LIMIT_RESERVE = env_int("GITHUB_RATE_LIMIT_RESERVE", 500, minimum=0)
# Beat queues the due batches; GitHub webhooks make changes show up sooner.
CELERY_BEAT_SCHEDULE: dict = {
    "sync-all-gates": {"task": "batches.tasks.sync_all", "schedule": float(GATE_SYNC_INTERVAL_SECONDS)},
    # The webhook outbox and missing thumbnails: what was accepted while the broker was down catches up.
    "drain-webhook-outbox": {"task": "batches.tasks.drain_webhook_outbox", "schedule": 2.0},
    "thumbnails-catch-up": {"task": "signoffs.tasks.thumbnails_catch_up_task", "schedule": 60.0},
}
# With the broker down, a request that queues work must not hang on it: give up quickly (the outbox,
# the catch-up passes and on_commit(robust=True) make sure nothing is lost by giving up).
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": 2, "socket_timeout": 5}

# Open pages poll every second; polls within this many milliseconds share one reading of
# their plan's version (pages/live.py), so 200 open pages cost a few queries a second.
LIVE_VERSION_CACHE_MS = env_int("LIVE_VERSION_CACHE_MS", 250, minimum=0)
# A whole live page is rendered once per version and role set and kept this long (pages/live.py);
# the bound is for what moves with the clock alone ("3 minutes ago"). 0 turns it off.
PAGE_CACHE_SECONDS = env_int("PAGE_CACHE_SECONDS", 60, minimum=0)
# Each request's user and roles come from the cache (portal/auth.py), forgotten on every ORM
# change to the user or their groups; this bounds a change made without signals. 0 turns it off.
USER_CACHE_SECONDS = env_int("USER_CACHE_SECONDS", 30, minimum=0)
# Sessions are read from the cache and written through to the database: a poll costs no
# session query, and a cache that is lost or down loses no session.
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"

# The cache only makes things faster (and counts the API's rate limit): with Redis away, pages,
# ticks, uploads and webhooks go on without it (portal/cache.py), and a Redis that stops answering
# costs at most these timeouts, not a hung worker. Sessions are written through to the database
# (cached_db; its cache calls miss or are skipped like any other), never kept in Redis alone.
CACHE_SOCKET_TIMEOUT_SECONDS = 1
CACHES = {
    "default": (
        {
            "BACKEND": "portal.cache.OutageTolerantRedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {
                "socket_connect_timeout": CACHE_SOCKET_TIMEOUT_SECONDS,
                "socket_timeout": CACHE_SOCKET_TIMEOUT_SECONDS,
            },
        }
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    ),
    # Each process's own copies of what pages.live keeps by version (rendered pages and
    # regions, version readings), in front of Redis: a page view or a poll saves a round trip.
    "local": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "gatehouse-local",
        "OPTIONS": {"MAX_ENTRIES": env_int("LOCAL_CACHE_ENTRIES", 300, minimum=10)},
    },
}

# External providers. Base URLs are settings so tests and self-hosted users can
# point them elsewhere (GitHub Enterprise, self-hosted Sentry).
GITHUB_API_URL = env_str("GITHUB_API_URL", "https://api.github.com")
GITHUB_TOKEN = env_str("GITHUB_TOKEN", None)
GITHUB_WEBHOOK_SECRET = env_str("GITHUB_WEBHOOK_SECRET", None)
# Where people see pull requests (the host of the URLs pasted to link them). By
# default github.com, or the GitHub Enterprise host that GITHUB_API_URL names.
GITHUB_WEB_URL = env_str("GITHUB_WEB_URL", None)
RENDER_API_URL = env_str("RENDER_API_URL", "https://api.render.com/v1")
RENDER_API_KEY = env_str("RENDER_API_KEY", None)
SENTRY_URL = env_str("SENTRY_URL", "https://sentry.io")
SENTRY_AUTH_TOKEN = env_str("SENTRY_AUTH_TOKEN", None)
PROVIDER_TIMEOUT_SECONDS = env_int("PROVIDER_TIMEOUT_SECONDS", 10, minimum=1)
# The demo's simulated GitHub, Render and Sentry (runportal and setup_demo, DEBUG only): unset, they
# run when none of GITHUB_TOKEN, RENDER_API_KEY and SENTRY_AUTH_TOKEN is set; true/false forces it.
DEMO_PROVIDERS = env_bool("DEMO_PROVIDERS", None)

# Security. Production (DEBUG=false) passes `manage.py check --deploy` cleanly.
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # htmx reads the token from the page, not the cookie
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# Content-Security-Policy on every response (Django's own middleware). No inline script anywhere:
# the pages load htmx and static/js/gatehouse.js from 'self', and htmx is told (the htmx-config meta
# tag in base.html) not to inject its indicator <style> nor to eval. Style attributes stay allowed
# (style-src-attr): the gate bar sizes its segments with `style="width: N%"`, which cannot run code.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "style-src-attr": [CSP.UNSAFE_INLINE],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}
# What sensitive_variables/sensitive_post_parameters mark is hidden from error reports, debug pages included.
DEFAULT_EXCEPTION_REPORTER_FILTER = "portal.debug.AlwaysSafeExceptionReporterFilter"
# Only a proxy that sets X-Forwarded-Proto itself (and strips what clients send) may be believed;
# otherwise any client could claim https. Render's and Heroku's routers do: set it true there.
SECURE_PROXY_SSL_HEADER_TRUSTED = env_bool("SECURE_PROXY_SSL_HEADER_TRUSTED", False)
if SECURE_PROXY_SSL_HEADER_TRUSTED:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000, minimum=0)
    # Both reach beyond this portal (every subdomain; browsers' built-in lists, hard to leave), so
    # they are the domain owner's decision: off unless asked for.
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
    # check --deploy warns when either is off; here off is the considered default, not an oversight.
    SILENCED_SYSTEM_CHECKS = [
        *([] if SECURE_HSTS_INCLUDE_SUBDOMAINS else ["security.W005"]),
        *([] if SECURE_HSTS_PRELOAD else ["security.W021"]),
    ]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    # httpx logs every request at INFO; the sync logs what matters.
    "loggers": {"django.db.backends": {"level": "WARNING"}, "httpx": {"level": "WARNING"}},
}

SENTRY_DSN = env_str("SENTRY_DSN", None)
if SENTRY_DSN:
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration

    sentry_sdk.init(
        dsn=SENTRY_DSN,
        integrations=[DjangoIntegration(), CeleryIntegration()],
        environment=env_str("SENTRY_ENVIRONMENT", "production" if not DEBUG else "development"),
        traces_sample_rate=float(env_str("SENTRY_TRACES_SAMPLE_RATE", "0")),
        send_default_pii=False,
    )

# Notifications and the JSON API (issue 11).
# Links in notifications are absolute: the portal's address as people reach it. In DEBUG it defaults
# to the first ALLOWED_HOSTS on `make run`'s port; production must say it.
_first_host = next((h for h in ALLOWED_HOSTS if h not in ("*",) and not h.startswith(".")), "localhost")
PORTAL_BASE_URL = env_str(
    "PORTAL_BASE_URL", f"http://{_first_host}:{env_int('PORT', 8000, minimum=1)}" if DEBUG else REQUIRED
).rstrip("/")
if not PORTAL_BASE_URL.startswith(("http://", "https://")):
    raise ImproperlyConfigured(f"PORTAL_BASE_URL must start with http:// or https://, not {PORTAL_BASE_URL!r}.")
# Slack webhooks and email are sent by Celery tasks; a channel that does not answer within this
# long counts as failing (and is retried with backoff), so it never holds up a worker for long.
# Escaped defects: Sentry issues first seen within this many days after a batch's deploy.
METRICS_ESCAPE_WINDOW_DAYS = env_int("METRICS_ESCAPE_WINDOW_DAYS", 7, minimum=1)
NOTIFICATION_TIMEOUT_SECONDS = env_int("NOTIFICATION_TIMEOUT_SECONDS", 5, minimum=1)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "gatehouse@localhost")
# Email goes through the SMTP server EMAIL_HOST names (Django's classic defaults: localhost:25, no TLS).
# In DEBUG with no EMAIL_HOST, messages are printed to the console instead.
_smtp_host = env_str("EMAIL_HOST", None if DEBUG else "localhost")
MAILERS = {
    "default": (
        {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {
                "host": _smtp_host,
                "port": env_int("EMAIL_PORT", 25, minimum=1),
                "username": env_str("EMAIL_HOST_USER", ""),
                "password": env_str("EMAIL_HOST_PASSWORD", ""),
                "use_tls": env_bool("EMAIL_USE_TLS", False),
                "timeout": NOTIFICATION_TIMEOUT_SECONDS,
            },
        }
        if _smtp_host
        else {"BACKEND": "django.core.mail.backends.console.EmailBackend"}
    )
}
# Beat looks for gates stale past their plan's threshold (and retries due deliveries) this often.
NOTIFICATION_CHECK_INTERVAL_SECONDS = env_int("NOTIFICATION_CHECK_INTERVAL_SECONDS", 60, minimum=5)
CELERY_BEAT_SCHEDULE["notifications-periodic"] = {
    "task": "notifications.tasks.notifications_periodic_task",
    "schedule": float(NOTIFICATION_CHECK_INTERVAL_SECONDS),
}
# Escape windows still open and metrics a provider error left incomplete are recomputed hourly.
CELERY_BEAT_SCHEDULE["metrics-periodic"] = {"task": "metrics.tasks.metrics_periodic_task", "schedule": 3600.0}
# Requests per token per minute on /api/; past it the API answers 429 with Retry-After.
API_RATE_LIMIT_PER_MINUTE = env_int("API_RATE_LIMIT_PER_MINUTE", 300, minimum=1)

# The plan our first users run; `setup_demo` imports it. In this repository's
# checkout the shared plans sit beside the project; a copy ships in docs/.
SAMPLE_PLAN_PATH = Path(env_str("SAMPLE_PLAN_PATH", str(BASE_DIR / "docs" / "batch-plan-2025-10.md")))
