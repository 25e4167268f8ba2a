"""deployments.endpoints.node_cost: the node's own capacity type picks the price on the timeline
(a spot endpoint that fell back to on-demand shows and pays on-demand)."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from deployments.endpoints.node_cost import cost_sentence, node_capacity, node_price
from tests.factories import GpuRateFactory, InstanceOfferingFactory

pytestmark = [pytest.mark.django_db, pytest.mark.dates]
SINCE = datetime(2025, 1, 1, tzinfo=UTC)  # the rates in force from then on
AT = datetime(2026, 3, 10, 12, tzinfo=UTC)


def _node(name="n-1", **labels):
    return {"metadata": {"name": name, "labels": labels}}


def _karpenter(capacity, instance="g6e.xlarge"):
    return _node(
        **{"karpenter.sh/capacity-type": capacity, "node.kubernetes.io/instance-type": instance}
    )


@pytest.fixture
def priced(settings):
    settings.BILLING_CURRENCY = "USD"
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


def test_the_capacity_type_comes_from_karpenters_label_then_the_eks_one():
    assert node_capacity(_karpenter("spot")) == ("g6e.xlarge", "spot")
    eks = _node(**{"eks.amazonaws.com/capacityType": "ON_DEMAND"})
    assert node_capacity(eks) == ("", "on-demand")
    assert node_capacity(_node()) == ("", "")
    assert node_capacity(None) == ("", "")


def test_the_node_price_follows_the_nodes_capacity_type(priced):
    assert node_price(_karpenter("spot"), AT) == ("g6e.xlarge", "spot", Decimal("0.7444"))
    assert node_price(_karpenter("on-demand"), AT) == ("g6e.xlarge", "on-demand", Decimal("1.8610"))
    assert node_price(_node(), AT) == ("", "", None)


def test_the_timeline_says_the_spot_price_for_a_spot_node(priced):
    said = cost_sentence("chat-0", "spot", _karpenter("spot"), AT)
    assert said == "Replica chat-0 runs on spot node n-1 (g6e.xlarge): $0.74/h, the spot price."


def test_a_spot_endpoint_on_an_on_demand_node_is_said_to_pay_on_demand(priced):
    said = cost_sentence("chat-0", "spot", _karpenter("on-demand"), AT)
    assert "$1.86/h, the on-demand price" in said
    assert "The endpoint asked for spot; it is billed as on-demand." in said


def test_an_unpriced_node_says_so_and_a_node_without_capacity_says_nothing(priced):
    said = cost_sentence("chat-0", "on-demand", _karpenter("spot", "p5.48xlarge"), AT)
    assert said.endswith("the catalog has no spot price for it. The endpoint asked for on-demand;"
                         " it is billed as spot.")  # fmt: skip
    assert cost_sentence("chat-0", "spot", _node(), AT) == ""
