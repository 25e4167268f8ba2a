"""The one check that keeps a route's member endpoints alive: deployments.services calls it
before stopping or deleting an endpoint, so the web UI, the API and the admin all get it."""

from .choices import DesiredState, EndpointStatus
from .errors import InvalidTransition
from .models import Endpoint
from .route_models import Route


class RouteInUse(InvalidTransition):
    """A member endpoint cannot be stopped or deleted while a live route sends traffic to it."""


def live_routes_using(endpoint: Endpoint) -> list[Route]:
    return list(
        Route.objects.filter(tiers__endpoint=endpoint, desired_state=DesiredState.PRESENT)
        .exclude(status=EndpointStatus.DELETED)
        .select_related("team")
        .order_by("name")
    )


def refuse_if_routed(endpoint: Endpoint, action: str) -> None:
    """Raise RouteInUse when a live route uses `endpoint` (every face calls this via services)."""
    routes = live_routes_using(endpoint)
    if routes:
        names = ", ".join(r.name for r in routes)
        raise RouteInUse(
            f"Cannot {action} {endpoint.name}: route {names} sends traffic to it. "
            "Delete the route (or remove this tier) first."
        )
