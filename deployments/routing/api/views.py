"""REST: routes. Team-scoped through portal.access (outsiders get 404, viewers 403);
create, approve and delete answer 202 (the cluster follows asynchronously)."""

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from deployments.endpoints.api.views import call_service
from deployments.routing import reconcile, services
from deployments.routing.api.serializers import RouteSerializer
from deployments.routing.manifests import ManifestError
from deployments.routing.models import Route
from portal.access import TeamObjectPermission, can_write, scope_to_user
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
class RouteViewSet(
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    queryset = Route.objects.none()
    serializer_class = RouteSerializer
    permission_classes = [IsAuthenticated, TeamObjectPermission]
    lookup_field = "uuid"

    def get_queryset(self):
        return (
            scope_to_user(Route.objects.all(), self.request.user)
            .select_related("team")
            .prefetch_related("tiers__endpoint__team")
            .order_by("team__slug", "name")
        )

    def _accepted(self, route: Route) -> Response:
        route = self.get_queryset().get(pk=route.pk)
        return Response(self.get_serializer(route).data, status=status.HTTP_202_ACCEPTED)

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        team = serializer.validated_data.pop("team")
        if not can_write(request.user, team):
            raise PermissionDenied("Viewers cannot request routes.")
        route = call_service(
            services.request_route, team, request.user, serializer.validated_data, source=API
        )
        return self._accepted(route)

    def destroy(self, request, *args, **kwargs):
        route = call_service(services.delete_route, self.get_object(), request.user, source=API)
        return self._accepted(route)

    @extend_schema(
        summary="Approve a pending route", request=None, responses={202: RouteSerializer}
    )
    @action(detail=True, methods=["post"])
    def approve(self, request, uuid=None):
        route = call_service(services.approve_route, self.get_object(), request.user, source=API)
        return self._accepted(route)

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
