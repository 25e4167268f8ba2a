"""The portal's own /metrics (served by django-prometheus from the default registry), beyond
HTTP and database metrics:

* ``modelport_endpoints{status}``: endpoints per status (one aggregate query per scrape);
* ``modelport_endpoints_pending_apply`` and ``modelport_reconcile_lag_seconds``: endpoints whose
  desired generation is not applied yet, and how long the oldest has waited;
* ``modelport_reconcile_last_sync_age_seconds``: time since ``deployments.sync_statuses`` last
  succeeded (recorded from Celery's task_success signal in a shared cache; absent until known);
* ``modelport_celery_queue_length{queue}`` and ``modelport_celery_broker_up``: Redis LLEN of
  every Celery queue when the broker is Redis;
* ``modelport_prometheus_queries_total``, ``modelport_prometheus_query_errors_total{reason}``
  and ``modelport_prometheus_query_seconds`` (defined in portal.prometheus).

A scrape must never fail: each part that cannot be read is left out and logged.
"""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, F, Min
from prometheus_client.core import REGISTRY, GaugeMetricFamily

from . import prometheus  # noqa: F401  (registers the Prometheus query counters)

logger = logging.getLogger(__name__)

LAST_SYNC_KEY = "observability:sync_statuses:last_success"
SYNC_TASK = "deployments.sync_statuses"
BROKER_TIMEOUT_S = 0.5


def celery_queues() -> list[str]:
    queues = {settings.CELERY_TASK_DEFAULT_QUEUE}
    for route in getattr(settings, "CELERY_TASK_ROUTES", {}).values():
        if isinstance(route, dict) and route.get("queue"):
            queues.add(route["queue"])
    return sorted(queues)


class PortalCollector:
    """Reads the database and the broker when /metrics is scraped."""

    def collect(self):
        for part in (self._endpoints, self._reconcile, self._celery):
            try:
                yield from part()
            except Exception as exc:  # a scrape must not fail because one source is down
                logger.warning("observability: %s skipped: %s", part.__name__, exc)

    def describe(self):
        return []  # computed at scrape time; no registration-time collection

    def _endpoints(self):
        from deployments.choices import EndpointStatus
        from deployments.models import Endpoint

        counts = dict(Endpoint.objects.values_list("status").annotate(n=Count("id")).order_by())
        g = GaugeMetricFamily("modelport_endpoints", "Endpoints per status.", labels=["status"])
        for status in EndpointStatus.values:
            g.add_metric([status], counts.get(status, 0))
        yield g

    def _reconcile(self):
        from deployments.choices import EndpointStatus
        from deployments.models import Endpoint

        pending = Endpoint.objects.filter(applied_generation__lt=F("generation")).exclude(
            status__in=[
                EndpointStatus.PENDING_APPROVAL,
                EndpointStatus.REJECTED,
                EndpointStatus.DELETED,
            ]
        )
        agg = pending.aggregate(n=Count("id"), oldest=Min("updated_at"))
        yield GaugeMetricFamily(
            "modelport_endpoints_pending_apply",
            "Endpoints whose desired generation is not applied to the cluster yet.",
            value=agg["n"],
        )
        lag = 0.0 if agg["oldest"] is None else max(0.0, time.time() - agg["oldest"].timestamp())
        yield GaugeMetricFamily(
            "modelport_reconcile_lag_seconds",
            "How long the oldest unapplied endpoint change has waited.",
            value=lag,
        )
        last = cache.get(LAST_SYNC_KEY)
        if last is not None:
            yield GaugeMetricFamily(
                "modelport_reconcile_last_sync_age_seconds",
                "Seconds since sync_statuses last succeeded.",
                value=time.time() - last,
            )

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
        _connect_celery_signal()
    return _collector


def _connect_celery_signal():
    from celery.signals import task_success

    def on_success(sender=None, **kwargs):
        if getattr(sender, "name", None) == SYNC_TASK:
            cache.set(LAST_SYNC_KEY, time.time(), None)

    task_success.connect(on_success, weak=False)
