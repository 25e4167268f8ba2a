"""The saving a route makes, measured: requests and tokens per tier from the vLLM metrics (one
window_summary over the member endpoints) priced with the price in force (catalog.pricing).

Method (pure, Decimal):

* tokens of a tier = prompt + generated tokens over the window (exact counter increases);
* cost of a tier = its replica price per hour (node price in force at the window end for the
  endpoint's offering and capacity type / GPUs per node x GPUs per replica) x replicas held
  (the endpoint's floor, at least 1) x window hours;
* cost per 1M tokens of a tier = cost / tokens x 1e6; blended = sum of costs / all tokens x 1e6;
* large tier alone = all tokens x the large tier's cost per 1M tokens / 1e6;
* saving = large alone - actual, percent = saving / large alone x 100.

Figures that cannot be priced (no offering or rate, or a tier with no tokens) are None.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from catalog import pricing
from catalog.pricing import current_rates
from deployments.endpoints.metrics import window_summary
from deployments.endpoints.unit_cost import hourly_price
from deployments.routing.models import Route, TierRole
from portal.prometheus import PrometheusClient, to_unix

MILLION = Decimal(1_000_000)


@dataclass(frozen=True)
class TierUsage:
    role: str
    endpoint: str
    requests: int
    tokens: int
    hourly_price: Decimal | None  # what the tier's replicas cost per hour


@dataclass(frozen=True)
class TierFigures:
    usage: TierUsage
    cost: Decimal | None
    per_million: Decimal | None
    request_share: Decimal | None  # percent of the route's requests
    token_share: Decimal | None


@dataclass(frozen=True)
class Saving:
    tiers: list[TierFigures]
    requests: int
    tokens: int
    cost: Decimal | None
    blended_per_million: Decimal | None
    large_alone: Decimal | None
    saving: Decimal | None
    saving_percent: Decimal | None


def _share(part: int, whole: int) -> Decimal | None:
    return (Decimal(part) * 100 / whole).quantize(Decimal("0.1")) if whole else None


def compute_saving(usages: list[TierUsage], hours: Decimal) -> Saving:
    requests = sum(u.requests for u in usages)
    tokens = sum(u.tokens for u in usages)
    tiers = []
    for u in usages:
        cost = None if u.hourly_price is None else u.hourly_price * hours
        per_million = cost * MILLION / u.tokens if cost is not None and u.tokens else None
        tiers.append(
            TierFigures(
                u, cost, per_million, _share(u.requests, requests), _share(u.tokens, tokens)
            )
        )
    costs = [t.cost for t in tiers]
    total = None if None in costs or not costs else sum(costs, Decimal(0))
    large = next((t for t in tiers if t.usage.role == TierRole.LARGE), None)
    large_alone = (
        large.per_million * tokens / MILLION if large and large.per_million is not None else None
    )
    saving = large_alone - total if large_alone is not None and total is not None else None
    return Saving(
        tiers=tiers,
        requests=requests,
        tokens=tokens,
        cost=_money(total),
        blended_per_million=_money(total * MILLION / tokens)
        if total is not None and tokens
        else None,
        large_alone=_money(large_alone),
        saving=_money(saving),
        saving_percent=(saving * 100 / large_alone).quantize(Decimal("0.1"))
        if saving is not None and large_alone
        else None,
    )


def _money(value: Decimal | None) -> Decimal | None:
    return None if value is None else pricing.to_cents(value)


def route_saving(route: Route, client: PrometheusClient, start: datetime, end: datetime) -> Saving:
    """Measure the route's members over (start, end] and price them (one query per signal)."""
    tiers = sorted(
        route.tiers.select_related("endpoint__offering", "endpoint__team"),
        key=lambda t: TierRole.values.index(t.role),
    )
    keys = [(t.endpoint.namespace, t.endpoint.isvc_name) for t in tiers]
    summary = window_summary(client, keys, start, end)
    seconds = to_unix(end) - to_unix(start)
    rates = current_rates(end)
    usages = []
    for tier, key in zip(tiers, keys, strict=True):
        fig = summary.get(key) or {}
        per_s = (fig.get("prompt_tokens_per_s") or 0) + (fig.get("generation_tokens_per_s") or 0)
        usages.append(
            TierUsage(
                role=str(tier.role),
                endpoint=tier.endpoint.name,
                requests=round(fig.get("requests") or 0),
                tokens=round(per_s * seconds),
                hourly_price=hourly_price(tier.endpoint, rates),
            )
        )
    return compute_saving(usages, Decimal(seconds) / 3600)
