"""Load -> call -> record for routes (the tasks are one line each over these)."""

from __future__ import annotations

import logging

from deployments.endpoints.manifests import ManifestError
from deployments.k8s import ClusterClient, cluster_configured
from deployments.routing import complexity, manifests, services
from deployments.routing.choices import RouteStatus
from deployments.routing.models import Route, RoutePolicy
from deployments.workloads.choices import DesiredState
from deployments.workloads.errors import PermanentClusterError

log = logging.getLogger(__name__)

APPLYING = (
    RouteStatus.APPROVED,
    RouteStatus.PROVISIONING,
    RouteStatus.READY,
    RouteStatus.FAILED,
    RouteStatus.NOT_DEPLOYED,  # applied once a cluster is connected (sync_routes)
    RouteStatus.DELETING,
)


def load(route_id: int) -> Route | None:
    return (
        Route.objects.select_related("team")
        .prefetch_related("tiers__endpoint__team")
        .filter(pk=route_id)
        .first()
    )


def rendered(route: Route) -> list[dict]:
    """The exact objects apply_route sends (also the API's and render_route's answer)."""
    return manifests.render(route, list(route.tiers.all()))


def apply_route(route_id: int, generation: int) -> str:
    route = load(route_id)
    if route is None or route.generation != generation:
        return "stale"
    if route.applied_generation >= generation or route.status not in APPLYING:
        return "skipped"
    deleting = route.desired_state == DesiredState.ABSENT
    cluster = cluster_configured()
    try:
        objects = [] if deleting else rendered(route)
        if cluster:
            client = ClusterClient.from_settings()
            if deleting:
                for obj in manifests.deletable(route):
                    client.delete(obj)
            else:
                client.apply(objects)
    except (ManifestError, PermanentClusterError) as exc:
        log.warning("route %s: apply of generation %s failed: %s", route_id, generation, exc)
        services.record_route_failed(route_id, generation, str(exc))
        return "failed"
    done = services.record_route_applied(route_id, generation, deleting, cluster=cluster)
    log.info(
        "route %s: generation %s %s", route_id, generation, "recorded" if done else "superseded"
    )
    return "deleted" if deleting and done else ("applied" if done else "superseded")


def sync_routes() -> int:
    """Observe every applied route's HTTPRoute: one label-selected list per namespace."""
    if not cluster_configured():
        return 0
    client = ClusterClient.from_settings()
    routes = list(
        Route.objects.filter(desired_state=DesiredState.PRESENT, applied_generation__gt=0)
        .exclude(status=RouteStatus.DELETED)
        .select_related("team")
    )
    changed = 0
    for namespace in sorted({r.namespace for r in routes}):
        live = {
            (o["metadata"].get("labels") or {}).get(manifests.LABEL_ROUTE_UUID): o
            for o in client.list(
                manifests.GATEWAY_API, "HTTPRoute", namespace, manifests.selector()
            )
        }
        here = [r for r in routes if r.namespace == namespace]
        routers = _routers(client, namespace, here)
        for route in here:
            obj = live.get(str(route.uuid))
            if obj is None:
                services.enqueue_reapply(route)
                continue
            observed = manifests.status_from(obj)
            if route.policy == RoutePolicy.COMPLEXITY:
                observed = complexity.router_status(observed, routers.get(str(route.uuid)))
            if observed and services.record_route_observed(route.pk, route.generation, *observed):
                changed += 1
    return changed


def _routers(client, namespace: str, routes: list[Route]) -> dict[str, dict]:
    """The router Deployments of the namespace's complexity routes, by route uuid (one list)."""
    if not any(r.policy == RoutePolicy.COMPLEXITY for r in routes):
        return {}
    return {
        (o["metadata"].get("labels") or {}).get(manifests.LABEL_ROUTE_UUID): o
        for o in client.list("apps/v1", "Deployment", namespace, manifests.selector())
    }
