"""Batch jobs: load -> call the cluster -> record (the tasks are one line over these).

`apply_batch_job(id, generation)` makes the cluster match the row: the current run's Job
exists (older runs' Jobs are removed) while the job is wanted, and no Job of it exists once it
is cancelled or deleted. `sync_batch_jobs()` follows every running job with two list calls in
total (Jobs and pods by label selector, all namespaces) and a constant number of queries.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from deployments.batch import manifests
from deployments.batch.choices import BATCH_OBSERVED_STATUSES, BatchJobStatus
from deployments.batch.models import BatchJob
from deployments.batch.names import APPLY_BATCH_JOB
from deployments.batch.observe import observe
from deployments.batch.services import record_applied, record_observations
from deployments.endpoints.manifests import ManifestError
from deployments.k8s import ClusterClient, cluster_configured
from deployments.workloads.choices import DesiredState
from deployments.workloads.errors import PermanentClusterError
from portal import jobs

log = logging.getLogger(__name__)

NO_CLUSTER_MESSAGE = (
    "Not started: no cluster connected. The job is approved and its Job manifest is ready; "
    "the platform team connects a Kubernetes cluster, and the job starts then."
)


def _load(job_id: int) -> BatchJob | None:
    return (
        BatchJob.objects.select_related("team", "model", "gpu_type", "offering")
        .filter(pk=job_id)
        .first()
    )


def _jobs_of(client: ClusterClient, job: BatchJob) -> list[dict]:
    selector = f"{manifests.LABEL_BATCH_UUID}={job.uuid}"
    return client.list("batch/v1", "Job", job.namespace, selector)


def _delete_runs(client: ClusterClient, job: BatchJob, keep_run: int | None) -> int:
    deleted = 0
    for obj in _jobs_of(client, job):
        run = (obj["metadata"].get("labels") or {}).get(manifests.LABEL_BATCH_RUN)
        if keep_run is None or run != str(keep_run):
            meta = {"name": obj["metadata"]["name"], "namespace": job.namespace}
            deleted += client.delete({"apiVersion": "batch/v1", "kind": "Job", "metadata": meta})
    return deleted


def apply_batch_job(job_id: int, generation: int) -> str:
    job = _load(job_id)
    if job is None or job.generation != generation or job.applied_generation >= generation:
        return "stale"
    if not cluster_configured():
        return _apply_embedded(job, generation)
    try:
        client = ClusterClient.from_settings()
        if job.desired_state == DesiredState.PRESENT:
            client.apply(manifests.render(job))
            _delete_runs(client, job, keep_run=job.run)
            outcome = BatchJobStatus.RUNNING
        else:
            _delete_runs(client, job, keep_run=None)
            outcome = (
                BatchJobStatus.DELETED
                if job.desired_state == DesiredState.ABSENT
                else BatchJobStatus.CANCELLED
            )
    except (PermanentClusterError, ManifestError) as exc:
        log.warning("batch_job=%s apply failed: %s", job_id, exc)
        record_applied(job, generation, BatchJobStatus.FAILED, str(exc))
        return "failed"
    # A cancel or delete keeps its reason (who cancelled, or the cost cap) as the message.
    record_applied(job, generation, outcome, "" if outcome == "running" else job.status_message)
    log.info("batch_job=%s generation=%s %s", job_id, generation, outcome)
    return str(outcome)


def _apply_embedded(job: BatchJob, generation: int) -> str:
    """No cluster: a wanted job waits as Not started (like an endpoint's Not deployed, no
    error and no Resume); a cancel or delete has nothing to remove."""
    if job.desired_state == DesiredState.PRESENT:
        outcome, message = BatchJobStatus.NOT_DEPLOYED, NO_CLUSTER_MESSAGE
    else:
        outcome = (
            BatchJobStatus.DELETED
            if job.desired_state == DesiredState.ABSENT
            else BatchJobStatus.CANCELLED
        )
        message = job.status_message
    record_applied(job, generation, outcome, message)
    log.info("batch_job=%s generation=%s no cluster: %s", job.pk, generation, outcome)
    return "no-cluster"


def _start_waiting_jobs() -> None:
    """A cluster is connected now: apply the jobs that waited for one (a new generation)."""
    waiting = BatchJob.objects.filter(
        status=BatchJobStatus.NOT_DEPLOYED, desired_state=DesiredState.PRESENT
    ).values_list("pk", "generation")
    for pk, generation in waiting:
        if BatchJob.objects.filter(pk=pk, generation=generation).update(
            generation=generation + 1, status=BatchJobStatus.APPLYING
        ):
            jobs.enqueue(APPLY_BATCH_JOB, pk, generation + 1)


def _key(obj: dict) -> tuple[str, str]:
    labels = obj["metadata"].get("labels") or {}
    return labels.get(manifests.LABEL_BATCH_UUID, ""), labels.get(manifests.LABEL_BATCH_RUN, "")


def sync_batch_jobs() -> int:
    """Fold the cluster's Jobs and pods into every running batch job. Returns jobs changed."""
    if not cluster_configured():
        return 0
    _start_waiting_jobs()
    with transaction.atomic():
        rows = list(
            BatchJob.objects.select_for_update(of=("self",))
            .select_related("team", "gpu_type")  # gpu_type: the cost cap's price, no query
            .filter(
                status__in=BATCH_OBSERVED_STATUSES,
                desired_state=DesiredState.PRESENT,
                applied_generation__gte=1,
            )
        )
        rows = [j for j in rows if j.applied_generation == j.generation]
        if not rows:
            return 0
        client, now = ClusterClient.from_settings(), timezone.now()
        by_run: dict[tuple[str, str], dict] = {}
        pods: dict[tuple[str, str], list[dict]] = {}
        # One list per team namespace: the portal may read only the namespaces it manages.
        for namespace in sorted({job.namespace for job in rows}):
            for obj in client.list("batch/v1", "Job", namespace, manifests.BATCH_SELECTOR):
                by_run[_key(obj)] = obj
            for pod in client.list("v1", "Pod", namespace, manifests.BATCH_SELECTOR):
                pods.setdefault(_key(pod), []).append(pod)
        observed, missing = [], []
        for job in rows:
            key = (str(job.uuid), str(job.run))
            if key not in by_run:
                missing.append(job)
                continue
            observed.append((job, observe(job, by_run[key], pods.get(key, []), now)))
        changed = record_observations(observed)
    for job in missing:  # deleted by hand: apply the run again (server-side apply is idempotent)
        log.warning("batch_job=%s run %s missing in the cluster: re-applying", job.pk, job.run)
        BatchJob.objects.filter(pk=job.pk, generation=job.generation).update(
            generation=job.generation + 1
        )

        jobs.enqueue(APPLY_BATCH_JOB, job.pk, job.generation + 1)
    return changed
