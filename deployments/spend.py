"""Month-to-date spend for the budget rule of a request.

Billing measures what a team spent; it sits above deployments, so it registers its function
here at start-up (``BillingConfig.ready``) instead of deployments importing billing. Without a
registered source the spend so far counts as zero (nothing was measured).
"""

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.utils import timezone

from portal.models import Team
from portal.timeutil import next_month

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
    (at HOURS_PER_MONTH hours) keep running until the month ends."""
    now = now or timezone.now()
    spent = month_to_date_spend(team, now)
    remaining = Decimal(str((next_month(now) - now).total_seconds())) / Decimal(3600)
    return spent, spent + monthly_cost * remaining / Decimal(settings.HOURS_PER_MONTH)
