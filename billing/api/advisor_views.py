"""REST for the savings advisor: a team's and an endpoint's suggestions, dismissing one.

Team-scoped through portal.access (outsiders get 404, viewers may read but not dismiss).
"""

from datetime import timedelta

from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from deployments.models import Endpoint
from portal.access import can_write, scope_to_user, teams_for_user
from portal.api.query import boolean_param

from ..services import advisor
from .advisor_serializers import (
    DismissalSerializer,
    DismissRequestSerializer,
    SavingsSerializer,
)

INCLUDE_DISMISSED = OpenApiParameter(
    "include_dismissed",
    OpenApiTypes.BOOL,
    description="Also list dismissed suggestions under `dismissed` (default true).",
)


def _dismissal(d) -> dict | None:
    if d is None:
        return None
    return {
        "kind": d.kind,
        "endpoint": d.endpoint.uuid if d.endpoint_id else None,
        "monthly_saving": d.monthly_saving,
        "dismissed_by": d.dismissed_by.username if d.dismissed_by else None,
        "dismissed_at": d.dismissed_at,
        "hidden_until": d.dismissed_at + timedelta(days=advisor.DISMISSAL_DAYS),
    }


def _suggestion(s) -> dict:
    return {
        "kind": s.kind,
        "endpoint": s.endpoint.uuid if s.endpoint is not None else None,
        "endpoint_name": s.endpoint.name if s.endpoint is not None else None,
        "title": s.title,
        "detail": s.detail,
        "caveat": s.caveat,
        "monthly_saving": s.monthly_saving,
        "current_monthly_cost": s.current_monthly_cost,
        "proposal": s.proposal,
        "dismissal": _dismissal(s.dismissal),
    }


def _break_even(view) -> dict | None:
    if view is None:
        return None
    return {
        "reference_price": view.reference.name,
        "self_hosted_monthly": view.self_hosted_monthly,
        "api_monthly": view.api_monthly,
        "tokens_monthly": view.tokens_monthly,
        "cost_per_million": view.cost_per_million,
        "api_per_million": view.api_per_million,
        "break_even_tokens_monthly": view.break_even_tokens_monthly,
        "cheaper": view.cheaper,
        "above_rule_of_thumb": view.above_rule_of_thumb,
        "rule_of_thumb_monthly": view.rule_of_thumb,
    }


def _answer(request, advice, break_even: bool = True) -> Response:
    include = boolean_param(request, "include_dismissed", default=True)
    data = {
        "team": advice.team.slug,
        "currency": advice.currency,
        "window_start": advice.start,
        "window_end": advice.end,
        "hours": advice.hours,
        "memory_measured": advice.memory_measured,
        "total_monthly_saving": advice.total_monthly_saving,
        "suggestions": [_suggestion(s) for s in advice.suggestions],
        "dismissed": [_suggestion(s) for s in advice.dismissed] if include else [],
        "break_even": _break_even(advice.break_even) if break_even else None,
    }
    return Response(SavingsSerializer(data).data)


class TeamSavingsView(APIView):
    @extend_schema(
        summary="A team's savings suggestions with their monthly saving",
        description="From the usage rows of the last 14 days and the price table in force; "
        "dismissed ones apart. `break_even` compares the team's traffic with the default "
        "reference API price.",
        parameters=[INCLUDE_DISMISSED],
        responses=SavingsSerializer,
    )
    def get(self, request, slug):
        team = get_object_or_404(teams_for_user(request.user), slug=slug)
        return _answer(request, advisor.team_advice(team, timezone.now()))


class EndpointSavingsView(APIView):
    @extend_schema(
        summary="One endpoint's savings suggestions",
        description="The team's suggestions for this endpoint (`break_even` is team-wide: null).",
        parameters=[INCLUDE_DISMISSED],
        responses=SavingsSerializer,
    )
    def get(self, request, uuid):
        queryset = scope_to_user(Endpoint.objects.select_related("team"), request.user)
        endpoint = get_object_or_404(queryset, uuid=uuid)
        advice = advisor.team_advice(endpoint.team, timezone.now()).for_endpoint(endpoint)
        return _answer(request, advice, break_even=False)


class DismissSavingView(APIView):
    @extend_schema(
        summary="Dismiss a savings suggestion",
        description="Hidden for 90 days, or until its monthly saving moves by more than a "
        "quarter of the saving it shows now. Dismissing again renews the dismissal.",
        request=DismissRequestSerializer,
        responses={201: DismissalSerializer},
    )
    def post(self, request, slug):
        team = get_object_or_404(teams_for_user(request.user), slug=slug)
        if not can_write(request.user, team):
            raise PermissionDenied("Viewers cannot dismiss suggestions.")
        body = DismissRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        endpoint = None
        if body.validated_data.get("endpoint"):
            endpoint = get_object_or_404(Endpoint, team=team, uuid=body.validated_data["endpoint"])
        try:
            dismissal = advisor.dismiss_suggestion(
                team, request.user, body.validated_data["kind"], endpoint, timezone.now()
            )
        except advisor.AdvisorError as exc:
            raise serializers.ValidationError({"kind": [str(exc)]}) from exc
        return Response(
            DismissalSerializer(_dismissal(dismissal)).data, status=status.HTTP_201_CREATED
        )
