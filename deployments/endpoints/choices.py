"""Statuses of an endpoint, the transitions between them, badge colours and event kinds."""

from django.db import models

from deployments.workloads.transitions import TransitionTable


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

_S = EndpointStatus
# Statuses of an approved endpoint: the cluster (or a person's change) moves it among them.
_LIVE = {
    _S.APPLYING,
    _S.PROVISIONING,
    _S.READY,
    _S.SCALED_TO_ZERO,
    _S.FAILED,
    _S.NOT_DEPLOYED,
    _S.STOPPED,
}
_CHANGEABLE = {_S.PENDING_APPROVAL, _S.APPROVED, *_LIVE}
ENDPOINT_TRANSITIONS = TransitionTable(
    {
        # Approval; a request never applied is deleted at once.
        _S.PENDING_APPROVAL: {_S.APPROVED, _S.REJECTED, _S.DELETED},
        # A rejected request, edited, is a request again (an automatic approval passes the
        # approval step at once); or it is deleted.
        _S.REJECTED: {_S.PENDING_APPROVAL, _S.APPROVED, _S.DELETED},
        **{s: {*_LIVE, _S.DELETING, _S.DELETED} for s in (_S.APPROVED, *_LIVE)},
        # The delete is applied (or refused by the apiserver).
        _S.DELETING: {_S.DELETED, _S.FAILED},
        _S.DELETED: set(),
    },
    actions={
        "approve": ({_S.PENDING_APPROVAL}, {_S.APPROVED}),
        "reject": ({_S.PENDING_APPROVAL}, {_S.REJECTED}),
        "resubmit": ({_S.REJECTED}, {_S.PENDING_APPROVAL, _S.APPROVED}),
        # Scale, edit, spot fallback, start (a pending request's change stays pending).
        "change": (_CHANGEABLE, {_S.APPLYING, _S.PENDING_APPROVAL}),
        "stop": (_CHANGEABLE - {_S.PENDING_APPROVAL}, {_S.APPLYING}),
    },
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
