"""Billing background steps (queue `billing`). Each one is safe to run twice: collection
rewrites whole hours, month close is a compare-and-set, alerts are unique per threshold."""

import logging
from datetime import datetime, timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from deployments.endpoints import dashboards
from portal import timeutil
from portal.prometheus import PrometheusUnavailable

from . import services
from .services.budgets import NOTIFY_BUDGET_ALERT

log = logging.getLogger(__name__)

CLOSE_GRACE = timedelta(hours=24)  # late scrapes after a month ends are collected before closing


@shared_task(
    name="billing.collect_gpu_usage",
    acks_late=True,
    max_retries=5,
    autoretry_for=(PrometheusUnavailable,),
    retry_backoff=60,
    retry_jitter=True,
)
def collect_gpu_usage(end_iso: str | None = None) -> dict:
    """Re-collect the last BILLING_RECOLLECT_HOURS whole hours, then check budgets."""
    end = timeutil.floor_hour(datetime.fromisoformat(end_iso) if end_iso else timezone.now())
    start = end - timedelta(hours=settings.BILLING_RECOLLECT_HOURS)
    try:
        result = services.collect_gpu_usage(start, end)
    except PrometheusUnavailable:
        dashboards.note_prometheus_reachable(False)  # the cost pages explain it (setup state)
        raise
    dashboards.note_prometheus_reachable(True)
    alerts = services.check_budgets()
    log.info(
        "billing: collected %s..%s: %s rows, %s stale deleted, %s alerts",
        start.isoformat(),
        end.isoformat(),
        result.rows,
        result.deleted,
        len(alerts),
    )
    return {"rows": result.rows, "deleted": result.deleted, "alerts": len(alerts)}


@shared_task(
    name="billing.close_previous_month",
    acks_late=True,
    max_retries=5,
    autoretry_for=(PrometheusUnavailable,),
    retry_backoff=300,
    retry_jitter=True,
)
def close_previous_month() -> str:
    """Once the grace period after a month has passed: re-collect its last day, then close it."""
    now = timezone.now()
    month = timeutil.month_start(timeutil.month_start(now) - timedelta(days=1))
    end = timeutil.next_month(month)
    if now < end + CLOSE_GRACE:
        return "waiting"
    chargeback, statements = services.close_month_once_collected(month, end)
    return f"{chargeback} ({len(statements)} statements)"


@shared_task(
    name=NOTIFY_BUDGET_ALERT,
    acks_late=True,
    max_retries=8,
    autoretry_for=(services.NotificationFailed,),
    retry_backoff=60,
    retry_jitter=True,
)
def notify_budget_alert(alert_id: int) -> None:
    services.notify_budget(alert_id)
