"""Batch inference jobs: sharded `vllm run-batch` runs as Indexed batch/v1 Jobs on spot GPUs.

Same flow as endpoints (STYLE §4): `services` writes the desired state and a generation and
queues `tasks.apply_batch_job` by name; `manifests` renders the Job (pure); `reconcile`
applies it through deployments.k8s and, in `sync_batch_jobs`, follows every Job and its pods
by label selector into the rows (`observe` maps cluster objects to shard states, pure).
"""
