"""The portal's own /metrics (served by django-prometheus from the default registry), beyond
HTTP and database metrics:

* what the apps above the core add with ``add_source`` (deployments: endpoints per status and
  the reconcile lag, see ``deployments/observability.py``);
* ``modelport_celery_queue_length{queue}`` and ``modelport_celery_broker_up``: Redis LLEN of
  every Celery queue when the broker is Redis;
* ``modelport_prometheus_queries_total``, ``modelport_prometheus_query_errors_total{reason}``
  and ``modelport_prometheus_query_seconds`` (defined in portal.prometheus).

A scrape must never fail: each part that cannot be read is left out and logged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from django.conf import settings
from prometheus_client.core import REGISTRY, GaugeMetricFamily

from . import prometheus  # noqa: F401  (registers the Prometheus query counters)

logger = logging.getLogger(__name__)

BROKER_TIMEOUT_S = 0.5


def celery_queues() -> list[str]:
    queues = {settings.CELERY_TASK_DEFAULT_QUEUE}
    for route in getattr(settings, "CELERY_TASK_ROUTES", {}).values():
        if isinstance(route, dict) and route.get("queue"):
            queues.add(route["queue"])
    return sorted(queues)


class PortalCollector:
    """Reads the database and the broker when /metrics is scraped."""

    def __init__(self) -> None:
        self.sources: list[Callable[[], Iterable]] = [self._celery]

    def collect(self):
        for part in self.sources:
            try:
                yield from part()
            except Exception as exc:  # a scrape must not fail because one source is down
                logger.warning("observability: %s skipped: %s", part.__name__, exc)

    def describe(self):
        return []  # computed at scrape time; no registration-time collection

    def _celery(self):
        url = getattr(settings, "CELERY_BROKER_URL", "")
        if not url.startswith(("redis://", "rediss://")):
            return
        import redis

        up = GaugeMetricFamily("modelport_celery_broker_up", "1 if the Celery broker answered.")
        depth = GaugeMetricFamily(
            "modelport_celery_queue_length", "Messages waiting in a Celery queue.", labels=["queue"]
        )
        try:
            conn = redis.Redis.from_url(
                url, socket_timeout=BROKER_TIMEOUT_S, socket_connect_timeout=BROKER_TIMEOUT_S
            )
            with conn.pipeline() as pipe:
                queues = celery_queues()
                for q in queues:
                    pipe.llen(q)
                lengths = pipe.execute()
        except redis.RedisError as exc:
            logger.warning("observability: broker unreachable: %s", exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        for q, n in zip(queues, lengths, strict=True):
            depth.add_metric([q], n)
        yield up
        yield depth


_collector: PortalCollector | None = None


def register() -> PortalCollector:
    """Register the collector once (AppConfig.ready may run more than once in tests)."""
    global _collector
    if _collector is None:
        _collector = PortalCollector()
        REGISTRY.register(_collector)
    return _collector


def add_source(source: Callable[[], Iterable]) -> None:
    """Add a generator of metric families that apps above the core read at scrape time
    (called from their AppConfig.ready; a source already added is not added again)."""
    collector = register()
    if source not in collector.sources:
        collector.sources.append(source)
