"""Background steps for endpoints: load -> call -> record lives in deployments.endpoints.reconcile
(the retry and acks_late rules are deployments.workloads.tasks')."""

from celery import shared_task

from deployments.endpoints import modelcaches, reconcile
from deployments.endpoints.names import APPLY_ENDPOINT, APPLY_MODEL_CACHES, SYNC_STATUSES
from deployments.k8s import ClusterClient
from deployments.workloads.tasks import APPLY_OPTIONS, lifecycle_tasks

apply_endpoint, sync_statuses = lifecycle_tasks(
    APPLY_ENDPOINT, reconcile.apply_endpoint, SYNC_STATUSES, reconcile.sync_statuses
)


@shared_task(name=APPLY_MODEL_CACHES, **APPLY_OPTIONS)
def apply_model_caches() -> int:
    """Push the platform team's model caches (deployments.endpoints.modelcaches)."""
    return modelcaches.apply_model_caches(ClusterClient.from_settings())
