"""Background steps of batch jobs (ids and ints in, idempotent: see batch.reconcile)."""

from deployments.batch import reconcile
from deployments.batch.names import APPLY_BATCH_JOB, SYNC_BATCH_JOBS
from deployments.workloads.tasks import lifecycle_tasks

apply_batch_job, sync_batch_jobs = lifecycle_tasks(
    APPLY_BATCH_JOB, reconcile.apply_batch_job, SYNC_BATCH_JOBS, reconcile.sync_batch_jobs
)
