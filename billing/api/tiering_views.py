"""GET /api/v1/chargeback/teams/{slug}/tiering/?month=YYYY-MM: the team's monthly tiering
statement (billing/services/tiering.py), measured from the per-tier vLLM counters on request.
Prometheus not configured or failing with nothing measured before: 503."""

from django.conf import settings
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.access import teams_for_user

from ..services.tiering import as_rows, tiering_page
from .views import MONTH, month_param

MONEY = {"max_digits": 14, "decimal_places": 2, "allow_null": True}


class TierLineSerializer(serializers.Serializer):
    role = serializers.CharField()
    endpoint = serializers.CharField()
    requests = serializers.IntegerField()
    tokens = serializers.IntegerField()
    cost = serializers.DecimalField(**MONEY)
    per_million = serializers.DecimalField(**MONEY, help_text="Cost per 1M tokens of the tier.")


class RouteTieringSerializer(serializers.Serializer):
    route = serializers.CharField()
    route_uuid = serializers.UUIDField()
    policy = serializers.CharField()
    start = serializers.DateTimeField(help_text="The route's part of the month: from …")
    end = serializers.DateTimeField(help_text="… to (now, for the current month).")
    requests = serializers.IntegerField()
    tokens = serializers.IntegerField()
    cost = serializers.DecimalField(**MONEY)
    blended_per_million = serializers.DecimalField(**MONEY)
    large_alone = serializers.DecimalField(
        **MONEY, help_text="The same tokens at the large tier's cost per 1M tokens."
    )
    saving = serializers.DecimalField(**MONEY)
    saving_percent = serializers.DecimalField(max_digits=7, decimal_places=1, allow_null=True)
    tiers = TierLineSerializer(many=True)


class TeamTieringSerializer(serializers.Serializer):
    team = serializers.CharField()
    month = serializers.CharField()
    currency = serializers.CharField()
    stale = serializers.BooleanField(
        help_text="Prometheus failed: these are the last good figures."
    )
    routes = RouteTieringSerializer(many=True)


class TieringErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()


class TeamTieringView(APIView):
    @extend_schema(
        summary="A team's monthly tiering statement (per route and tier)",
        parameters=[MONTH],
        responses={
            200: TeamTieringSerializer,
            404: OpenApiResponse(description="No such team among yours"),
            503: TieringErrorSerializer,
        },
    )
    def get(self, request, slug):
        team = get_object_or_404(teams_for_user(request.user), slug=slug)
        month = month_param(request)
        page = tiering_page(team, month, timezone.now())
        if page.data is None:
            why = page.error or (
                "Prometheus is not configured"
                if page.setup == "not_configured"
                else "Prometheus is unavailable"
            )
            return Response(
                {"detail": f"The per-tier counters cannot be read: {why}."},
                status=status.HTTP_503_SERVICE_UNAVAILABLE,
            )
        body = {
            "team": team.slug,
            "month": f"{month:%Y-%m}",
            "currency": settings.BILLING_CURRENCY,
            "stale": page.stale,
            "routes": as_rows(page.data["lines"]),
        }
        return Response(TeamTieringSerializer(body).data)
