"""Month-to-date spend for the budget rule of a request (every product's admission reads it).

Billing measures what a team spent; it sits above deployments, so it registers its function
here at start-up (``BillingConfig.ready``) instead of deployments importing billing. Without a
registered source the spend is unknown and the budget rule fails closed: `month_to_date_spend`
raises `SpendUnknown` (never a silent $0).
"""

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

from django.utils import timezone

from deployments.workloads.errors import SpendUnknown
from portal.models import Team
from portal.timeutil import month_start, next_month

SpendSource = Callable[[Team, datetime], Decimal]

_source: SpendSource | None = None


def register_spend_source(source: SpendSource) -> None:
    global _source
    _source = source


def month_to_date_spend(team: Team, now: datetime) -> Decimal:
    if _source is None:
        raise SpendUnknown(
            "The team's spend this month is unknown (no spend source is registered), so the "
            "budget cannot be checked."
        )
    return _source(team, now)


def projected_month_cost(
    team: Team, monthly_cost: Decimal, now: datetime | None = None
) -> tuple[Decimal, Decimal]:
    """(spent so far, projected month total) if endpoints costing ``monthly_cost`` per month
    (this calendar month's cost) keep running until the month ends: the month's cost times the
    share of the month left."""
    now = now or timezone.now()
    spent = month_to_date_spend(team, now)
    return spent, project_month(spent, monthly_cost, now)


def project_month(spent: Decimal, monthly_cost: Decimal, now: datetime) -> Decimal:
    """The month's projected total: `spent` so far plus `monthly_cost` (this calendar month's
    cost) for the share of the month left."""
    whole = Decimal((next_month(now) - month_start(now)).total_seconds())
    remaining = Decimal(str((next_month(now) - now).total_seconds()))
    return spent + monthly_cost * remaining / whole
