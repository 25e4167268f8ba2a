"""Statuses of a batch job and of its shards."""

from django.db import models

from deployments.workloads import badges


class BatchJobStatus(models.TextChoices):
    PENDING_APPROVAL = "pending_approval", "Pending approval"
    APPROVED = "approved", "Approved"
    APPLYING = "applying", "Applying"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLING = "cancelling", "Cancelling"
    CANCELLED = "cancelled", "Cancelled"
    DELETING = "deleting", "Deleting"
    DELETED = "deleted", "Deleted"
    REJECTED = "rejected", "Rejected"
    # Approved, but no cluster is connected (embedded mode): waiting, not an error, exactly
    # as an endpoint's Not deployed. The first sync after a cluster is connected starts it.
    NOT_DEPLOYED = "not_deployed", "Not started"


# Nothing happens until a person acts: the page stops polling.
BATCH_FINAL_STATUSES = frozenset(
    {
        BatchJobStatus.SUCCEEDED,
        BatchJobStatus.FAILED,
        BatchJobStatus.CANCELLED,
        BatchJobStatus.DELETED,
        BatchJobStatus.REJECTED,
        BatchJobStatus.NOT_DEPLOYED,
    }
)
# Statuses that hold (or will hold) GPUs: they count in the team's GPU quota and budget.
BATCH_ACTIVE_STATUSES = (
    BatchJobStatus.PENDING_APPROVAL,
    BatchJobStatus.APPROVED,
    BatchJobStatus.APPLYING,
    BatchJobStatus.RUNNING,
    BatchJobStatus.CANCELLING,
    BatchJobStatus.NOT_DEPLOYED,
)
# Statuses the sync follows in the cluster.
BATCH_OBSERVED_STATUSES = (BatchJobStatus.APPLYING, BatchJobStatus.RUNNING)

BATCH_STATUS_COLOURS = {
    BatchJobStatus.PENDING_APPROVAL: "amber",
    BatchJobStatus.APPROVED: "blue",
    BatchJobStatus.APPLYING: "blue",
    BatchJobStatus.RUNNING: "blue",
    BatchJobStatus.SUCCEEDED: "green",
    BatchJobStatus.FAILED: "red",
    BatchJobStatus.CANCELLING: "grey",
    BatchJobStatus.CANCELLED: "grey",
    BatchJobStatus.DELETING: "grey",
    BatchJobStatus.DELETED: "grey",
    BatchJobStatus.REJECTED: "red",
    BatchJobStatus.NOT_DEPLOYED: "grey",
}


class ShardState(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class BatchEventKind(models.TextChoices):
    REQUEST = "request", "Request"
    APPROVAL = "approval", "Approval"
    ACTION = "action", "Action"
    STATUS = "status", "Status change"
    INTERRUPTION = "interruption", "Interruption"
    SHARD = "shard", "Shard"
    ERROR = "error", "Error"


def batch_status_badge(status: str) -> str:
    """The badge of a BatchJobStatus value."""
    return badges.status_badge(status, BatchJobStatus, BATCH_STATUS_COLOURS, BATCH_FINAL_STATUSES)
