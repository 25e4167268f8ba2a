"""Route background steps (ids and ints in, idempotent: see routing.reconcile)."""

from deployments.routing import reconcile
from deployments.routing.names import APPLY_ROUTE, SYNC_ROUTES
from deployments.workloads.tasks import lifecycle_tasks

apply_route, sync_routes = lifecycle_tasks(
    APPLY_ROUTE, reconcile.apply_route, SYNC_ROUTES, reconcile.sync_routes
)
