"""Node pool background step: apply on a catalog change and on the beat (idempotent)."""

from celery import shared_task

from deployments.nodepools import reconcile
from deployments.nodepools.names import APPLY_NODEPOOLS
from deployments.workloads.tasks import APPLY_OPTIONS


@shared_task(name=APPLY_NODEPOOLS, **APPLY_OPTIONS)
def apply_nodepools() -> str:
    return reconcile.apply_nodepools()
