"""Names of the batch jobs' background steps (batch.tasks registers them)."""

APPLY_BATCH_JOB = "deployments.apply_batch_job"
SYNC_BATCH_JOBS = "deployments.sync_batch_jobs"
