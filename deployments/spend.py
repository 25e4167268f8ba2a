"""Month-to-date spend for the budget rule of a request, and the committed run-rate.

Billing measures what a team spent; it sits above deployments, so it registers its function
here at start-up (``BillingConfig.ready``) instead of deployments importing billing. Without a
registered source the spend so far counts as zero (nothing was measured).
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import F, Sum
from django.utils import timezone

from portal.models import Team
from portal.timeutil import month_start, next_month

from .choices import ACTIVE_STATUSES, DesiredState
from .models import Endpoint

SpendSource = Callable[[Team, datetime], Decimal]

_source: SpendSource | None = None


def register_spend_source(source: SpendSource) -> None:
    global _source
    _source = source


def month_to_date_spend(team: Team, now: datetime) -> Decimal:
    return _source(team, now) if _source is not None else Decimal("0")


def projected_month_cost(
    team: Team, monthly_cost: Decimal, now: datetime | None = None
) -> tuple[Decimal, Decimal]:
    """(spent so far, projected month total) if endpoints costing ``monthly_cost`` per month
    (this calendar month's cost) keep running until the month ends: the month's cost times the
    share of the month left."""
    now = now or timezone.now()
    spent = month_to_date_spend(team, now)
    whole = Decimal((next_month(now) - month_start(now)).total_seconds())
    remaining = Decimal(str((next_month(now) - now).total_seconds()))
    return spent, spent + monthly_cost * remaining / whole


@dataclass(frozen=True)
class Commitment:
    """What a team's live endpoints commit to per month, from their estimates (this month's
    calendar and schedule, deployments.estimates): the overview and the team cost page show
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
