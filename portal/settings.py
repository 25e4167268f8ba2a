"""ModelPort settings. Read only from environment variables (see .env.example).

Dev defaults are safe and embedded (SQLite, tasks run in-process, no cluster, no
Prometheus). ``MODELPORT_ENV=production`` refuses to start without the real services.
"""

import ipaddress
import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() == "true":
        return True
    if value.lower() == "false":
        return False
    raise ImproperlyConfigured(f"{name} must be 'true' or 'false', not {value!r}")


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, not {value!r}") from exc


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return float(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a number, not {value!r}") from exc


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


def parse_role_bindings(value: str) -> list[tuple[str, str, str]]:
    """'<ClusterRole>=<namespace>/<ServiceAccount>,...' -> [(role, namespace, name), ...]."""
    bindings = []
    for entry in (item.strip() for item in value.split(",") if item.strip()):
        role, _, subject = entry.partition("=")
        namespace, _, name = subject.partition("/")
        if not (role.strip() and namespace.strip() and name.strip()) or "/" in name:
            raise ImproperlyConfigured(
                f"KUBE_TEAM_ROLE_BINDINGS: {entry!r} is not <ClusterRole>=<namespace>/<ServiceAccount>"
            )
        bindings.append((role.strip(), namespace.strip(), name.strip()))
    return bindings


def env_secret(name: str, default: str = "") -> str:
    """Read NAME, or the file named by NAME_FILE (Kubernetes secrets mounted as files)."""
    path = os.environ.get(f"{name}_FILE")
    if path:
        return Path(path).read_text().strip()
    return os.environ.get(name, default)


# Where the embedded defaults keep their state (SQLite database, file broker, generated secret
# key of scripts/run.sh): MODELPORT_VAR, default var/ in the checkout.
VAR_DIR = Path(env("MODELPORT_VAR") or BASE_DIR / "var").resolve()

MODELPORT_ENV = env("MODELPORT_ENV", "development")
PRODUCTION = MODELPORT_ENV == "production"

if PRODUCTION:
    _required = ["SECRET_KEY", "DATABASE_URL", "CELERY_BROKER_URL", "PROMETHEUS_URL"]
    _missing = [n for n in _required if not env_secret(n)]
    if not (env("KUBECONFIG") or env_bool("KUBE_IN_CLUSTER")):
        _missing.append("KUBECONFIG or KUBE_IN_CLUSTER")
    if _missing:
        raise ImproperlyConfigured(
            "MODELPORT_ENV=production needs these environment variables: " + ", ".join(_missing)
        )

SECRET_KEY = env_secret("SECRET_KEY", "dev-only-insecure-key-change-me")
DEBUG = env_bool("DEBUG", not PRODUCTION)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
SITE_URL = env("SITE_URL", "http://127.0.0.1:8000")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "django_filters",
    "django_prometheus",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "portal",
    "catalog",
    "deployments",
    "billing",
    "sso",
    "web",
]

MIDDLEWARE = [
    "portal.logs.RequestIdMiddleware",
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "portal.middleware.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "portal.middleware.CurrentTeamMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
    # Last, as django-axes asks: answers locked-out logins with AXES_LOCKOUT_TEMPLATE.
    "axes.middleware.AxesMiddleware",
]

# Everything from our own origin: no inline script or style, no external host (htmx, uPlot and
# Swagger UI are served from static files). img data: for the SVG/inline icons of Swagger UI.
CONTENT_SECURITY_POLICY = env(
    "CONTENT_SECURITY_POLICY",
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'",
)

# Production: HTTPS only (behind a TLS-terminating proxy set SECURE_PROXY_SSL_HEADER=true so
# X-Forwarded-Proto: https counts as HTTPS). /metrics stays reachable over plain HTTP in-cluster.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", PRODUCTION)
SECURE_REDIRECT_EXEMPT = [r"^metrics$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000 if PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", PRODUCTION)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", PRODUCTION)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", PRODUCTION)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", PRODUCTION)
if env_bool("SECURE_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

ROOT_URLCONF = "web.urls"
WSGI_APPLICATION = "portal.wsgi.application"
ASGI_APPLICATION = "portal.asgi.application"

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
                "portal.context_processors.current_team",
                "portal.context_processors.sample_metrics",
                "billing.context_processors.budget_alert",
            ],
        },
    },
]
# Django's form renderer with the field and <input> templates rendered in Python (same HTML).
FORM_RENDERER = "portal.formrender.FastRenderer"

DATABASES = {
    "default": dj_database_url.parse(
        env_secret("DATABASE_URL", f"sqlite:///{VAR_DIR / 'modelport.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        # A kept connection is checked (SELECT 1) before its first use by each request or
        # task, so a database restart costs a reconnect, not a failed request.
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded default under a few concurrent writers: a deferred transaction that reads,
    # then writes, fails at once with "database is locked" when another writer holds the lock.
    # IMMEDIATE takes the write lock at BEGIN and the busy timeout queues writers instead.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        # Seconds a writer waits for the lock: long enough to queue behind other writers,
        # short enough that a stuck lock answers 503 (portal/api/errors.py) before a proxy or
        # a user gives up.
        "timeout": env_int("SQLITE_BUSY_TIMEOUT", 5),
        **DATABASES["default"].get("OPTIONS", {}),
    }
elif DATABASES["default"]["ENGINE"].startswith("django.db.backends.postgresql"):
    # An unreachable server fails a request in seconds (503), not after the TCP timeout.
    DATABASES["default"]["OPTIONS"] = {
        "connect_timeout": env_int("DATABASE_CONNECT_TIMEOUT", 5),
        **DATABASES["default"].get("OPTIONS", {}),
    }
# What a 503 for an unavailable database asks the client to wait (Retry-After, seconds).
DATABASE_RETRY_AFTER_SECONDS = env_int("DATABASE_RETRY_AFTER_SECONDS", 5)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "portal.User"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
# The reverse proxies in front of the portal (addresses or CIDRs, e.g. the ingress controller's
# pod range): X-Forwarded-For is believed only from them (portal/clientip.py). Empty: the peer's
# address is the client's. gunicorn reads the same variable for X-Forwarded-Proto.
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES")
for _proxy in TRUSTED_PROXIES:
    try:
        ipaddress.ip_network(_proxy, strict=False)
    except ValueError as _exc:
        raise ImproperlyConfigured(
            f"TRUSTED_PROXIES: {_proxy!r} is not an address or CIDR"
        ) from _exc

# Brute force: AXES_FAILURE_LIMIT wrong passwords for one user name from one client address lock
# that pair for AXES_COOLOFF_MINUTES. Failures for made-up user names never lock anyone else out
# (behind an ingress many users share an address), and a user name guessed at from one address
# is slowed down there. An admin unlocks from the admin (Axes > Access attempts) or with
# `manage.py axes_reset_username <name>` (README "Operations").
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_CLIENT_IP_CALLABLE = "portal.clientip.client_ip"
# API: failed token authentications per client address in API_AUTH_FAILURE_WINDOW seconds
# before the API answers 429 (portal/api/auth.py).
API_AUTH_FAILURE_LIMIT = env_int("API_AUTH_FAILURE_LIMIT", 20)
API_AUTH_FAILURE_WINDOW = env_int("API_AUTH_FAILURE_WINDOW", 300)
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "portal:home"
LOGOUT_REDIRECT_URL = "login"

# --- Single sign-on (OIDC, mozilla-django-oidc; sso/) ---------------------------------------
# On when OIDC_OP_ISSUER and OIDC_RP_CLIENT_ID are set; the endpoints come from the issuer's
# discovery document. Groups map to teams, roles and staff in the admin (SSO group mappings).
# Local accounts keep working (break-glass) whatever the provider does.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: a locked-out user or address goes no further
    "sso.oidc.OidcBackend",
    "django.contrib.auth.backends.ModelBackend",
]
OIDC_OP_ISSUER = env("OIDC_OP_ISSUER")
OIDC_RP_CLIENT_ID = env("OIDC_RP_CLIENT_ID")
OIDC_RP_CLIENT_SECRET = env_secret("OIDC_RP_CLIENT_SECRET")
OIDC_RP_SIGN_ALGO = env("OIDC_RP_SIGN_ALGO", "RS256")
OIDC_RP_SCOPES = env("OIDC_RP_SCOPES", "openid email profile groups")
OIDC_USERNAME_CLAIM = env("OIDC_USERNAME_CLAIM", "preferred_username")
OIDC_GROUPS_CLAIM = env("OIDC_GROUPS_CLAIM", "groups")
OIDC_PROVIDER_NAME = env("OIDC_PROVIDER_NAME", "single sign-on")
OIDC_VERIFY_SSL = env_bool("OIDC_VERIFY_SSL", True)
OIDC_TIMEOUT = env_float("OIDC_TIMEOUT", 10.0)
OIDC_USE_PKCE = True
OIDC_STORE_ID_TOKEN = True  # the id_token_hint of the provider logout
OIDC_AUTHENTICATE_CLASS = "sso.oidc.OidcLoginView"
LOGIN_REDIRECT_URL_FAILURE = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(env("STATIC_ROOT") or BASE_DIR / "staticfiles")
STATICFILES_DIRS = [BASE_DIR / "static"]
# Production serves static files itself (WhiteNoise) under content-hashed names, compressed;
# the image runs collectstatic with STATIC_HASHED_NAMES=true. Development and tests: plain names.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if env_bool("STATIC_HASHED_NAMES", PRODUCTION)
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

EMAIL_BACKEND = env(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend"
    if not PRODUCTION
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = env("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "modelport@localhost")

# --- REST API ------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "portal.api.query.ContentNegotiation",
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "portal.api.auth.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "portal.api.query.PageNumberPagination",
    "PAGE_SIZE": 50,
    # Strict query parameters (portal/api/query.py): an empty or unreadable value is a 400.
    "DEFAULT_FILTER_BACKENDS": ["portal.api.query.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # JSON with a nesting limit (portal/api/parsers.py); errors always answer JSON.
    "DEFAULT_PARSER_CLASSES": [
        "portal.api.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "EXCEPTION_HANDLER": "portal.api.errors.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "ModelPort API",
    "DESCRIPTION": "Request, operate and pay for LLM endpoints (vLLM on KServe).",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Group operations by resource (endpoints, approvals, teams, ...) in Swagger UI.
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "ENUM_NAME_OVERRIDES": {
        "EndpointStatusEnum": "deployments.endpoints.choices.EndpointStatus",
        "BatchJobStatusEnum": "deployments.batch.choices.BatchJobStatus",
        "CapacityTypeEnum": "catalog.choices.CapacityType",
        "SuggestionKindEnum": "billing.advisor_models.SuggestionKind",
    },
    # Swagger UI assets come from drf-spectacular-sidecar: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Error answers (400/401/403/404/409/413/429) documented on every operation, in one place.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "portal.api.schema.document_errors",
    ],
}

# --- Celery --------------------------------------------------------------------------------
# Without a broker the portal runs tasks in-process (embedded mode): same code path, no worker.
CELERY_BROKER_URL = env_secret("CELERY_BROKER_URL", "")
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", not CELERY_BROKER_URL)
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# Each worker process holds up to 4 messages, so a free process starts its next apply at once
# instead of waiting for an ack + fetch round trip (~3 ms of ~35 ms per apply task, bench/README.md
# "Deploy throughput"). Safe with acks_late: reserved messages stay unacked, are restored on warm
# shutdown and redelivered after visibility_timeout if the worker dies; applies are idempotent.
CELERY_WORKER_PREFETCH_MULTIPLIER = 4
# Celery's Django fixup closes every database connection before and after each task unless
# DB_REUSE_MAX is set: one new PostgreSQL backend per task (~18 ms of PostgreSQL CPU per apply,
# bench/README.md "Deploy throughput"). With it set, portal/celery.py recycles connections
# around each task as Django does around a request (CONN_MAX_AGE, health checks, errors).
CELERY_DB_REUSE_MAX = 1000
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {"billing.*": {"queue": "billing"}}
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 600}
if CELERY_BROKER_URL.startswith("filesystem://"):
    # `scripts/run.sh --with-cluster`: messages are files in one directory (one machine, no
    # broker server); the portal and the worker must share CELERY_FILESYSTEM_DIR.
    _broker_dir = env("CELERY_FILESYSTEM_DIR", str(VAR_DIR / "celery-broker"))
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": _broker_dir,
        "data_folder_out": _broker_dir,
        "control_folder": os.path.join(_broker_dir, "control"),
        "store_processed": False,
    }
CELERY_TIMEZONE = "UTC"
# How often sync_statuses and sync_routes list every team namespace. With the status watcher
# running (manage.py watch_status, deployments/watch) they are only a safety net (drift
# repair, lost applies, missed events): the Helm chart sets 300. sync_batch_jobs stays at 30 s:
# it stops a job at its cost cap while its pods run, and time passing makes no watch event.
STATUS_SYNC_SECONDS = env_float("STATUS_SYNC_SECONDS", 30.0)
if STATUS_SYNC_SECONDS < 5:
    raise ImproperlyConfigured("STATUS_SYNC_SECONDS must be at least 5 seconds.")
CELERY_BEAT_SCHEDULE = {
    "sync-statuses": {"task": "deployments.sync_statuses", "schedule": STATUS_SYNC_SECONDS},
    "sync-batch-jobs": {"task": "deployments.sync_batch_jobs", "schedule": 30.0},
    "sync-routes": {"task": "deployments.sync_routes", "schedule": STATUS_SYNC_SECONDS},
    "steer-routes": {"task": "deployments.steer_routes", "schedule": 600.0},
    "apply-nodepools": {"task": "deployments.apply_nodepools", "schedule": 600.0},
    "collect-gpu-usage": {"task": "billing.collect_gpu_usage", "schedule": 3600.0},
    "close-month": {"task": "billing.close_previous_month", "schedule": 6 * 3600.0},
}

# --- Kubernetes ----------------------------------------------------------------------------
KUBECONFIG = env("KUBECONFIG")
KUBE_IN_CLUSTER = env_bool("KUBE_IN_CLUSTER", False)
KUBE_CONTEXT = env("KUBE_CONTEXT")
KUBE_REQUEST_TIMEOUT = env_float("KUBE_REQUEST_TIMEOUT", 10.0)
KUBE_FIELD_MANAGER = env("KUBE_FIELD_MANAGER", "modelport")
# An accepted change still not applied after this long is enqueued again by sync_statuses.
KUBE_REAPPLY_AFTER_SECONDS = env_int("KUBE_REAPPLY_AFTER_SECONDS", 120)
# A delete waits this long for the controllers' finalizers (KServe, KEDA) before it records
# Deleting and leaves Deleted to sync_statuses / the status watcher.
KUBE_DELETE_WAIT_SECONDS = env_float("KUBE_DELETE_WAIT_SECONDS", 10.0)
# One sync_statuses run at a time (a lock in the cache: set REDIS_CACHE_URL with several
# workers); a lock a dead run left behind expires after this long.
SYNC_STATUSES_LOCK_SECONDS = env_int("SYNC_STATUSES_LOCK_SECONDS", 300)
KUBE_NAMESPACE_PREFIX = env("KUBE_NAMESPACE_PREFIX", "mp-")
# The status watcher (manage.py watch_status): one active replica, elected by this Lease.
WATCH_LEASE_NAME = env("WATCH_LEASE_NAME", "modelport-status-watcher")
WATCH_LEASE_NAMESPACE = env("WATCH_LEASE_NAMESPACE", "default")
WATCH_LEASE_SECONDS = env_int("WATCH_LEASE_SECONDS", 15)
if WATCH_LEASE_SECONDS < 3:
    raise ImproperlyConfigured("WATCH_LEASE_SECONDS must be at least 3.")
# Each watch is ended by the apiserver after this long and resumed from its resourceVersion.
WATCH_TIMEOUT_SECONDS = env_int("WATCH_TIMEOUT_SECONDS", 300)
# The namespaced roles the portal binds in each team namespace it creates (a RoleBinding per
# entry, named after the ClusterRole): "<ClusterRole>=<namespace>/<ServiceAccount>,...". The
# Helm chart sets it (its worker and web identities hold no team rights anywhere else); empty
# (a kubeconfig with its own rights, development) binds nothing.
KUBE_TEAM_ROLE_BINDINGS = parse_role_bindings(env("KUBE_TEAM_ROLE_BINDINGS"))
# Model routes (deployments/routing): the Envoy Gateway Gateway their HTTPRoutes attach to and
# the domain of their hosts (<route>.<team>.<ROUTE_DOMAIN>).
ROUTE_GATEWAY_NAME = env("ROUTE_GATEWAY_NAME", "modelport")
ROUTE_GATEWAY_NAMESPACE = env("ROUTE_GATEWAY_NAMESPACE", "envoy-gateway-system")
ROUTE_DOMAIN = env("ROUTE_DOMAIN", "routes.modelport.local")
ROUTE_URL_SCHEME = env("ROUTE_URL_SCHEME", "http")
# The vLLM Semantic Router a complexity route runs in front of its tiers (Envoy ext_proc);
# the platform team pins the image here (deployments/routing/complexity.py).
SEMANTIC_ROUTER_IMAGE = env(
    "SEMANTIC_ROUTER_IMAGE", "ghcr.io/vllm-project/semantic-router/extproc:v0.4.0"
)
KUBE_HF_TOKEN_SECRET = env("KUBE_HF_TOKEN_SECRET", "hf-token")
# The platform's GPU node pools (deployments/nodepools): Karpenter NodePools per instance family
# and capacity type, rendered from the catalog and applied when it changes and on a beat (off
# until the cluster runs Karpenter). The NodeClass they use: "ec2" (AWS EC2NodeClass, with the
# role, AMI alias, discovery tag and root volume below) or "kwok" (Karpenter's KWOK provider).
KARPENTER_NODEPOOLS = env_bool("KARPENTER_NODEPOOLS", False)
KARPENTER_NODE_CLASS = env("KARPENTER_NODE_CLASS", "ec2")
if KARPENTER_NODE_CLASS not in ("ec2", "kwok"):
    raise ImproperlyConfigured("KARPENTER_NODE_CLASS must be ec2 or kwok")
KARPENTER_CLUSTER_NAME = env("KARPENTER_CLUSTER_NAME", "modelport")
KARPENTER_NODE_ROLE = env("KARPENTER_NODE_ROLE", "KarpenterNodeRole-modelport")
KARPENTER_AMI_ALIAS = env("KARPENTER_AMI_ALIAS", "al2023@latest")
KARPENTER_ROOT_VOLUME_GIB = env_int("KARPENTER_ROOT_VOLUME_GIB", 200)
KSERVE_INGRESS_DOMAIN = env("KSERVE_INGRESS_DOMAIN", "example.com")
VLLM_RUNTIME = env("VLLM_RUNTIME", "kserve-huggingfaceserver")
# Image of batch jobs: vLLM with `vllm run-batch` (plus s3fs for s3:// data).
VLLM_BATCH_IMAGE = env("VLLM_BATCH_IMAGE", "vllm/vllm-openai:v0.11.0")

# The endpoint page's playground (deployments/inference.py): one prompt through the portal to
# the endpoint's own URL. Read timeout per chunk, whole-answer limit, size caps.
PLAYGROUND_TIMEOUT_SECONDS = env_float("PLAYGROUND_TIMEOUT_SECONDS", 30.0)
PLAYGROUND_DEADLINE_SECONDS = env_float("PLAYGROUND_DEADLINE_SECONDS", 120.0)
PLAYGROUND_MAX_PROMPT_CHARS = env_int("PLAYGROUND_MAX_PROMPT_CHARS", 8000)
PLAYGROUND_MAX_TOKENS = env_int("PLAYGROUND_MAX_TOKENS", 512)
PLAYGROUND_MAX_RESPONSE_BYTES = env_int("PLAYGROUND_MAX_RESPONSE_BYTES", 262144)

# Internal webhook receivers an admin allows (host names, IPs or CIDRs); every other loopback,
# link-local, private or cluster-internal target is refused (portal/transport.py).
WEBHOOK_ALLOWED_HOSTS = env_list("WEBHOOK_ALLOWED_HOSTS")

# The portal's own /metrics answers only this bearer token (refused while it is empty).
METRICS_BEARER_TOKEN = env_secret("METRICS_BEARER_TOKEN", "")

# --- Prometheus ----------------------------------------------------------------------------
PROMETHEUS_URL = env_secret("PROMETHEUS_URL", "")
PROMETHEUS_TIMEOUT = env_float("PROMETHEUS_TIMEOUT", 5.0)
PROMETHEUS_CACHE_SECONDS = env_int("PROMETHEUS_CACHE_SECONDS", 15)
# Catalog models, GPU types, offerings and prices read by every request are kept this long per
# process (catalog/cache.py); a change made in another process shows within it. 0: off.
CATALOG_CACHE_SECONDS = env_int("CATALOG_CACHE_SECONDS", 10)
# How often Prometheus scrapes vLLM: sets the rate range of the charts.
PROMETHEUS_SCRAPE_INTERVAL_SECONDS = env_float("PROMETHEUS_SCRAPE_INTERVAL_SECONDS", 30.0)
# PromQL queries a metrics page runs at once (1 = one after the other).
METRICS_QUERY_THREADS = env_int("METRICS_QUERY_THREADS", 4)
# The address KEDA uses to query Prometheus from inside the cluster.
KEDA_PROMETHEUS_URL = env("KEDA_PROMETHEUS_URL", "http://prometheus.monitoring.svc:9090")
# Scale-down stabilisation window of every endpoint's autoscaler, in seconds. 0 (the default):
# one cold start of the endpoint, at least 300 s. A fixed value is for test and demo clusters
# (tests/deployments/endpoints/test_cluster_engine_autoscaling.py sets it to watch a scale-down).
AUTOSCALE_SCALE_DOWN_WINDOW_SECONDS = env_int("AUTOSCALE_SCALE_DOWN_WINDOW_SECONDS", 0)

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache"
        if env("REDIS_CACHE_URL")
        else "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": env("REDIS_CACHE_URL", "modelport"),
    }
}

# --- Billing -------------------------------------------------------------------------------
BILLING_CURRENCY = env("BILLING_CURRENCY", "USD")
# Set by `manage.py sample_metrics` (the first run's Prometheus): charts and costs say they
# show sample history.
SAMPLE_METRICS = env_bool("MODELPORT_SAMPLE_METRICS", False)
# The GPU inventory page's label matcher when one Prometheus holds several clusters
# (e.g. 'cluster="prod"'); empty: every series.
GPU_INVENTORY_SELECTOR = env("GPU_INVENTORY_SELECTOR", "")
# Monthly estimates use the calendar month (deployments/estimates.py); GPU time, on the bills and
# the metrics pages alike, comes from each sample's span in the data (portal/gputime.py).
# Extra label matchers added to every billing query, e.g. 'cluster="prod"'.
BILLING_PROMQL_SELECTOR = env("BILLING_PROMQL_SELECTOR", "")
BILLING_PROMETHEUS_TIMEOUT = env_float("BILLING_PROMETHEUS_TIMEOUT", 120.0)
# Billing queries sent to Prometheus at once (each PromQL query runs on one core).
BILLING_PROMETHEUS_CONCURRENCY = env_int("BILLING_PROMETHEUS_CONCURRENCY", 3)
# Hours re-collected by each hourly run (late scrapes and restarts of Prometheus land late).
BILLING_RECOLLECT_HOURS = env_int("BILLING_RECOLLECT_HOURS", 3)

# One JSON object a line with the request id in production (LOG_FORMAT=json), plain text else.
LOG_FORMAT = env("LOG_FORMAT", "json" if PRODUCTION else "plain")
if LOG_FORMAT not in ("json", "plain"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be 'json' or 'plain', not {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "portal.logs.RequestIdFilter"},
        # Credentials in URLs (PROMETHEUS_URL, broker, database, webhooks) never reach a log line.
        "redact": {"()": "portal.logutil.RedactCredentials"},
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {"()": "portal.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id", "redact"],
        }
    },
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}, "axes": {"level": "WARNING"}},
}
