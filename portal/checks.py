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
