"""Background steps of batch jobs (ids and ints in, idempotent: see batch.reconcile)."""

from celery import shared_task

from deployments.batch import reconcile
from deployments.batch.names import APPLY_BATCH_JOB, SYNC_BATCH_JOBS
from deployments.workloads.errors import TransientClusterError


@shared_task(
    name=APPLY_BATCH_JOB,
    acks_late=True,
    autoretry_for=(TransientClusterError,),
    retry_backoff=2,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=12,
)
def apply_batch_job(job_id: int, generation: int) -> str:
    return reconcile.apply_batch_job(job_id, generation)


@shared_task(name=SYNC_BATCH_JOBS, acks_late=True, ignore_result=True)
def sync_batch_jobs() -> int:
    return reconcile.sync_batch_jobs()
