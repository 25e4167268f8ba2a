"""Cost per 1M tokens of one endpoint over a window (deployments.endpoints.unit_cost): the
replicas' price in force x window hours / (prompt + generated tokens) x 1e6, to the cent."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from catalog.pricing import current_rates
from deployments.endpoints import unit_cost
from tests.factories import EndpointFactory, GpuRateFactory, InstanceOfferingFactory


def test_cost_and_cost_per_million_are_the_window_hours_at_the_price_over_the_tokens():
    priced = unit_cost.unit_cost(Decimal("0.8"), tokens=12_345, seconds=900.0)
    assert priced.cost == Decimal("0.20")  # 0.8 x 0.25 h
    assert priced.per_million == Decimal("16.20")  # 0.2 x 1e6 / 12,345 = 16.2009...
    assert priced.tokens == 12_345


def test_no_tokens_or_no_price_leaves_the_figure_unpriced():
    assert unit_cost.unit_cost(Decimal("0.8"), tokens=0, seconds=60.0).per_million is None
    nothing = unit_cost.unit_cost(None, tokens=100, seconds=60.0)
    assert nothing.cost is None and nothing.per_million is None


def test_window_tokens_are_prompt_and_generated_rates_over_the_window():
    figures = {"prompt_tokens_per_s": 1.5, "generation_tokens_per_s": 2.25, "requests": 3}
    assert unit_cost.window_tokens(figures, 100.0) == 375
    assert unit_cost.window_tokens({"prompt_tokens_per_s": None}, 100.0) == 0


@pytest.mark.django_db
def test_hourly_price_is_the_gpu_share_of_the_node_rate_for_the_floor_of_replicas():
    offering = InstanceOfferingFactory(gpus_per_node=4)
    GpuRateFactory(offering=offering, capacity_type="spot", hourly_price=Decimal("4.0000"))
    GpuRateFactory(offering=offering, capacity_type="spot", hourly_price=Decimal("8.0000"),
                   effective_from=timezone.now() + timedelta(days=1))  # fmt: skip
    ep = EndpointFactory(offering=offering, gpu_type=offering.gpu_type, gpu_count=2,
                         min_replicas=3, max_replicas=4, capacity_type="spot")  # fmt: skip
    assert unit_cost.hourly_price(ep, current_rates()) == Decimal("6")  # 4 / 4 x 2 GPUs x 3
    ep.min_replicas = 0  # scaled to zero at the floor: one replica still priced
    assert unit_cost.hourly_price(ep, current_rates()) == Decimal("2")
    ep.capacity_type = "on-demand"  # no on-demand rate for this offering
    assert unit_cost.hourly_price(ep, current_rates()) is None
