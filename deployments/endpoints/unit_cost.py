"""What an endpoint's tokens cost per 1M over a window: the route saving's method
(deployments.routing.saving) for one endpoint, shown on its Metrics tab and in
GET /api/v1/endpoints/{uuid}/metrics/.

Method (pure, Decimal):

* replica price per hour = the node price in force at the window end for the endpoint's
  offering and capacity type / GPUs per node x GPUs per replica (catalog.pricing);
* cost = replica price per hour x replicas held (the endpoint's floor, at least 1) x window
  hours;
* tokens = prompt + generated tokens over the window (the exact counter increases of
  metrics.window_summary, as rates x window seconds);
* cost per 1M tokens = cost / tokens x 1e6, to the cent.

None where it cannot be priced (no offering, no rate in force, no tokens in the window).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from catalog import pricing

MILLION = Decimal(1_000_000)
SECONDS_PER_HOUR = Decimal(3600)


@dataclass(frozen=True)
class UnitCost:
    tokens: int
    cost: Decimal | None  # to the cent
    per_million: Decimal | None  # to the cent


def hourly_price(endpoint, rates: dict) -> Decimal | None:
    """What the endpoint's floor of replicas (at least one) costs per hour at ``rates``
    (catalog.pricing.current_rates); None without an offering or a rate in force."""
    if endpoint.offering is None:
        return None
    node = rates.get((endpoint.offering_id, str(endpoint.capacity_type)))
    if node is None:
        return None
    per_gpu = node / endpoint.offering.gpus_per_node
    return per_gpu * endpoint.gpu_count * max(1, endpoint.min_replicas)


def window_tokens(figures: dict, seconds: float) -> int:
    """Prompt + generated tokens of a window from its figures (rates over ``seconds``)."""
    per_s = (figures.get("prompt_tokens_per_s") or 0) + (
        figures.get("generation_tokens_per_s") or 0
    )
    return round(per_s * seconds)


def unit_cost(hourly: Decimal | None, tokens: int, seconds: float) -> UnitCost:
    if hourly is None:
        return UnitCost(tokens, None, None)
    cost = hourly * Decimal(str(seconds)) / SECONDS_PER_HOUR
    per_million = pricing.to_cents(cost * MILLION / tokens) if tokens else None
    return UnitCost(tokens, pricing.to_cents(cost), per_million)


def endpoint_unit_cost(endpoint, figures: dict, seconds: float, at=None) -> UnitCost:
    """The endpoint's cost and cost per 1M tokens over a window of ``seconds`` ending ``at``."""
    rates = pricing.current_rates(at)
    return unit_cost(hourly_price(endpoint, rates), window_tokens(figures, seconds), seconds)
