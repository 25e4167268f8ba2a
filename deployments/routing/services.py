"""Route use cases: request, approve, delete, record what the cluster says, and the guard that
keeps member endpoints alive while a route uses them (called by deployments.endpoints.services)."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from deployments.endpoints.choices import EndpointStatus
from deployments.endpoints.guard import RouteInUse, live_routes_using, refuse_if_routed  # noqa: F401
from deployments.routing import complexity
from deployments.routing.choices import ROUTE_TRANSITIONS, RouteStatus
from deployments.routing.models import (
    CLASSIFIER_POLICY,
    CLASSIFIER_REFUSAL,
    IMAGE_REFERENCE,
    Route,
    RoutePolicy,
    RouteTier,
    SemanticRouterSettings,
    TierRole,
)
from deployments.routing.names import APPLY_ROUTE
from deployments.workloads import admission
from deployments.workloads.choices import DesiredState
from deployments.workloads.errors import DeploymentError, InvalidTransition
from deployments.workloads.requests import RequestBook, record_action, record_request
from portal import jobs
from portal.access import can_admin
from portal.audit import record_audit
from portal.models import AuditLog, Team, User

log = logging.getLogger(__name__)

GONE = (EndpointStatus.DELETED, EndpointStatus.DELETING, EndpointStatus.REJECTED)  # members


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
    if policy == RoutePolicy.COMPLEXITY and TierRole.FALLBACK in roles:
        raise DeploymentError(complexity.NO_FALLBACK, field="tiers")


COMPLEXITY_FIELDS = ("easy_examples", "hard_examples", "hard_keywords")


def _complexity_fields(data: dict[str, Any]) -> dict[str, Any]:
    """The complexity policy's examples and keywords, checked once (complexity.clean_phrases),
    and the budget-steering threshold."""
    fields: dict[str, Any] = {}
    for name in COMPLEXITY_FIELDS:
        if name in data:
            try:
                fields[name] = complexity.clean_phrases(data[name], name.replace("_", " "))
            except complexity.ExamplesError as exc:
                raise DeploymentError(str(exc), field=name) from exc
    percent = data.get("steer_at_percent")
    if percent is not None:
        if not isinstance(percent, int) or not 1 <= percent <= 100:
            raise DeploymentError("Give a whole percent from 1 to 100.", field="steer_at_percent")
        if data.get("policy") != RoutePolicy.COMPLEXITY:
            raise DeploymentError(
                "Budget steering moves medium requests, which only the complexity policy has.",
                field="steer_at_percent",
            )
        fields["steer_at_percent"] = percent
    return fields


REQUEST_BOOK = RequestBook("route", APPLY_ROUTE, ROUTE_TRANSITIONS)


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
    fields.update(_complexity_fields(data))
    with transaction.atomic():
        if Route.objects.filter(team=team, name=data["name"]).exclude(status="deleted").exists():
            raise DeploymentError(f"The team already has a route named {data['name']!r}.", "name")
        route = Route(
            team=team, name=data["name"], policy=data["policy"], requested_by=user, **fields
        )
        try:
            with transaction.atomic():
                record_request(
                    REQUEST_BOOK,
                    route,
                    user,
                    needs_approval=not approved,
                    source=source,
                    audit=lambda saved: {
                        "policy": saved.policy,
                        "tiers": {t["role"]: t["endpoint"].name for t in tiers},
                    },
                    approved_by=user if approved else None,
                )
        except IntegrityError as exc:
            raise DeploymentError(
                f"The team already has a route named {data['name']!r}.", "name"
            ) from exc
        RouteTier.objects.bulk_create(
            [RouteTier(route=route, endpoint=t["endpoint"], role=t["role"]) for t in tiers]
        )
    return route


def _locked(route: Route) -> Route:
    return Route.objects.select_for_update().select_related("team").get(pk=route.pk)


def approve_route(route: Route, user: User, source: str = AuditLog.Source.WEB) -> Route:
    if not can_admin(user, route.team):
        raise InvalidTransition("Only a team admin can approve a route.")
    with transaction.atomic():
        route = _locked(route)
        ROUTE_TRANSITIONS.check(
            route.status, RouteStatus.APPROVED, "Only pending routes can be approved."
        )
        admission.check_four_eyes(route, user, "route")
        ROUTE_TRANSITIONS.move(route, RouteStatus.APPROVED, f"Approved by {user}.")
        route.approved_by, route.approved_at = user, timezone.now()
        route.save(
            update_fields=["status", "approved_by", "approved_at", "status_message", "updated_at"]
        )
        after = {"status": route.status}
        record_action(
            REQUEST_BOOK, route, user, None, "route.approve", source, None, True, after=after
        )
    return route


def reject_route(
    route: Route, user: User, reason: str = "", source: str = AuditLog.Source.WEB
) -> Route:
    """A team admin turns a pending request down; nothing was applied, so nothing to remove."""
    if not can_admin(user, route.team):
        raise InvalidTransition("Only a team admin can reject a route.")
    with transaction.atomic():
        route = _locked(route)
        ROUTE_TRANSITIONS.check(
            route.status, RouteStatus.REJECTED, "Only pending routes can be rejected."
        )
        message = f"Rejected by {user}" + (f": {reason}" if reason else ".")
        ROUTE_TRANSITIONS.move(route, RouteStatus.REJECTED, message)
        route.desired_state = DesiredState.ABSENT  # its member endpoints are free again
        route.save(update_fields=["status", "desired_state", "status_message", "updated_at"])
        after = {"status": route.status, "reason": reason}
        record_action(
            REQUEST_BOOK, route, user, None, "route.reject", source, None, False, after=after
        )
    return route


def pending_routes_for(user: User):
    """Routes waiting for a decision this user may take (team admin or staff)."""
    qs = Route.objects.filter(status=RouteStatus.PENDING_APPROVAL)
    return (
        admission.decidable_by(qs, user).prefetch_related("tiers__endpoint").order_by("created_at")
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
        ROUTE_TRANSITIONS.move(
            route,
            RouteStatus.DELETED if never_applied else RouteStatus.DELETING,
            f"Deleted by {user}.",
        )
        if never_applied:
            route.deleted_at = timezone.now()
        route.save()
        after, enqueue = {"status": route.status}, not never_applied
        record_action(
            REQUEST_BOOK, route, user, None, "route.delete", source, None, enqueue, after=after
        )
    return route


NO_CLUSTER_MESSAGE = (
    "Not deployed: no cluster connected. The route is approved and its HTTPRoute is ready; "
    "the platform team connects a Kubernetes cluster, and the route is deployed then."
)


def _record(route: Route, generation: int, status: str, where: Q, **fields: Any) -> int:
    """Compare-and-set of a status the cluster (or an apply) reports for `generation` on the
    rows that also match `where`: refused (logged, nothing written) when the route's transition
    table does not allow it, from the loaded row and again in the UPDATE (the row may have
    moved since it was loaded). Returns the rows written (0 or 1)."""
    if not ROUTE_TRANSITIONS.admits("route", route, status):
        return 0
    allowed_from = ROUTE_TRANSITIONS.sources(status) | {status}
    return (
        Route.objects.filter(pk=route.pk, generation=generation, status__in=allowed_from)
        .filter(where)
        .update(status=status, **fields)
    )


def record_route_applied(
    route: Route, generation: int, deleted: bool, *, cluster: bool = True
) -> bool:
    """Compare-and-set after an apply (or delete) of `generation`; False when superseded.
    Without a cluster a wanted route is Not deployed (as endpoints are): nothing serves it, and
    `sync_routes` finds its HTTPRoute missing once a cluster is connected and applies it."""
    fields: dict[str, Any] = {"applied_generation": generation}
    if not cluster and not deleted:
        status = RouteStatus.NOT_DEPLOYED
        fields["status_message"] = NO_CLUSTER_MESSAGE
    elif deleted:
        status = RouteStatus.DELETED
        fields.update(deleted_at=timezone.now(), status_message="Removed from the cluster.")
    else:
        status = RouteStatus.PROVISIONING
        fields["status_message"] = "Applied."
    return bool(_record(route, generation, status, Q(), **fields))


def record_route_failed(route: Route, generation: int, message: str) -> bool:
    """The apiserver refused `generation` (or it cannot be rendered); False when superseded."""
    return bool(_record(route, generation, RouteStatus.FAILED, Q(), status_message=message))


def record_route_observed(route: Route, status: str, message: str) -> bool:
    """Compare-and-set of the observed status of the route's loaded generation; False when
    nothing changed, superseded, or refused by the transition table."""
    where = Q(applied_generation=route.generation, desired_state=DesiredState.PRESENT) & ~Q(
        status=status, status_message=message
    )
    return bool(_record(route, route.generation, status, where, status_message=message))


def enqueue_reapply(route: Route) -> None:
    """The HTTPRoute is missing from the cluster (drift): apply the current generation again."""
    with transaction.atomic():
        route = _locked(route)
        route.generation += 1
        route.status_message = "Missing from the cluster; applying again."
        route.save(update_fields=["generation", "status_message", "updated_at"])
        enqueue_apply(route)


def set_router_image(image: str, user: User, source: str = AuditLog.Source.ADMIN) -> list[Route]:
    """The platform team pins a new Semantic Router image: save it and re-render every live
    complexity route with it (a new generation each, applied like any other change)."""
    try:
        IMAGE_REFERENCE(image)
    except ValidationError as exc:
        raise DeploymentError(exc.messages[0], field="image") from exc
    with transaction.atomic():
        row = SemanticRouterSettings.current()
        before = row.image
        if before == image:
            return []
        row.image = image
        row.save()
        record_audit(
            actor=user,
            action="router.image",
            instance=row,
            source=source,
            team=None,
            before={"image": before},
            after={"image": image},
        )
        routes = list(
            Route.objects.select_for_update()
            .filter(policy=RoutePolicy.COMPLEXITY, desired_state=DesiredState.PRESENT)
            .exclude(status__in=[*GONE, EndpointStatus.PENDING_APPROVAL])
        )
        for route in routes:
            route.generation += 1
            route.status_message = "New router image; applying."
            route.save(update_fields=["generation", "status_message", "updated_at"])
            enqueue_apply(route)
    return routes
