"""Signet settings: one module, configured from the environment (django-environ).

Without any configuration the site runs on embedded defaults (SQLite under var/, Celery over kombu's filesystem
transport) so that `make demo` needs nothing but Python. Production sets DATABASE_URL, REDIS_URL, SECRET_KEY,
ALLOWED_HOSTS and FIELD_ENCRYPTION_KEYS; `.env.example` lists every variable.
"""
from pathlib import Path

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env")  # optional; real environment variables win

# Runtime files of the embedded defaults: the SQLite database, the filesystem broker, beat's schedule, media.
VAR_DIR = Path(env("VAR_DIR", default=str(BASE_DIR / "var")))

# --- Core -------------------------------------------------------------------------------------------------------
DEV_SECRET_KEY = "dev-insecure-signet-secret-key-change-me"
DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env("SECRET_KEY", default=DEV_SECRET_KEY)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
LOCAL_HOSTS = {"localhost", "127.0.0.1", "[::1]", "testserver", "0.0.0.0", "web"}
# The public address of the portal, used for absolute links (emails, OAuth redirect URIs, images in signatures).
SITE_URL = env("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")

if not DEBUG and SECRET_KEY == DEV_SECRET_KEY:
    raise ImproperlyConfigured("Set SECRET_KEY: the development key may only be used with DEBUG=True.")
if DEBUG and not set(ALLOWED_HOSTS) <= LOCAL_HOSTS:
    # DEBUG pages leak settings and tracebacks; refuse to serve them on a public host.
    raise ImproperlyConfigured("DEBUG=True is only allowed when ALLOWED_HOSTS lists local hosts.")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "portal",
    "tenants",
    "directory_sync",
    "signatures",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

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
                "tenants.context_processors.organizations",
            ],
        },
    },
]

# --- Data -------------------------------------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    # The demo runs web, worker and beat against one SQLite file: wait for locks instead of failing at once.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Auth -------------------------------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = ["tenants.auth.EmailBackend"]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
INVITATION_MAX_AGE_DAYS = env.int("INVITATION_MAX_AGE_DAYS", default=7)
PASSWORD_HASHERS = env.list("PASSWORD_HASHERS", default=[
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
])

# --- Email ------------------------------------------------------------------------------------------------------
# EMAIL_URL such as smtp+tls://user:password@smtp.example.com:587; the default prints mail to the console.
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Signet <signet@localhost>")

# --- Microsoft Entra ID -----------------------------------------------------------------------------------------
# The portal's own multi-tenant app registration, used by the admin-consent link flow; empty = that flow is off.
ENTRA_CLIENT_ID = env("ENTRA_CLIENT_ID", default="")
ENTRA_CLIENT_SECRET = env("ENTRA_CLIENT_SECRET", default="")
# The "custom" cloud: any Microsoft-compatible endpoint (the emulator in the demo and the tests).
ENTRA_CUSTOM_LOGIN_URL = env("ENTRA_CUSTOM_LOGIN_URL", default="")
ENTRA_CUSTOM_GRAPH_URL = env("ENTRA_CUSTOM_GRAPH_URL", default="")
ENTRA_CUSTOM_CA_BUNDLE = env("ENTRA_CUSTOM_CA_BUNDLE", default="")
# An outbound proxy for every call to Microsoft (sign-in and Graph), e.g. http://proxy.corp.example:3128. Those
# sessions ignore HTTPS_PROXY and the other environment variables (so that REQUESTS_CA_BUNDLE cannot replace the
# CA they trust, graph-facts 2.5): this setting is how a proxy is given to them.
OUTBOUND_PROXY = env("OUTBOUND_PROXY", default="")
# Where browsers are sent for consent and sign-in on the custom cloud; the emulator serves those pages over plain
# HTTP on localhost so that no certificate warning blocks a demo user. Defaults to ENTRA_CUSTOM_LOGIN_URL.
ENTRA_CUSTOM_BROWSER_LOGIN_URL = env("ENTRA_CUSTOM_BROWSER_LOGIN_URL", default="")
# Fernet keys (newest first) that encrypt client secrets and private keys at rest.
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[])
if not FIELD_ENCRYPTION_KEYS and not DEBUG:
    raise ImproperlyConfigured("Set FIELD_ENCRYPTION_KEYS (generate one with `python manage.py generate_key`).")

# --- Celery -----------------------------------------------------------------------------------------------------
# Embedded default: kombu's filesystem transport, so a real worker and beat run without Redis.
CELERY_BROKER_URL = REDIS_URL or "filesystem://"
if not REDIS_URL:
    _broker_dir = VAR_DIR / "celery" / "broker"
    for _folder in ("broker", "control"):  # the transport expects its folders to exist
        (VAR_DIR / "celery" / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir),
        "data_folder_out": str(_broker_dir),
        "processed_folder": str(VAR_DIR / "celery" / "processed"),
        "control_folder": str(VAR_DIR / "celery" / "control"),
        "store_processed": False,
    }
else:
    # A sync may run longer than Redis' default one-hour visibility timeout; the link claim keeps a redelivered
    # task from running it twice, and this keeps redelivery rare.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 4 * 3600}
CELERY_TASK_DEFAULT_QUEUE = env("CELERY_QUEUE", default="celery")
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=3 * 3600)
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT - 300
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# Beat's heartbeat shows on the admin's dashboard that the scheduler runs; tests shorten the interval.
CELERY_BEAT_SCHEDULE = {
    "heartbeat": {"task": "portal.tasks.record_heartbeat", "schedule": env.float("HEARTBEAT_INTERVAL", default=60.0)},
    "warn-expiring-secrets": {"task": "tenants.tasks.warn_expiring_secrets", "schedule": crontab(hour=7, minute=0)},
    # Every minute: start the syncs that are due (directory_sync/scheduling.py). `expires` drops ticks that piled
    # up while no worker ran, instead of replaying them all at once.
    "dispatch-due-syncs": {"task": "directory_sync.tasks.dispatch_due_syncs", "schedule": 60.0,
                           "options": {"expires": 55}},
    "purge-removed-employees": {"task": "directory_sync.tasks.purge_removed_employees",
                                "schedule": crontab(hour=3, minute=30)},
}

# --- Static files, i18n -----------------------------------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": env(
            "STATICFILES_BACKEND",
            default="whitenoise.storage.CompressedManifestStaticFilesStorage"
            if not DEBUG
            else "django.contrib.staticfiles.storage.StaticFilesStorage",
        )
    },
}
MEDIA_ROOT = env("MEDIA_ROOT", default=str(VAR_DIR / "media"))
LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Security (production defaults; all off under DEBUG so http://127.0.0.1 works) -----------------------------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# The health check is plain HTTP inside the compose network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

# --- Logging: one line per event, with organisation and run ids where the code passes them ---------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "portal.logging.ContextFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s %(context)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["context"]}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
