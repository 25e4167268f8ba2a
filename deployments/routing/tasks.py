"""Route background steps; `acks_late` is safe: a stale or applied generation does nothing and
server-side apply of the same objects changes nothing."""

from celery import shared_task

from deployments.routing import reconcile
from deployments.routing.names import APPLY_ROUTE, SYNC_ROUTES
from deployments.workloads.errors import TransientClusterError


@shared_task(
    name=APPLY_ROUTE,
    acks_late=True,
    autoretry_for=(TransientClusterError,),
    retry_backoff=2,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=12,
)
def apply_route(route_id: int, generation: int) -> str:
    return reconcile.apply_route(route_id, generation)


@shared_task(name=SYNC_ROUTES, acks_late=True, ignore_result=True)
def sync_routes() -> int:
    return reconcile.sync_routes()
