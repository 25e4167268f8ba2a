"""What a team's live endpoints commit to per month (the overview and the team cost page)."""

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import F, Sum

from deployments.endpoints.choices import ACTIVE_STATUSES
from deployments.endpoints.models import Endpoint
from deployments.workloads.choices import DesiredState
from portal.models import Team


@dataclass(frozen=True)
class Commitment:
    """What a team's live endpoints commit to per month, from their estimates (this month's
    calendar and schedule, deployments.endpoints.estimates): the overview and the team cost page show
    this one figure."""

    gpus: int  # at max replicas
    cost_min: Decimal
    cost_max: Decimal  # the run-rate the budget rule counts


def committed(team: Team) -> Commitment:
    """Σ over the team's live endpoints (not deleted, not being removed) of their estimates."""
    totals = (
        Endpoint.objects.filter(team=team, status__in=ACTIVE_STATUSES)
        .exclude(desired_state=DesiredState.ABSENT)
        .aggregate(
            gpus=Sum(F("gpu_count") * F("max_replicas")),
            cost_min=Sum("monthly_cost_min"),
            cost_max=Sum("monthly_cost_max"),
        )
    )
    zero = Decimal("0")
    return Commitment(totals["gpus"] or 0, totals["cost_min"] or zero, totals["cost_max"] or zero)
