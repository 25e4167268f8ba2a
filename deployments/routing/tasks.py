"""Route background steps (ids and ints in, idempotent: see routing.reconcile)."""

from celery import shared_task
from django.conf import settings

from deployments.routing import reconcile, steering
from deployments.routing.names import STEER_ROUTES
from deployments.workloads.tasks import lifecycle_tasks

apply_route, sync_routes = lifecycle_tasks(reconcile.ROUTES)


@shared_task(name=STEER_ROUTES, acks_late=True, ignore_result=True)
def steer_routes() -> int:
    """Budget steering (routing/steering.py); a second run changes nothing."""
    return len(steering.steer_routes(currency=settings.BILLING_CURRENCY))
