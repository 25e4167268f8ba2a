from django.db import models


class EndpointStatus(models.TextChoices):
    PENDING_APPROVAL = "pending_approval", "Pending approval"
    APPROVED = "approved", "Approved"
    APPLYING = "applying", "Applying"
    PROVISIONING = "provisioning", "Provisioning"
    READY = "ready", "Ready"
    # Off-hours (or idle) with no replica: requests fail, Standard mode has no activator.
    SCALED_TO_ZERO = "scaled_to_zero", "Scaled to zero"
    FAILED = "failed", "Failed"
    # Approved, but no cluster is connected (embedded mode): waiting for the platform team,
    # not an error. The next apply after a cluster is configured moves it on.
    NOT_DEPLOYED = "not_deployed", "Not deployed"
    STOPPED = "stopped", "Stopped"
    DELETING = "deleting", "Deleting"
    DELETED = "deleted", "Deleted"
    REJECTED = "rejected", "Rejected"


# Statuses after which nothing happens until a person acts: the UI stops polling.
FINAL_STATUSES = frozenset(
    {
        EndpointStatus.READY,
        EndpointStatus.SCALED_TO_ZERO,
        EndpointStatus.FAILED,
        EndpointStatus.NOT_DEPLOYED,
        EndpointStatus.STOPPED,
        EndpointStatus.DELETED,
        EndpointStatus.REJECTED,
    }
)

# Badge colour per status (read by the `status_badge` template tag).
STATUS_COLOURS = {
    EndpointStatus.PENDING_APPROVAL: "amber",
    EndpointStatus.APPROVED: "blue",
    EndpointStatus.APPLYING: "blue",
    EndpointStatus.PROVISIONING: "blue",
    EndpointStatus.READY: "green",
    EndpointStatus.SCALED_TO_ZERO: "amber",
    EndpointStatus.FAILED: "red",
    EndpointStatus.NOT_DEPLOYED: "grey",
    EndpointStatus.STOPPED: "grey",
    EndpointStatus.DELETING: "grey",
    EndpointStatus.DELETED: "grey",
    EndpointStatus.REJECTED: "red",
}


class KvCacheDtype(models.TextChoices):
    AUTO = "auto", "Same as model"
    FP8 = "fp8", "FP8"


class EventKind(models.TextChoices):
    REQUEST = "request", "Request"
    APPROVAL = "approval", "Approval"
    ACTION = "action", "Action"
    STATUS = "status", "Status change"
    DRIFT = "drift", "Drift repaired"
    ERROR = "error", "Error"
    INFO = "info", "Info"


# Endpoints in these statuses hold (or will hold) GPUs and count against quota and budget.
ACTIVE_STATUSES = [
    EndpointStatus.PENDING_APPROVAL,
    EndpointStatus.APPROVED,
    EndpointStatus.APPLYING,
    EndpointStatus.PROVISIONING,
    EndpointStatus.READY,
    EndpointStatus.SCALED_TO_ZERO,
    EndpointStatus.FAILED,
    EndpointStatus.NOT_DEPLOYED,
    EndpointStatus.STOPPED,
]
