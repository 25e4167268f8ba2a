"""What deployments adds to the portal's own /metrics (read when it is scraped):

* ``modelport_endpoints{status}``: endpoints per status (one aggregate query per scrape);
* ``modelport_endpoints_pending_apply`` and ``modelport_reconcile_lag_seconds``: endpoints whose
  desired generation is not applied yet, and how long the oldest has waited;
* ``modelport_reconcile_last_sync_age_seconds``: time since ``deployments.sync_statuses`` last
  succeeded (recorded from Celery's task_success signal in a shared cache; absent until known).
"""

import time

from django.core.cache import cache
from django.db.models import Count, F, Min
from prometheus_client.core import GaugeMetricFamily

from deployments.endpoints.choices import EndpointStatus
from deployments.endpoints.models import Endpoint
from deployments.endpoints.names import SYNC_STATUSES
from portal import observability

LAST_SYNC_KEY = "observability:sync_statuses:last_success"
SYNC_TASK = SYNC_STATUSES


def endpoint_families():
    counts = dict(Endpoint.objects.values_list("status").annotate(n=Count("id")).order_by())
    g = GaugeMetricFamily("modelport_endpoints", "Endpoints per status.", labels=["status"])
    for status in EndpointStatus.values:
        g.add_metric([status], counts.get(status, 0))
    yield g


def reconcile_families():
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


def _on_task_success(sender=None, **kwargs):
    if getattr(sender, "name", None) == SYNC_TASK:
        cache.set(LAST_SYNC_KEY, time.time(), None)


def register() -> None:
    from celery.signals import task_success

    observability.add_source(endpoint_families)
    observability.add_source(reconcile_families)
    task_success.connect(_on_task_success, weak=False, dispatch_uid="deployments-last-sync")
