"""Deployment checks (`manage.py check --deploy`): what a production install needs beyond
Django's own list."""

from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.security, deploy=True)
def shared_cache(app_configs, **kwargs):
    """The API token brake and the status-sync lock count in the cache: a per-process cache
    (LocMemCache) gives each gunicorn worker and pod its own counters."""
    backend = settings.CACHES["default"]["BACKEND"]
    if backend.endswith("LocMemCache") and getattr(settings, "PRODUCTION", False):
        return [
            Warning(
                "The cache is per process (LocMemCache): the API token brake and the "
                "status-sync lock are not shared between workers and pods.",
                hint="Set REDIS_CACHE_URL to a Redis database of its own (not the broker's).",
                id="portal.W001",
            )
        ]
    return []


@register(Tags.security, deploy=True)
def trusted_proxies(app_configs, **kwargs):
    """gunicorn serves plain HTTP (portal/gunicorn.conf.py): in production a TLS-terminating
    proxy is in front, and its X-Forwarded-Proto counts only from TRUSTED_PROXIES. Without them
    every request looks like plain HTTP and SECURE_SSL_REDIRECT answers each with a redirect to
    itself; login lockouts and the API brake see the proxy's address as every client's."""
    if (
        getattr(settings, "PRODUCTION", False)
        and settings.SECURE_SSL_REDIRECT
        and not settings.TRUSTED_PROXIES
        and not getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    ):
        return [
            Warning(
                "TRUSTED_PROXIES is empty: the TLS proxy's X-Forwarded-Proto and "
                "X-Forwarded-For are not believed (HTTPS redirect loop, one address for all).",
                hint="Set TRUSTED_PROXIES to the ingress controller's addresses or pod CIDR.",
                id="portal.W002",
            )
        ]
    return []
