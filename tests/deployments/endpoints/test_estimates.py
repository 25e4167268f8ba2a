"""deployments.endpoints.estimates: an off-hours schedule lowers the month's estimate. The expected
figures are worked out in the test from the calendar and the price (Decimal)."""

from datetime import UTC, datetime, time
from decimal import Decimal

import pytest

from catalog.models import InstanceOffering
from catalog.pricing import OfferingPrice
from deployments.endpoints.estimates import monthly_cost

pytestmark = pytest.mark.dates

MARCH = datetime(2026, 3, 10, 12, tzinfo=UTC)  # any instant in March 2026 (744 h)
PRICE = OfferingPrice(
    InstanceOffering(instance_type="t-g6.xlarge", gpus_per_node=1), "on-demand", Decimal("0.80")
)
CENT = Decimal("0.01")


def _spec(**extra):
    return {"gpu_count": 1, "min_replicas": 1, "max_replicas": 2, **extra}


OFFICE = {
    "schedule_enabled": True,
    "schedule_timezone": "Europe/Berlin",
    "schedule_start": time(8),
    "schedule_end": time(19),
    "schedule_weekdays_only": True,
}


def test_always_on_costs_the_real_month_length():
    cost = monthly_cost(PRICE, _spec(), MARCH)
    assert cost.minimum == cost.always_on_min == Decimal("595.20")  # 0.80 x 744 h
    assert cost.maximum == Decimal("1190.40") and not cost.scheduled
    assert cost.saving_min == cost.saving_max == 0


def test_weekday_office_hours_cost_only_the_working_hours_plus_the_pre_warm():
    # a 10 min cold start -> a 10 min pre-warm; 22 weekdays in March 2026 x 11 h 10 min
    hours = Decimal(22) * (Decimal(11) + Decimal(10) / Decimal(60))
    cost = monthly_cost(PRICE, _spec(**OFFICE), MARCH, cold_start=600)
    assert cost.scheduled and cost.running_seconds == 22 * (11 * 3600 + 600)
    assert cost.minimum == (Decimal("0.80") * hours).quantize(CENT) == Decimal("196.53")
    assert cost.maximum == (Decimal("0.80") * 2 * hours).quantize(CENT)
    assert cost.always_on_min == Decimal("595.20")
    assert cost.saving_min == Decimal("595.20") - Decimal("196.53")


def test_every_day_schedule_in_november():
    # November 2026: 30 days, Berlin on CET all month: 08:00-19:00 daily, 5 min pre-warm
    november = datetime(2026, 11, 3, tzinfo=UTC)
    spec = _spec(**{**OFFICE, "schedule_weekdays_only": False})
    cost = monthly_cost(PRICE, spec, november, cold_start=60)
    assert cost.running_seconds == 30 * (11 * 3600 + 5 * 60)
    assert cost.always_on_min == Decimal("576.00")  # 0.80 x 720 h


def test_zero_min_replicas_with_a_schedule_still_holds_one_replica_in_working_hours():
    # the cron trigger holds max(min_replicas, 1): that replica is what the schedule costs
    cost = monthly_cost(PRICE, _spec(min_replicas=0, **OFFICE), MARCH, cold_start=600)
    assert cost.always_on_min == 0
    assert cost.minimum == (Decimal("0.80") * 22 * (Decimal(11) + Decimal(1) / 6)).quantize(CENT)


def test_an_incomplete_schedule_is_costed_always_on():
    cost = monthly_cost(PRICE, _spec(schedule_enabled=True, schedule_timezone=""), MARCH)
    assert not cost.scheduled and cost.minimum == Decimal("595.20")


@pytest.mark.parametrize(
    "month, hours",
    [(datetime(2026, 2, 1, tzinfo=UTC), 672), (datetime(2028, 2, 1, tzinfo=UTC), 696)],
)
def test_february_and_leap_years(month, hours):
    assert monthly_cost(PRICE, _spec(), month).always_on_min == Decimal("0.80") * hours
