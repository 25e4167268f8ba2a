"""Routes as a product of the one apply/sync driver (deployments.driver).

apply
    server-side apply the route's objects (HTTPRoute, Backends, policies, and for a complexity
    route its Semantic Router), or delete every object a route may own once it is ABSENT;
    without a cluster a wanted route is Not deployed (rendered all the same, so a route that
    cannot be rendered fails at once).
sync
    one label-selected list of HTTPRoutes per namespace (plus the router Deployments when the
    namespace has a complexity route); a missing HTTPRoute is applied again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from deployments import driver
from deployments.driver import Applied, Missing
from deployments.endpoints.manifests import ManifestError
from deployments.k8s import ClusterClient
from deployments.routing import complexity, manifests, services
from deployments.routing.choices import RouteStatus
from deployments.routing.models import Route, RoutePolicy
from deployments.routing.names import APPLY_ROUTE, SYNC_ROUTES
from deployments.workloads.choices import DesiredState
from deployments.workloads.errors import PermanentClusterError

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
    """Apply one generation of a route; returns the driver's Outcome."""
    return driver.apply(ROUTES, route_id, generation)


def sync_routes() -> int:
    """Observe every applied route's HTTPRoute: one label-selected list per namespace."""
    return driver.sync(ROUTES)


def _by_uuid(objects: list[dict]) -> dict[str, dict]:
    return {(o["metadata"].get("labels") or {}).get(manifests.LABEL_ROUTE_UUID): o for o in objects}


class Routes(driver.Product):
    kind = "route"
    model = Route
    sync_lock = "deployments:sync-routes:running"
    apply_task, sync_task = APPLY_ROUTE, SYNC_ROUTES

    # --- apply ------------------------------------------------------------------------------

    def load(self, pk: int) -> Route | None:
        return load(pk)

    def applicable(self, route: Route) -> bool:
        return route.status in APPLYING

    def render(self, route: Route) -> list[dict]:
        try:
            return rendered(route)
        except ManifestError as exc:
            raise PermanentClusterError(str(exc)) from exc

    def push(self, client: ClusterClient, route: Route) -> Applied:
        if route.desired_state == DesiredState.ABSENT:
            for obj in manifests.deletable(route):
                client.delete(obj)
            return Applied(RouteStatus.DELETED, deleted=True)
        client.apply(self.render(route))
        return Applied(RouteStatus.PROVISIONING)

    def no_cluster(self, route: Route) -> Applied:
        if route.desired_state == DesiredState.ABSENT:
            return Applied(RouteStatus.DELETED, deleted=True)
        self.render(route)  # a route that cannot be rendered fails now, cluster or not
        return Applied(RouteStatus.NOT_DEPLOYED)

    def record_applied(self, route: Route, generation: int, applied: Applied) -> bool:
        return services.record_route_applied(
            route,
            generation,
            applied.deleted,
            cluster=applied.status != RouteStatus.NOT_DEPLOYED,
        )

    def record_failed(self, route: Route, generation: int, message: str) -> bool:
        return services.record_route_failed(route, generation, message)

    # --- sync -------------------------------------------------------------------------------

    def observable(self):
        return (
            Route.objects.filter(desired_state=DesiredState.PRESENT, applied_generation__gt=0)
            .exclude(status=RouteStatus.DELETED)
            .select_related("team")
        )

    def read(
        self, client: ClusterClient, namespace: str, routes: Sequence[Route]
    ) -> dict[int, dict[str, Any]]:
        http_routes = _by_uuid(
            client.list(manifests.GATEWAY_API, "HTTPRoute", namespace, manifests.selector())
        )
        # The router Deployments of the namespace's complexity routes (one list, if any).
        routers = (
            _by_uuid(client.list("apps/v1", "Deployment", namespace, manifests.selector()))
            if any(r.policy == RoutePolicy.COMPLEXITY for r in routes)
            else {}
        )
        return {
            r.pk: {
                "HTTPRoute": http_routes.get(str(r.uuid)),
                "Deployment": routers.get(str(r.uuid)),
            }
            for r in routes
        }

    def observe(self, route: Route, live: dict[str, Any]) -> tuple[str, str] | Missing | None:
        """Pure over `live` ({"HTTPRoute": ..., "Deployment": the router's, if any})."""
        http_route = live.get("HTTPRoute")
        if http_route is None:
            return Missing((f"HTTPRoute {route.name} was missing",))
        observed = manifests.status_from(http_route)
        if route.policy == RoutePolicy.COMPLEXITY:
            observed = complexity.router_status(observed, live.get("Deployment"))
        return observed

    def record(self, route: Route, observed: tuple[str, str]) -> bool:
        return services.record_route_observed(route, *observed)

    def repair(self, client: ClusterClient, route: Route, problems: tuple[str, ...]) -> int:
        services.enqueue_reapply(route)  # a new generation, applied like any change
        return 0


ROUTES = Routes()
