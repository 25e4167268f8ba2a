"""catalog.pricing.node_hourly_price: the price of the node a replica runs on, by the node's own
capacity type, at the rate in force then."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from catalog.pricing import node_hourly_price
from tests.factories import GpuRateFactory, InstanceOfferingFactory

pytestmark = [pytest.mark.django_db, pytest.mark.dates]
SINCE = datetime(2025, 1, 1, tzinfo=UTC)  # the rates in force from then on
MARCH = datetime(2026, 3, 10, 12, tzinfo=UTC)
APRIL = datetime(2026, 4, 1, tzinfo=UTC)


@pytest.fixture
def offering():
    offering = InstanceOfferingFactory(instance_type="g6e.xlarge")
    GpuRateFactory(
        offering=offering,
        capacity_type="on-demand",
        hourly_price=Decimal("1.8610"),
        effective_from=SINCE,
    )
    GpuRateFactory(
        offering=offering,
        capacity_type="spot",
        hourly_price=Decimal("0.7444"),
        effective_from=SINCE,
    )
    return offering


def test_a_spot_node_is_priced_at_the_spot_rate_and_an_on_demand_node_at_on_demand(offering):
    assert node_hourly_price("g6e.xlarge", "spot", MARCH) == Decimal("0.7444")
    assert node_hourly_price("g6e.xlarge", "on-demand", MARCH) == Decimal("1.8610")


def test_the_rate_in_force_at_the_time_is_used_not_a_later_one(offering):
    GpuRateFactory(
        offering=offering,
        capacity_type="spot",
        hourly_price=Decimal("0.9000"),
        effective_from=APRIL,
    )
    assert node_hourly_price("g6e.xlarge", "spot", MARCH) == Decimal("0.7444")
    assert node_hourly_price("g6e.xlarge", "spot", APRIL) == Decimal("0.9000")


def test_a_node_the_catalog_does_not_price_has_no_price(offering):
    assert node_hourly_price("g6e.xlarge", "reserved", MARCH) is None
    assert node_hourly_price("p5.48xlarge", "spot", MARCH) is None


def test_a_disabled_offering_prices_no_node(offering):
    offering.enabled = False
    offering.save()
    assert node_hourly_price("g6e.xlarge", "spot", MARCH) is None
