"""Batch jobs as a product of the one apply/sync driver (deployments.driver).

apply
    the current run's Job exists (older runs' Jobs are removed) while the job is wanted, and no
    Job of it exists once it is cancelled or deleted; without a cluster a wanted job waits as
    Not started (like an endpoint's Not deployed, no error and no Resume).
sync
    jobs that waited for a cluster get a new generation and are applied; every running job is
    followed with two list calls per team namespace (Jobs and pods by label selector) and a
    constant number of queries: the rows are locked and written in one bulk UPDATE per
    namespace; a run whose Job was deleted by hand is applied again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from django.db import transaction
from django.utils import timezone

from deployments import driver
from deployments.batch import manifests
from deployments.batch.choices import BATCH_OBSERVED_STATUSES, BatchJobStatus
from deployments.batch.models import BatchJob
from deployments.batch.names import APPLY_BATCH_JOB, SYNC_BATCH_JOBS
from deployments.batch.observe import Observation, observe
from deployments.batch.services import record_applied, record_observations
from deployments.driver import Applied, Missing
from deployments.endpoints.manifests import ManifestError
from deployments.k8s import ClusterClient
from deployments.workloads.choices import DesiredState
from deployments.workloads.errors import PermanentClusterError
from portal import jobs

log = logging.getLogger(__name__)

NO_CLUSTER_MESSAGE = (
    "Not started: no cluster connected. The job is approved and its Job manifest is ready; "
    "the platform team connects a Kubernetes cluster, and the job starts then."
)


def apply_batch_job(job_id: int, generation: int) -> str:
    """Apply one generation of a batch job; returns the driver's Outcome."""
    return driver.apply(BATCH_JOBS, job_id, generation)


def sync_batch_jobs() -> int:
    """Fold the cluster's Jobs and pods into every running batch job. Returns jobs changed."""
    return driver.sync(BATCH_JOBS)


def _key(obj: dict) -> tuple[str, str]:
    labels = obj["metadata"].get("labels") or {}
    return labels.get(manifests.LABEL_BATCH_UUID, ""), labels.get(manifests.LABEL_BATCH_RUN, "")


def _stopped(job: BatchJob) -> str:
    return (
        BatchJobStatus.DELETED
        if job.desired_state == DesiredState.ABSENT
        else BatchJobStatus.CANCELLED
    )


class BatchJobs(driver.Product):
    kind = "batch_job"
    model = BatchJob
    sync_lock = "deployments:sync-batch-jobs:running"
    apply_task, sync_task = APPLY_BATCH_JOB, SYNC_BATCH_JOBS

    # --- apply ------------------------------------------------------------------------------

    def load(self, pk: int) -> BatchJob | None:
        return (
            BatchJob.objects.select_related("team", "model", "gpu_type", "offering")
            .filter(pk=pk)
            .first()
        )

    def render(self, job: BatchJob) -> list[dict]:
        try:
            return manifests.render(job)
        except ManifestError as exc:
            raise PermanentClusterError(str(exc)) from exc

    def push(self, client: ClusterClient, job: BatchJob) -> Applied:
        if job.desired_state == DesiredState.PRESENT:
            client.apply(self.render(job))
            self._delete_runs(client, job, keep_run=job.run)
            return Applied(BatchJobStatus.RUNNING)
        self._delete_runs(client, job, keep_run=None)
        # A cancel or delete keeps its reason (who cancelled, or the cost cap) as the message.
        status = _stopped(job)
        return Applied(status, job.status_message, deleted=status == BatchJobStatus.DELETED)

    def _delete_runs(self, client: ClusterClient, job: BatchJob, keep_run: int | None) -> int:
        deleted = 0
        selector = f"{manifests.LABEL_BATCH_UUID}={job.uuid}"
        for obj in client.list("batch/v1", "Job", job.namespace, selector):
            run = (obj["metadata"].get("labels") or {}).get(manifests.LABEL_BATCH_RUN)
            if keep_run is None or run != str(keep_run):
                meta = {"name": obj["metadata"]["name"], "namespace": job.namespace}
                deleted += client.delete(
                    {"apiVersion": "batch/v1", "kind": "Job", "metadata": meta}
                )
        return deleted

    def no_cluster(self, job: BatchJob) -> Applied:
        if job.desired_state == DesiredState.PRESENT:
            return Applied(BatchJobStatus.NOT_DEPLOYED, NO_CLUSTER_MESSAGE)
        status = _stopped(job)
        return Applied(status, job.status_message, deleted=status == BatchJobStatus.DELETED)

    def record_applied(self, job: BatchJob, generation: int, applied: Applied) -> bool:
        return record_applied(job, generation, applied.status, applied.message)

    def record_failed(self, job: BatchJob, generation: int, message: str) -> bool:
        return record_applied(job, generation, BatchJobStatus.FAILED, message)

    # --- sync -------------------------------------------------------------------------------

    def prepare(self) -> int:
        """A cluster is connected now: apply the jobs that waited for one (a new generation)."""
        waiting = BatchJob.objects.filter(
            status=BatchJobStatus.NOT_DEPLOYED, desired_state=DesiredState.PRESENT
        ).values_list("pk", "generation")
        for pk, generation in waiting:
            if BatchJob.objects.filter(pk=pk, generation=generation).update(
                generation=generation + 1, status=BatchJobStatus.APPLYING
            ):
                jobs.enqueue_on_commit(APPLY_BATCH_JOB, pk, generation + 1)
        return 0

    def sync_transaction(self):
        return transaction.atomic()  # observable() locks the rows until they are recorded

    def observable(self) -> list[BatchJob]:
        rows = (
            BatchJob.objects.select_for_update(of=("self",))
            .select_related("team", "gpu_type")  # gpu_type: the cost cap's price, no query
            .filter(
                status__in=BATCH_OBSERVED_STATUSES,
                desired_state=DesiredState.PRESENT,
                applied_generation__gte=1,
            )
        )
        return [j for j in rows if j.applied_generation == j.generation]

    def read(
        self, client: ClusterClient, namespace: str, rows: Sequence[BatchJob]
    ) -> dict[int, dict[str, Any]]:
        # One list per team namespace: the portal may read only the namespaces it manages.
        by_run = {
            _key(obj): obj
            for obj in client.list("batch/v1", "Job", namespace, manifests.BATCH_SELECTOR)
        }
        pods: dict[tuple[str, str], list[dict]] = {}
        for pod in client.list("v1", "Pod", namespace, manifests.BATCH_SELECTOR):
            pods.setdefault(_key(pod), []).append(pod)
        now = timezone.now()
        return {
            job.pk: {
                "Job": by_run.get((str(job.uuid), str(job.run))),
                "Pod": pods.get((str(job.uuid), str(job.run)), []),
                "now": now,
            }
            for job in rows
        }

    def observe(self, job: BatchJob, live: dict[str, Any]) -> Observation | Missing:
        """Pure over `live` ({"Job": the run's Job or None, "Pod": its pods, "now"})."""
        if live.get("Job") is None:
            return Missing((f"run {job.run} missing in the cluster",))
        return observe(job, live["Job"], live.get("Pod") or [], live.get("now") or timezone.now())

    def record(self, job: BatchJob, observation: Observation) -> bool:
        """One job's observation (e.g. from a watch): compare-and-set, the row locked while
        it is still at the generation observed; False when a newer one superseded it."""
        with transaction.atomic():
            locked = (
                BatchJob.objects.select_for_update(of=("self",))
                .select_related("team", "gpu_type")
                .filter(pk=job.pk, generation=job.generation, applied_generation=job.generation)
                .first()
            )
            return locked is not None and bool(record_observations([(locked, observation)]))

    def record_many(self, client: ClusterClient, observed: list[tuple[BatchJob, Observation]]):
        return record_observations(observed)  # one UPDATE and one INSERT for the namespace

    def repair(self, client: ClusterClient, job: BatchJob, problems: tuple[str, ...]) -> int:
        """Deleted by hand: apply the run again (server-side apply is idempotent)."""
        log.warning(
            "batch_job=%s generation=%s %s: re-applying", job.pk, job.generation, problems[0]
        )
        if BatchJob.objects.filter(pk=job.pk, generation=job.generation).update(
            generation=job.generation + 1
        ):
            jobs.enqueue_on_commit(APPLY_BATCH_JOB, job.pk, job.generation + 1)
        return 0


BATCH_JOBS = BatchJobs()
