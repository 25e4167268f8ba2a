"""Names of the deployments app's background steps (tasks.py registers them; services queue
them by name through portal.jobs)."""

APPLY_ENDPOINT = "deployments.apply_endpoint"
SYNC_STATUSES = "deployments.sync_statuses"
APPLY_MODEL_CACHES = "deployments.apply_model_caches"
