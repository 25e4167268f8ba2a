"""REST: endpoints (CRUD + day-2 actions + events) and approvals.

Every queryset is team-scoped through portal.access; outsiders get 404, viewers 403.
Changes are asynchronous: they answer 202 with the endpoint as it is now.
"""

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from deployments.endpoints import admission, services
from deployments.endpoints.api.serializers import (
    EndpointEventSerializer,
    EndpointRejectSerializer,
    EndpointScaleSerializer,
    EndpointSerializer,
)
from deployments.endpoints.filters import EndpointFilterSet
from deployments.endpoints.models import Endpoint
from deployments.workloads.api import TeamWorkloadViewSet, call_service, require_decider
from portal.access import scope_to_user
from portal.api.lean import LeanList
from portal.models import AuditLog

API = AuditLog.Source.API


ACCEPTED = {202: EndpointSerializer}
# What EndpointSerializer reads: loaded with the endpoint so the answer costs no more queries.
# The catalog rows are joined, the two users prefetched (one small query each): with all six
# joined PostgreSQL spent 20-50 ms planning each page, with these four ~1.6 ms (bench/api_list.py).
ENDPOINT_RELATED = ("team", "model", "gpu_type", "offering")
ENDPOINT_PREFETCH = ("requested_by", "approved_by")
# The list reads the rest by subqueries (portal.api.lean): the team is joined for the ordering.
ENDPOINT_LIST_JOINED = ("team",)


def accepted(endpoint: Endpoint, context: dict) -> Response:
    """202 with the endpoint as stored now, read again by pk (the caller checked access)."""
    endpoint = (
        Endpoint.objects.select_related(*ENDPOINT_RELATED)
        .prefetch_related(*ENDPOINT_PREFETCH)
        .get(pk=endpoint.pk)
    )
    return Response(
        EndpointSerializer(endpoint, context=context).data, status=status.HTTP_202_ACCEPTED
    )


@extend_schema_view(
    list=extend_schema(
        summary="List the endpoints of your teams",
        description="Deleted endpoints are hidden unless `include_deleted=true` "
        "or `status=deleted`.",
    ),
    retrieve=extend_schema(summary="Get an endpoint"),
    create=extend_schema(
        summary="Request an endpoint",
        description="Validates, checks quota and prices the request. Within the team's rules it is "
        "approved at once and deployment starts; otherwise it waits for a team admin "
        "(see /approvals/). Answers 202: deployment is asynchronous, poll the endpoint. "
        "A second request with the same team and name answers 400.",
        responses=ACCEPTED,
    ),
    partial_update=extend_schema(
        summary="Change an endpoint's spec",
        description="Model, precision, context, GPUs, replicas, capacity or schedule. A new "
        "generation rolls out asynchronously (202). Team and name cannot change.",
        responses=ACCEPTED,
    ),
    destroy=extend_schema(
        summary="Delete an endpoint",
        description="Marks it absent; the cluster objects are removed "
        "asynchronously. Answers 202 with the endpoint.",
        responses=ACCEPTED,
    ),
)
class EndpointViewSet(mixins.UpdateModelMixin, TeamWorkloadViewSet):
    model = Endpoint
    plural = "endpoints"
    queryset = Endpoint.objects.none()  # for the schema; get_queryset() is per user
    serializer_class = EndpointSerializer
    filterset_class = EndpointFilterSet
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def with_related(self, qs):
        if self.action == "list" and self.lean() is not None:
            # values() rows (portal.api.lean): no instances to join or prefetch for, and a
            # select_related is deep-copied by each of the list's ~10 clones of the queryset.
            return qs
        return qs.select_related(*ENDPOINT_RELATED).prefetch_related(*ENDPOINT_PREFETCH)

    def lean(self) -> LeanList | None:
        return LeanList.for_serializer(self.get_serializer_class(), joined=ENDPOINT_LIST_JOINED)

    def request_workload(self, team, user, data, source):
        return services.request_endpoint(team, user, data, source=source)

    def delete_workload(self, endpoint, user, source):
        return services.delete_endpoint(endpoint, user, source=source)

    def created(self, endpoint, serializer) -> Response:
        """The service saved the endpoint with every related row loaded: answered as is (no
        re-fetch, no second serializer)."""
        serializer.instance = endpoint
        return Response(serializer.data, status=status.HTTP_202_ACCEPTED)

    def list(self, request, *args, **kwargs):
        """The page from values() rows through the serializer's own fields (portal.api.lean):
        the same JSON as EndpointSerializer(many=True), without building ~250 model instances."""
        lean = self.lean()
        if lean is None:
            return super().list(request, *args, **kwargs)
        rows = lean.rows(self.filter_queryset(self.get_queryset()))
        page = self.paginate_queryset(rows)
        if page is None:
            return Response(lean.represent(rows))
        return self.get_paginated_response(lean.represent(page))

    def filter_queryset(self, queryset):
        # Filters (and hiding deleted endpoints) apply to the list; a deleted endpoint's
        # detail and events stay readable by UUID.
        return super().filter_queryset(queryset) if self.action == "list" else queryset

    def update(self, request, *args, **kwargs):
        endpoint = self.get_object()
        serializer = self.get_serializer(endpoint, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        changes = {k: v for k, v in serializer.validated_data.items() if k not in ("team", "name")}
        call_service(services.update_endpoint, self.get_object(), request.user, changes, source=API)
        return self.accepted(endpoint)

    @extend_schema(
        summary="Scale between min and max replicas",
        request=EndpointScaleSerializer,
        responses=ACCEPTED,
    )
    @action(detail=True, methods=["post"])
    def scale(self, request, uuid=None):
        endpoint = self.get_object()
        serializer = EndpointScaleSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        call_service(
            services.scale_endpoint, endpoint, request.user, source=API, **serializer.validated_data
        )
        return self.accepted(endpoint)

    @extend_schema(summary="Stop (scale to zero, keep the spec)", request=None, responses=ACCEPTED)
    @action(detail=True, methods=["post"])
    def stop(self, request, uuid=None):
        return self.act(services.stop_endpoint)

    @extend_schema(summary="Start a stopped endpoint", request=None, responses=ACCEPTED)
    @action(detail=True, methods=["post"])
    def start(self, request, uuid=None):
        return self.act(services.start_endpoint)

    @extend_schema(
        summary="The endpoint's timeline, newest first",
        responses=EndpointEventSerializer(many=True),
        filters=False,
    )
    @action(detail=True, methods=["get"], pagination_class=None)
    def events(self, request, uuid=None):
        endpoint = self.get_object()
        events = endpoint.events.select_related("actor")[:200]
        return Response(EndpointEventSerializer(events, many=True).data)


@extend_schema_view(
    list=extend_schema(
        summary="Requests waiting for a decision you can take",
        description="Team admins see their teams' pending requests; staff see all.",
    ),
    retrieve=extend_schema(summary="Get a pending request"),
)
class ApprovalViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    queryset = Endpoint.objects.none()  # for the schema; get_queryset() is per user
    serializer_class = EndpointSerializer
    lookup_field = "uuid"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Endpoint.objects.none()
        if self.action in ("approve", "reject"):
            return scope_to_user(Endpoint.objects.select_related("team"), self.request.user)
        return (
            admission.pending_approvals_for(self.request.user)
            .select_related("offering", "approved_by")
            .order_by("created_at")
        )

    def _decide(self, func, **kwargs) -> Response:
        endpoint = self.get_object()
        require_decider(self.request.user, endpoint)
        endpoint = call_service(func, endpoint, self.request.user, source=API, **kwargs)
        return accepted(endpoint, self.get_serializer_context())

    @extend_schema(
        summary="Approve a pending request (deployment starts)",
        request=None,
        responses={
            202: EndpointSerializer,
            409: OpenApiResponse(description="Not pending any more."),
        },
    )
    @action(detail=True, methods=["post"])
    def approve(self, request, uuid=None):
        return self._decide(services.approve_endpoint)

    @extend_schema(
        summary="Reject a pending request",
        request=EndpointRejectSerializer,
        responses={
            202: EndpointSerializer,
            409: OpenApiResponse(description="Not pending any more."),
        },
    )
    @action(detail=True, methods=["post"])
    def reject(self, request, uuid=None):
        serializer = EndpointRejectSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return self._decide(services.reject_endpoint, reason=serializer.validated_data["reason"])
