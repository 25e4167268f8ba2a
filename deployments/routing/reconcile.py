"""Load -> call -> record for routes (the tasks are one line each over these)."""

from __future__ import annotations

import logging

from ..choices import DesiredState, EndpointStatus
from ..errors import PermanentClusterError
from ..k8s import ClusterClient, cluster_configured
from ..manifests import ManifestError
from ..route_models import Route
from . import manifests, services

log = logging.getLogger(__name__)

APPLYING = (
    EndpointStatus.APPROVED,
    EndpointStatus.PROVISIONING,
    EndpointStatus.READY,
    EndpointStatus.FAILED,
    EndpointStatus.DELETING,
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
        .exclude(status=EndpointStatus.DELETED)
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
        for route in (r for r in routes if r.namespace == namespace):
            obj = live.get(str(route.uuid))
            if obj is None:
                services.enqueue_reapply(route)
                continue
            observed = manifests.status_from(obj)
            if observed and services.record_route_observed(route.pk, route.generation, *observed):
                changed += 1
    return changed
