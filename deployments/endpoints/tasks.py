"""Background steps for endpoints: load -> call -> record lives in deployments.endpoints.reconcile
(the retry and acks_late rules are deployments.workloads.tasks')."""

from celery import shared_task

from deployments.endpoints import modelcaches, reconcile
from deployments.endpoints.names import APPLY_MODEL_CACHES
from deployments.k8s import ClusterClient
from deployments.workloads.tasks import APPLY_OPTIONS, lifecycle_tasks

apply_endpoint, sync_statuses = lifecycle_tasks(reconcile.ENDPOINTS)


@shared_task(name=APPLY_MODEL_CACHES, **APPLY_OPTIONS)
def apply_model_caches() -> int:
    """Push the platform team's model caches (deployments.endpoints.modelcaches)."""
    return modelcaches.apply_model_caches(ClusterClient.from_settings())
