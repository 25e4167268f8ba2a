"""Endpoints: a team's always-on (or scheduled) vLLM model served through KServe.

`services` writes the desired state and a generation and queues `tasks.apply_endpoint` by
name; `manifests` renders the InferenceService (pure); `reconcile` applies it through
deployments.k8s and `sync_statuses` writes the observed state back (STYLE §4).
"""
