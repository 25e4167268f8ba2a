"""The one check that keeps a route's member endpoints alive: deployments.endpoints.services
calls it before stopping or deleting an endpoint, so the web UI, the API and the admin all get it.

Routes sit above endpoints (a route points at endpoints), so the check reads the routes through
the endpoint's reverse relation (`route_tiers`) instead of importing deployments.routing.
"""

from deployments.endpoints.choices import EndpointStatus
from deployments.endpoints.models import Endpoint
from deployments.workloads.choices import DesiredState
from deployments.workloads.errors import InvalidTransition


class RouteInUse(InvalidTransition):
    """A member endpoint cannot be stopped or deleted while a live route sends traffic to it."""


def live_routes_using(endpoint: Endpoint) -> list:
    """The live routes (not being removed, not deleted) with a tier on `endpoint`, by name."""
    tiers = (
        endpoint.route_tiers.filter(route__desired_state=DesiredState.PRESENT)
        .exclude(route__status=EndpointStatus.DELETED)
        .select_related("route__team")
        .order_by("route__name", "route_id")
    )
    routes = {tier.route_id: tier.route for tier in tiers}
    return list(routes.values())


def refuse_if_routed(endpoint: Endpoint, action: str) -> None:
    """Raise RouteInUse when a live route uses `endpoint` (every face calls this via services)."""
    routes = live_routes_using(endpoint)
    if routes:
        names = ", ".join(r.name for r in routes)
        raise RouteInUse(
            f"Cannot {action} {endpoint.name}: route {names} sends traffic to it. "
            "Delete the route (or remove this tier) first."
        )
