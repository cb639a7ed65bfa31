"""Django settings, read from the environment (DESIGN.md section 7; README "Configuration")."""

import os
from datetime import timedelta
from pathlib import Path

from csp.constants import NONE, SELF

from common.env import (
    database_config,
    env_bool,
    env_int,
    env_list,
    load_or_create_secret_key,
    parse_media_roots,
    time_zone,
)
from mediaserver import private_files
from mediaserver.proxies import trusted_proxy_networks
from scanner.conf import ScannerConfig

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("MEDIASERVER_VAR_DIR") or BASE_DIR / "var")
VAR_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or load_or_create_secret_key(VAR_DIR / "secret_key")
DEBUG = env_bool(os.environ, "DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_list(os.environ, "DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1")
CSRF_TRUSTED_ORIGINS = env_list(os.environ, "DJANGO_CSRF_TRUSTED_ORIGINS", "")
HTTPS = env_bool(os.environ, "DJANGO_HTTPS", False)  # behind an HTTPS reverse proxy: see below

DATABASES = {"default": database_config(os.environ.get("DATABASE_URL"), VAR_DIR)}
private_files.tighten(VAR_DIR, DATABASES["default"]["NAME"] if DATABASES["default"]["ENGINE"].endswith("sqlite3")
                      else None)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Folders that libraries must lie inside; empty means any readable folder.
MEDIA_ROOTS = parse_media_roots(os.environ.get("MEDIA_ROOTS"))
SCANNER = ScannerConfig.from_env(os.environ)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "csp",
    "mediaserver",
    "libraries",
    "scanner",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "mediaserver.api_time.ApiInUtcMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_permissions_policy.PermissionsPolicyMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes asks: it answers locked-out logins
]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a locked-out user before checking passwords
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "mediaserver.urls"
WSGI_APPLICATION = "mediaserver.wsgi.application"

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
            ],
        },
    },
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = time_zone(os.environ)  # what pages show; the API answers in UTC (mediaserver/api_time.py)
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)  # whitenoise warns about a missing one before collectstatic
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
# Before the first collectstatic (tests, runserver) fall back to unhashed names.
WHITENOISE_MANIFEST_STRICT = False

# Failed logins: django-axes locks one user out from one address after LOGIN_FAILURE_LIMIT
# failures, for LOGIN_COOLOFF_MINUTES: passwords at the login pages, current passwords in the
# password-change form, and wrong API tokens (counted as the user "(API token)";
# mediaserver/login_guard.py). Behind DJANGO_TRUSTED_PROXIES reverse proxies (one by default
# with DJANGO_HTTPS) the address is the one the proxy saw, read from X-Forwarded-For only when the
# request came from one of DJANGO_TRUSTED_PROXY_ADDRESSES (mediaserver/client_address.py).
TRUSTED_PROXIES = env_int(os.environ, "DJANGO_TRUSTED_PROXIES", 1 if HTTPS else 0)
TRUSTED_PROXY_NETWORKS = trusted_proxy_networks(os.environ)
AXES_FAILURE_LIMIT = env_int(os.environ, "LOGIN_FAILURE_LIMIT", 10, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int(os.environ, "LOGIN_COOLOFF_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_CLIENT_IP_CALLABLE = "mediaserver.client_address.client_address"
AXES_RESET_ON_SUCCESS = True
AXES_HTTP_RESPONSE_CODE = 429
AXES_VERBOSE = False
AXES_COOLOFF_MESSAGE = (f"Too many failed logins for this user from your address: try again in "
                        f"{AXES_COOLOFF_TIME.total_seconds() / 60:.0f} minutes, or ask the administrator to unlock it.")
# The anonymous throttle's counts, shared by the server's worker processes (one host's).
CACHES = {"default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
                      "LOCATION": str(VAR_DIR / "cache")}}

REST_FRAMEWORK = {
    # Token first: an anonymous API client gets 401 with a WWW-Authenticate header.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "mediaserver.login_guard.ThrottledTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["mediaserver.api_policy.StaffWithModelPermissions"],
    # JSON in and out, nothing else: no browsable API pages (their inline styles break the CSP,
    # and errors would come back as HTML), no form or multipart bodies (no limit on file parts).
    "DEFAULT_PARSER_CLASSES": ["mediaserver.api_policy.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # Anonymous callers reach nothing but the health check (the rest is 401 before any work):
    # this keeps them from hammering it.
    "DEFAULT_THROTTLE_CLASSES": ["mediaserver.throttling.AnonRateThrottle"],
    # "changes": notifications of changed paths, per user (scanner/views.py ChangesView): a
    # season pack imported by Sonarr is a few dozen calls; a flood is cut here, and past 1,000
    # places a library's changes are one change of the whole library anyway (jobs/pending.py).
    "DEFAULT_THROTTLE_RATES": {"anon": "120/min", "changes": "600/min"},
    # Throttles tell callers apart by mediaserver.client_address (mediaserver/throttling.py).
    # DRF's own reading of X-Forwarded-For believes any peer: 0 keeps any throttle that still
    # uses it on REMOTE_ADDR.
    "NUM_PROXIES": 0,
    "DEFAULT_PAGINATION_CLASS": "mediaserver.api_policy.Pagination",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "mediaserver.api_schema.AutoSchema",  # with every error each operation answers
    "EXCEPTION_HANDLER": "mediaserver.api_errors.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Mediaserver API",
    "DESCRIPTION": "Libraries, their catalogue, and library-based scan control.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SWAGGER_UI_DIST": "SIDECAR",  # assets served locally by whitenoise: no CDN
    "SWAGGER_UI_FAVICON_HREF": "/static/favicon.svg",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"

# Mail, for password resets only: most home servers have no mail server, so resets exist only
# when EMAIL_HOST is set (mediaserver/urls.py).
EMAIL_HOST = os.environ.get("EMAIL_HOST", "")
EMAIL_PORT = env_int(os.environ, "EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool(os.environ, "EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "mediaserver@localhost")

# Behind an HTTPS reverse proxy, DJANGO_HTTPS=true turns on what `check --deploy` asks for.
# Off by default: a home server is usually reached over plain HTTP on the LAN.
SECURE_CONTENT_TYPE_NOSNIFF = True
# Every page's scripts and styles are files served by us: no inline script or style, no other
# origin. An injected <script> or style attribute would not run.
CONTENT_SECURITY_POLICY = {"DIRECTIVES": {
    "default-src": [SELF], "script-src": [SELF], "style-src": [SELF], "img-src": [SELF, "data:"],
    "font-src": [SELF], "connect-src": [SELF], "object-src": [NONE], "base-uri": [NONE],
    "form-action": [SELF], "frame-ancestors": [NONE],
}}
# No page needs the browser's sensors, camera, microphone, location or payments.
PERMISSIONS_POLICY: dict[str, list[str]] = {
    # Only features Chromium knows: an unknown one is a console warning on every page.
    feature: [] for feature in ("accelerometer", "camera", "display-capture", "geolocation", "gyroscope",
                                "magnetometer", "microphone", "midi", "payment", "usb", "browsing-topics")
}
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
if HTTPS:
    # No SECURE_PROXY_SSL_HEADER: Django would believe X-Forwarded-Proto from any peer. gunicorn
    # sets the scheme from it for requests from DJANGO_TRUSTED_PROXY_ADDRESSES only (gunicorn.conf.py).
    SECURE_SSL_REDIRECT = True
    SECURE_REDIRECT_EXEMPT = [r"^api/health/?$"]  # probes talk plain HTTP from inside
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int(os.environ, "DJANGO_HSTS_SECONDS", 31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool(os.environ, "DJANGO_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool(os.environ, "DJANGO_HSTS_PRELOAD", True)

LOG_LEVEL = os.environ.get("DJANGO_LOG_LEVEL", "INFO").upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"keyvalue": {"()": "mediaserver.logging.KeyValueFormatter"}},
    "filters": {"one_line_warning": {"()": "mediaserver.logging.OneLineWarning"},
                "duty_still_running": {"()": "mediaserver.logging.DutyStillRunning"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "keyvalue"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"level": "INFO"},
        "django.security.DisallowedHost": {"filters": ["one_line_warning"]},
        "django.security.RequestDataTooBig": {"filters": ["one_line_warning"]},
        "apscheduler": {"level": "WARNING"},
        "apscheduler.scheduler": {"filters": ["duty_still_running"]},
        "axes": {"level": "ERROR"},  # mediaserver.auth writes the one line per failure
    },
}
