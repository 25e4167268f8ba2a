"""REST under /api/v1/chargeback/: usage rows, statements, a team's month, the platform's month.

Team-scoped through portal.access (outsiders get 404); the platform view is staff only.
"""

from django.conf import settings
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers, viewsets
from rest_framework.permissions import IsAdminUser
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.access import scope_to_user, teams_for_user

from .. import reports
from ..filters import MONTH_SCHEMA, StatementFilterSet, UsageRecordFilterSet
from ..models import ChargebackStatus, Statement, UsageRecord
from .serializers import (
    PlatformCostsSerializer,
    StatementSerializer,
    TeamCostsSerializer,
    UsageRecordSerializer,
)

MONTH = OpenApiParameter("month", MONTH_SCHEMA, description="YYYY-MM (default: this month)")


class _Tagged:
    """A Tally with extra attributes (key, names) for the serializers."""

    def __init__(self, tally, **extra):
        self._tally, self.__dict__["extra"] = tally, extra

    def __getattr__(self, name):
        extra = self.__dict__["extra"]
        return extra[name] if name in extra else getattr(self._tally, name)


def month_param(request):
    month = request.query_params.get("month")
    if month == "":  # given empty is not "left out" (portal.api.query reads filters the same)
        raise serializers.ValidationError({"month": ["Give a month (YYYY-MM) or leave it out."]})
    try:
        return reports.parse_month(month, timezone.now())
    except ValueError as exc:
        raise serializers.ValidationError({"month": [str(exc)]}) from exc


@extend_schema_view(
    list=extend_schema(
        summary="Hourly GPU usage rows of your teams",
        description="One row per hour, team, endpoint, instance type and capacity type; "
        "idle rows (kind=idle) are visible to staff only.",
    ),
    retrieve=extend_schema(summary="One usage row"),
)
class UsageRecordViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = UsageRecordSerializer
    filterset_class = UsageRecordFilterSet

    def get_queryset(self):
        qs = UsageRecord.objects.select_related("team", "endpoint").order_by(
            "-hour", "team_key", "endpoint_key"
        )
        if self.request.user.is_staff:
            return qs
        return scope_to_user(qs.filter(team__isnull=False), self.request.user)


@extend_schema_view(
    list=extend_schema(
        summary="Monthly statements of your teams",
        description="Immutable. A re-opened and re-closed month has several versions; "
        "`latest=true` keeps the current one.",
    ),
    retrieve=extend_schema(summary="One statement with its lines"),
)
class StatementViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = StatementSerializer
    filterset_class = StatementFilterSet
    lookup_field = "uuid"

    def get_queryset(self):
        qs = Statement.objects.select_related("team", "chargeback").order_by(
            "-month", "team__name", "-version"
        )
        return scope_to_user(qs, self.request.user)


class TeamCostsView(APIView):
    @extend_schema(
        summary="A team's costs for a month", parameters=[MONTH], responses=TeamCostsSerializer
    )
    def get(self, request, slug):
        team = get_object_or_404(teams_for_user(request.user), slug=slug)
        summary = reports.team_month(team, month_param(request), timezone.now())
        data = {
            "team": team.slug,
            "month": f"{summary.month:%Y-%m}",
            "currency": settings.BILLING_CURRENCY,
            "is_current_month": summary.is_current,
            "spent": summary.spent,
            "idle_share_cost": summary.idle_share,
            "forecast": summary.forecast,
            "budget": summary.budget,
            "budget_alert_threshold": summary.alert.threshold if summary.alert else None,
            "total": summary.total,
            "endpoints": [
                _Tagged(t, key=key, endpoint_uuid=ep.uuid if ep else None)
                for key, ep, t in summary.endpoints
            ],
            "offerings": [
                _Tagged(t, gpu_type=k[0], instance_type=k[1], capacity_type=k[2])
                for k, t in summary.offerings
            ],
            "days": [{"day": d.date(), "cost": c} for d, c in summary.days],
            "reference_price": summary.reference.name if summary.reference else None,
            "reference_cost": summary.reference_cost,
        }
        return Response(TeamCostsSerializer(data).data)


class PlatformCostsView(APIView):
    permission_classes = [IsAdminUser]

    @extend_schema(
        summary="Every team's costs, the idle pool and spot share (staff)",
        parameters=[MONTH],
        responses=PlatformCostsSerializer,
    )
    def get(self, request):
        summary = reports.platform_month(month_param(request), timezone.now())
        chargeback = summary.chargeback
        data = {
            "month": f"{summary.month:%Y-%m}",
            "currency": settings.BILLING_CURRENCY,
            "idle_policy": summary.report.idle_policy,
            "status": chargeback.status if chargeback else ChargebackStatus.OPEN,
            "version": chargeback.version if chargeback else 1,
            "total_cost": summary.total_cost,
            "spot_share": summary.spot_share,
            "allocated": summary.allocated,
            "idle": summary.report.idle,
            "teams": [
                _Tagged(
                    t, key=key, in_portal=team is not None, idle_share_cost=share, total_cost=total
                )
                for key, team, t, share, total in summary.teams
            ],
            "unpriced": [
                {"instance_type": it, "capacity_type": ct, "gpu_seconds": s}
                for (it, ct), s in summary.report.unpriced_items
            ],
        }
        return Response(PlatformCostsSerializer(data).data)
