"""REST: routes. Team-scoped through portal.access (outsiders get 404, viewers 403);
create, approve and delete answer 202 (the cluster follows asynchronously)."""

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.response import Response

from deployments.routing import reconcile, services
from deployments.routing.api.serializers import RouteSerializer
from deployments.routing.manifests import ManifestError
from deployments.routing.models import Route
from deployments.workloads.api import TeamWorkloadViewSet, call_service
from portal.models import AuditLog

API = AuditLog.Source.API


@extend_schema_view(
    list=extend_schema(summary="List the model routes of your teams"),
    retrieve=extend_schema(summary="Get a model route"),
    create=extend_schema(
        summary="Request a model route",
        description="One OpenAI-compatible URL in front of two or three of the team's "
        "endpoints (roles small, large, fallback), rendered for Envoy Gateway. A team admin's "
        "request is applied at once, a member's waits for approval. Answers 202.",
        responses={
            202: RouteSerializer,
            404: OpenApiResponse(description="A tier's endpoint is not one of yours."),
        },
    ),
    destroy=extend_schema(summary="Delete a model route", responses={202: RouteSerializer}),
)
class RouteViewSet(TeamWorkloadViewSet):
    model = Route
    plural = "routes"
    queryset = Route.objects.none()
    serializer_class = RouteSerializer

    def with_related(self, qs):
        return qs.select_related("team").prefetch_related("tiers__endpoint__team")

    def request_workload(self, team, user, data, source):
        return services.request_route(team, user, data, source=source)

    def delete_workload(self, route, user, source):
        return services.delete_route(route, user, source=source)

    @extend_schema(
        summary="Approve a pending route", request=None, responses={202: RouteSerializer}
    )
    @action(detail=True, methods=["post"])
    def approve(self, request, uuid=None):
        route = call_service(services.approve_route, self.get_object(), request.user, source=API)
        return self.accepted(route)

    @extend_schema(
        summary="The exact Envoy Gateway objects applied for this route",
        responses={200: OpenApiResponse(description="A list of Kubernetes objects.")},
    )
    @action(detail=True, methods=["get"])
    def manifests(self, request, uuid=None):
        route = self.get_object()
        try:
            objects = reconcile.rendered(route)
        except ManifestError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return Response(objects)
