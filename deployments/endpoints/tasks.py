"""Background steps for endpoints: load -> call -> record lives in deployments.endpoints.reconcile.

Arguments are ids and ints. `acks_late` is safe because both tasks are idempotent: an apply
of a generation that is stale or already applied does nothing, and server-side apply of the
same manifests changes nothing.
"""

import logging

from celery import shared_task

from deployments.endpoints import reconcile
from deployments.endpoints.names import APPLY_ENDPOINT, SYNC_STATUSES
from deployments.workloads.errors import TransientClusterError

log = logging.getLogger(__name__)


@shared_task(
    name=APPLY_ENDPOINT,
    acks_late=True,
    autoretry_for=(TransientClusterError,),
    retry_backoff=2,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=12,
)
def apply_endpoint(endpoint_id: int, generation: int) -> str:
    return reconcile.apply_endpoint(endpoint_id, generation)


@shared_task(name=SYNC_STATUSES, acks_late=True, ignore_result=True)
def sync_statuses() -> int:
    return reconcile.sync_statuses()
