"""Route use cases: request, approve, delete, record what the cluster says, and the guard that
keeps member endpoints alive while a route uses them (called by deployments.services)."""

from __future__ import annotations

import logging
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from portal import jobs
from portal.access import can_admin, scope_to_user
from portal.audit import record_audit
from portal.models import AuditLog, Team, User

from ..choices import DesiredState, EndpointStatus
from ..errors import DeploymentError, InvalidTransition, SelfApproval
from ..route_guard import RouteInUse, live_routes_using, refuse_if_routed  # noqa: F401
from ..route_models import (
    CLASSIFIER_POLICY,
    CLASSIFIER_REFUSAL,
    Route,
    RoutePolicy,
    RouteTier,
    TierRole,
)
from .names import APPLY_ROUTE

log = logging.getLogger(__name__)

GONE = (EndpointStatus.DELETED, EndpointStatus.DELETING, EndpointStatus.REJECTED)


def _check_tiers(team: Team, policy: str, tiers: list[dict[str, Any]]) -> None:
    roles = [t["role"] for t in tiers]
    if len(set(roles)) != len(roles):
        raise DeploymentError("Each role can be given to one endpoint only.", field="tiers")
    if not {TierRole.SMALL, TierRole.LARGE} <= set(roles):
        raise DeploymentError("A route needs a small and a large tier.", field="tiers")
    endpoints = [t["endpoint"] for t in tiers]
    if len({e.pk for e in endpoints}) != len(endpoints):
        raise DeploymentError("An endpoint can be one tier of a route only.", field="tiers")
    for ep in endpoints:
        if ep.team_id != team.pk:
            raise DeploymentError(
                f"Endpoint {ep.name} belongs to another team; a route uses its team's endpoints.",
                field="tiers",
            )
        if ep.status in GONE or ep.desired_state == DesiredState.ABSENT:
            raise DeploymentError(f"Endpoint {ep.name} is deleted.", field="tiers")
    if policy == CLASSIFIER_POLICY:
        raise DeploymentError(CLASSIFIER_REFUSAL, field="policy")
    if policy not in RoutePolicy.values:
        raise DeploymentError(f"Unknown policy {policy!r}.", field="policy")


def enqueue_apply(route: Route) -> None:
    jobs.enqueue_on_commit(APPLY_ROUTE, route.pk, route.generation)


def request_route(
    team: Team, user: User, data: dict[str, Any], source: str = AuditLog.Source.WEB
) -> Route:
    """Create the route; a team admin's request is approved at once, a member's waits."""
    tiers = data["tiers"]
    _check_tiers(team, data["policy"], tiers)
    approved = can_admin(user, team)
    fields = {k: data[k] for k in ("prompt_length_threshold", "queue_depth_threshold") if k in data}
    with transaction.atomic():
        if Route.objects.filter(team=team, name=data["name"]).exclude(status="deleted").exists():
            raise DeploymentError(f"The team already has a route named {data['name']!r}.", "name")
        try:
            with transaction.atomic():
                route = Route.objects.create(
                    team=team,
                    name=data["name"],
                    policy=data["policy"],
                    requested_by=user,
                    status=EndpointStatus.APPROVED if approved else EndpointStatus.PENDING_APPROVAL,
                    approved_by=user if approved else None,
                    approved_at=timezone.now() if approved else None,
                    **fields,
                )
        except IntegrityError as exc:
            raise DeploymentError(
                f"The team already has a route named {data['name']!r}.", "name"
            ) from exc
        RouteTier.objects.bulk_create(
            [RouteTier(route=route, endpoint=t["endpoint"], role=t["role"]) for t in tiers]
        )
        record_audit(
            actor=user,
            action="route.request",
            instance=route,
            source=source,
            after={"policy": route.policy, "tiers": {t["role"]: t["endpoint"].name for t in tiers}},
        )
        if approved:
            enqueue_apply(route)
    return route


def _locked(route: Route) -> Route:
    return Route.objects.select_for_update().select_related("team").get(pk=route.pk)


def approve_route(route: Route, user: User, source: str = AuditLog.Source.WEB) -> Route:
    if not can_admin(user, route.team):
        raise InvalidTransition("Only a team admin can approve a route.")
    with transaction.atomic():
        route = _locked(route)
        if route.status != EndpointStatus.PENDING_APPROVAL:
            raise InvalidTransition("Only pending routes can be approved.")
        if route.requested_by_id == user.pk:
            raise SelfApproval(
                "You requested this route; another team admin or the platform team must "
                "approve it (four eyes)."
            )
        route.status, route.approved_by, route.approved_at = (
            EndpointStatus.APPROVED,
            user,
            timezone.now(),
        )
        route.status_message = f"Approved by {user}."
        route.save(
            update_fields=["status", "approved_by", "approved_at", "status_message", "updated_at"]
        )
        record_audit(
            actor=user,
            action="route.approve",
            instance=route,
            source=source,
            after={"status": route.status},
        )
        enqueue_apply(route)
    return route


def reject_route(
    route: Route, user: User, reason: str = "", source: str = AuditLog.Source.WEB
) -> Route:
    """A team admin turns a pending request down; nothing was applied, so nothing to remove."""
    if not can_admin(user, route.team):
        raise InvalidTransition("Only a team admin can reject a route.")
    with transaction.atomic():
        route = _locked(route)
        if route.status != EndpointStatus.PENDING_APPROVAL:
            raise InvalidTransition("Only pending routes can be rejected.")
        route.status = EndpointStatus.REJECTED
        route.desired_state = DesiredState.ABSENT  # its member endpoints are free again
        route.status_message = f"Rejected by {user}" + (f": {reason}" if reason else ".")
        route.save(update_fields=["status", "desired_state", "status_message", "updated_at"])
        record_audit(
            actor=user,
            action="route.reject",
            instance=route,
            source=source,
            after={"status": route.status, "reason": reason},
        )
    return route


def pending_routes_for(user: User):
    """Routes waiting for a decision this user may take (team admin or staff)."""
    qs = Route.objects.filter(status=EndpointStatus.PENDING_APPROVAL)
    if not user.is_staff:
        qs = qs.filter(team__memberships__user=user, team__memberships__role="admin")
    return (
        scope_to_user(qs, user)
        .select_related("team", "requested_by")
        .prefetch_related("tiers__endpoint")
        .order_by("created_at")
    )


def delete_route(route: Route, user: User, source: str = AuditLog.Source.WEB) -> Route:
    """Mark absent; the task removes the objects. Never-applied routes end at once."""
    with transaction.atomic():
        route = _locked(route)
        if route.desired_state == DesiredState.ABSENT:
            return route
        route.desired_state = DesiredState.ABSENT
        route.generation += 1
        never_applied = route.applied_generation == 0
        route.status = EndpointStatus.DELETED if never_applied else EndpointStatus.DELETING
        route.status_message = f"Deleted by {user}."
        if never_applied:
            route.deleted_at = timezone.now()
        route.save()
        record_audit(
            actor=user,
            action="route.delete",
            instance=route,
            source=source,
            after={"status": route.status},
        )
        if not never_applied:
            enqueue_apply(route)
    return route


NO_CLUSTER_MESSAGE = (
    "Not deployed: no cluster connected. The route is approved and its HTTPRoute is ready; "
    "the platform team connects a Kubernetes cluster, and the route is deployed then."
)


def record_route_applied(
    route_id: int, generation: int, deleted: bool, *, cluster: bool = True
) -> bool:
    """Compare-and-set after an apply (or delete) of `generation`; False when superseded.
    Without a cluster a wanted route is Not deployed (as endpoints are): nothing serves it, and
    `sync_routes` finds its HTTPRoute missing once a cluster is connected and applies it."""
    fields: dict[str, Any] = {"applied_generation": generation}
    if not cluster and not deleted:
        fields.update(status=EndpointStatus.NOT_DEPLOYED, status_message=NO_CLUSTER_MESSAGE)
    elif deleted:
        fields.update(
            status=EndpointStatus.DELETED,
            deleted_at=timezone.now(),
            status_message="Removed from the cluster.",
        )
    else:
        fields.update(status=EndpointStatus.PROVISIONING, status_message="Applied.")
    return bool(Route.objects.filter(pk=route_id, generation=generation).update(**fields))


def record_route_failed(route_id: int, generation: int, message: str) -> None:
    Route.objects.filter(pk=route_id, generation=generation).update(
        status=EndpointStatus.FAILED, status_message=message
    )


def record_route_observed(route_id: int, generation: int, status: str, message: str) -> bool:
    """Compare-and-set of the observed status; False when nothing changed or superseded."""
    changed = (
        Route.objects.filter(
            pk=route_id,
            generation=generation,
            applied_generation=generation,
            desired_state=DesiredState.PRESENT,
        )
        .exclude(status=status, status_message=message)
        .update(status=status, status_message=message)
    )
    return bool(changed)


def enqueue_reapply(route: Route) -> None:
    """The HTTPRoute is missing from the cluster (drift): apply the current generation again."""
    with transaction.atomic():
        route = _locked(route)
        route.generation += 1
        route.status_message = "Missing from the cluster; applying again."
        route.save(update_fields=["generation", "status_message", "updated_at"])
        enqueue_apply(route)
