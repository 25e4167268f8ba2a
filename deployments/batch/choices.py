"""Statuses of a batch job and of its shards."""

from django.db import models

from deployments.workloads import badges
from deployments.workloads.transitions import TransitionTable


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


_S = BatchJobStatus
_RUNNABLE = {_S.APPROVED, _S.APPLYING, _S.RUNNING, _S.NOT_DEPLOYED}
BATCH_TRANSITIONS = TransitionTable(
    {
        # Approval; a request never applied is cancelled or deleted at once.
        _S.PENDING_APPROVAL: {_S.APPROVED, _S.REJECTED, _S.CANCELLED, _S.DELETED},
        _S.REJECTED: {_S.DELETED},
        # The apply: the run's Job (or Not started without a cluster), a cancel or a delete.
        _S.APPROVED: {
            _S.APPLYING,
            _S.RUNNING,
            _S.NOT_DEPLOYED,
            _S.FAILED,
            _S.CANCELLED,
            _S.CANCELLING,
            _S.DELETING,
        },
        _S.APPLYING: {
            _S.RUNNING,
            _S.NOT_DEPLOYED,
            _S.SUCCEEDED,
            _S.FAILED,
            _S.CANCELLED,
            _S.CANCELLING,
            _S.DELETING,
        },
        # The sync follows the Job; the cost cap cancels it.
        _S.RUNNING: {_S.SUCCEEDED, _S.FAILED, _S.CANCELLING, _S.DELETING},
        # A cluster is connected: the first sync starts it.
        _S.NOT_DEPLOYED: {_S.APPLYING, _S.CANCELLING, _S.CANCELLED, _S.DELETING},
        _S.SUCCEEDED: {_S.DELETING},
        # Resume or retry: a new run.
        _S.FAILED: {_S.APPLYING, _S.DELETING},
        _S.CANCELLING: {_S.CANCELLED, _S.FAILED, _S.DELETING},
        _S.CANCELLED: {_S.APPLYING, _S.DELETING, _S.DELETED},
        _S.DELETING: {_S.DELETED, _S.FAILED},
        _S.DELETED: set(),
    },
    actions={
        "approve": ({_S.PENDING_APPROVAL}, {_S.APPROVED}),
        "reject": ({_S.PENDING_APPROVAL}, {_S.REJECTED}),
        "cancel": ({*_RUNNABLE, _S.PENDING_APPROVAL}, {_S.CANCELLING, _S.CANCELLED}),
        "resume": ({_S.CANCELLED, _S.FAILED}, {_S.APPLYING}),
        "retry": ({_S.FAILED}, {_S.APPLYING}),
        "delete": (set(_S.values) - {_S.DELETED}, {_S.DELETING, _S.DELETED}),
    },
)

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
