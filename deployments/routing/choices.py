"""Statuses of a route and the transitions between them.

A route has no replicas, so it is never scaled to zero or stopped; it is Not deployed while no
cluster is connected, as endpoints are. The stored values are the endpoints' strings for the
statuses both share.
"""

from django.db import models

from deployments.workloads.transitions import TransitionTable


class RouteStatus(models.TextChoices):
    PENDING_APPROVAL = "pending_approval", "Pending approval"
    APPROVED = "approved", "Approved"
    PROVISIONING = "provisioning", "Provisioning"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"
    DELETING = "deleting", "Deleting"
    DELETED = "deleted", "Deleted"
    REJECTED = "rejected", "Rejected"
    NOT_DEPLOYED = "not_deployed", "Not deployed"


# Statuses after which nothing happens until a person acts: the UI stops polling.
ROUTE_FINAL_STATUSES = frozenset(
    {
        RouteStatus.READY,
        RouteStatus.FAILED,
        RouteStatus.DELETED,
        RouteStatus.REJECTED,
        RouteStatus.NOT_DEPLOYED,
    }
)

_LIVE = {
    RouteStatus.PROVISIONING,
    RouteStatus.READY,
    RouteStatus.FAILED,
    RouteStatus.NOT_DEPLOYED,
}
ROUTE_TRANSITIONS = TransitionTable(
    {
        RouteStatus.PENDING_APPROVAL: {
            RouteStatus.APPROVED,
            RouteStatus.REJECTED,
            RouteStatus.DELETED,
        },
        RouteStatus.APPROVED: {*_LIVE, RouteStatus.DELETING, RouteStatus.DELETED},
        RouteStatus.PROVISIONING: {*_LIVE, RouteStatus.DELETING, RouteStatus.DELETED},
        RouteStatus.READY: {*_LIVE, RouteStatus.DELETING, RouteStatus.DELETED},
        RouteStatus.FAILED: {*_LIVE, RouteStatus.DELETING, RouteStatus.DELETED},
        RouteStatus.NOT_DEPLOYED: {*_LIVE, RouteStatus.DELETING, RouteStatus.DELETED},
        RouteStatus.DELETING: {RouteStatus.DELETED, RouteStatus.FAILED},
        RouteStatus.DELETED: set(),
        RouteStatus.REJECTED: set(),
    }
)
