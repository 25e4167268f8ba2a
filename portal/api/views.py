from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from ..access import teams_for_user
from .serializers import MembershipSerializer, TeamSerializer


@extend_schema_view(
    list=extend_schema(summary="Your teams (all teams for staff)"),
    retrieve=extend_schema(summary="Get a team with its quota and settings"),
)
class TeamViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = TeamSerializer
    lookup_field = "uuid"
    filterset_fields = ["slug"]

    def get_queryset(self):
        return (
            teams_for_user(self.request.user)
            .prefetch_related("gpu_quotas__gpu_type", "approval_gpu_types")
            .order_by("name")
        )

    @extend_schema(
        summary="The team's members and their roles",
        responses=MembershipSerializer(many=True),
        filters=False,
    )
    @action(detail=True, methods=["get"], pagination_class=None)
    def members(self, request, uuid=None):
        team = self.get_object()
        memberships = team.memberships.select_related("user").order_by("user__username")
        return Response(MembershipSerializer(memberships, many=True).data)
