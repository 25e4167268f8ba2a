"""The deployments app's models, one module per product; Django loads them from here.

The tables keep their names (`deployments_endpoint`, `deployments_batchjob`, `deployments_route`
...): every product's models belong to the one `deployments` app.
"""

from deployments.batch.models import BatchJob, BatchJobEvent
from deployments.endpoints.models import ColdStart, Endpoint, EndpointEvent, ModelCache
from deployments.routing.models import Route, RouteTier, SemanticRouterSettings

__all__ = [
    "BatchJob",
    "BatchJobEvent",
    "ColdStart",
    "Endpoint",
    "EndpointEvent",
    "ModelCache",
    "Route",
    "RouteTier",
    "SemanticRouterSettings",
]
