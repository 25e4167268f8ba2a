"""Background steps of batch jobs (ids and ints in, idempotent: see batch.reconcile)."""

from deployments.batch import reconcile
from deployments.workloads.tasks import lifecycle_tasks

apply_batch_job, sync_batch_jobs = lifecycle_tasks(reconcile.BATCH_JOBS)
