"""Price look-ups and monthly estimates from the admin price table. Decimal only.

The one definition of "the price in force" (:func:`in_force`) and of what GPU time costs
(:func:`gpu_seconds_cost`) for the whole code base: the estimates here, billing's price table
and statements call these two.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TypeVar

from django.utils import timezone

from portal.timeutil import month_start, next_month

from . import cache
from .models import GpuRate, GpuType, InstanceOffering

CENT = Decimal("0.01")
MICRO = Decimal("0.000001")  # stored cost: UsageRecord.cost, Statement costs (6 places)
UNIT_PRICE = Decimal("0.0001")  # a price per unit (GPU-hour, 1M tokens), as GpuRate stores it
MILLION = Decimal(1_000_000)
SECONDS_PER_HOUR = 3600

T = TypeVar("T")


def this_month() -> datetime:
    """The month monthly estimates are for unless told: the current UTC month (the one seam
    tests pin, so no figure depends on the wall clock)."""
    return month_start(timezone.now())


def in_force(history: Sequence[tuple[datetime, T]], at: datetime) -> T | None:
    """The price in force at ``at``: of ``(effective_from, price)`` sorted by time, the last
    one with ``effective_from <= at`` (None before the first)."""
    found = None
    for since, value in history:
        if since > at:
            break
        found = value
    return found


def to_cents(amount: Decimal) -> Decimal:
    """The one rounding of money: to the cent (banker's rounding, as every estimate and
    statement line)."""
    return amount.quantize(CENT)


def to_micros(amount: Decimal) -> Decimal:
    """Cost at the precision it is stored and reported in (6 places: usage rows, statements,
    the chargeback JSON and CSV), with the same banker's rounding as :func:`to_cents`, so a
    closed statement and the live report of the same month print the same digits."""
    return amount.quantize(MICRO)


def to_unit_price(amount: Decimal) -> Decimal:
    """A price per unit (per GPU-hour, per 1M tokens) to 4 places, as GpuRate stores prices."""
    return amount.quantize(UNIT_PRICE)


def api_tokens_cost(
    prompt_tokens: int,
    generation_tokens: int,
    input_per_million: Decimal,
    output_per_million: Decimal,
) -> Decimal:
    """What tokens cost at a hosted API's per-1M-token prices (exact; round where shown)."""
    return (
        Decimal(prompt_tokens) * input_per_million + Decimal(generation_tokens) * output_per_million
    ) / MILLION


def per_million_tokens_cost(cost: Decimal, tokens: int) -> Decimal:
    """What ``tokens`` tokens that cost ``cost`` come to per 1M tokens, as a unit price."""
    return to_unit_price(cost * MILLION / Decimal(tokens))


def gpu_seconds_cost(node_hourly_price: Decimal, gpus_per_node: int, gpu_seconds) -> Decimal:
    """What ``gpu_seconds`` GPU-seconds on an offering cost: node price × seconds ÷ (GPUs per
    node × 3600), one exact division (Decimal's 28 digits)."""
    return node_hourly_price * gpu_seconds / (gpus_per_node * SECONDS_PER_HOUR)


def per_million_tokens(
    node_hourly_price: Decimal, gpus_per_node: int, tokens_per_gpu_second: Decimal
) -> Decimal:
    """What 1M tokens cost on GPUs kept busy at ``tokens_per_gpu_second``: the GPU-seconds
    they take (1e6 ÷ throughput) priced by :func:`gpu_seconds_cost`. The per-token price a
    router compares tiers by (deployments/routing/complexity.py)."""
    return gpu_seconds_cost(node_hourly_price, gpus_per_node, MILLION / tokens_per_gpu_second)


@dataclass(frozen=True)
class OfferingPrice:
    offering: InstanceOffering
    capacity_type: str
    hourly_price: Decimal  # one node

    @property
    def per_gpu_hour(self) -> Decimal:
        return self.hourly_price / self.offering.gpus_per_node

    def cost(self, gpus_per_replica: int, replicas: int, seconds: int) -> Decimal:
        """``replicas`` replicas of ``gpus_per_replica`` GPUs held for ``seconds``, in cents."""
        return self.gpu_seconds_cost(gpus_per_replica * replicas * seconds)

    def gpu_seconds_cost(self, gpu_seconds: int | Decimal) -> Decimal:
        """``gpu_seconds`` GPU-seconds on this offering, in cents."""
        return to_cents(
            gpu_seconds_cost(self.hourly_price, self.offering.gpus_per_node, Decimal(gpu_seconds))
        )

    def monthly_cost(
        self, gpus_per_replica: int, replicas: int, month: datetime | None = None
    ) -> Decimal:
        """Always on for the whole calendar month of ``month`` (default: this month; UTC)."""
        month = month or this_month()
        seconds = int((next_month(month) - month_start(month)).total_seconds())
        return self.cost(gpus_per_replica, replicas, seconds)


def current_rates(at: datetime | None = None) -> dict[tuple[int, str], Decimal]:
    """{(offering_id, capacity_type): node hourly price} in force at `at` (default now)."""
    at = at or timezone.now()
    rates: dict[tuple[int, str], Decimal] = {}
    # Newest first per (offering, capacity type): keep the first one seen.
    for offering_id, capacity_type, price in (
        GpuRate.objects.filter(effective_from__lte=at)
        .order_by("offering_id", "capacity_type", "-effective_from")
        .values_list("offering_id", "capacity_type", "hourly_price")
    ):
        rates.setdefault((offering_id, capacity_type), price)
    return rates


def _rate_rows() -> list[GpuRate]:
    """Every rate of an enabled offering of an enabled GPU type, offering and GPU type joined
    in: offerings in catalog order, then newest first per capacity type (one query, cached
    by catalog.cache; which rate is in force is decided at each call)."""
    return list(
        GpuRate.objects.filter(offering__enabled=True, offering__gpu_type__enabled=True)
        .select_related("offering__gpu_type")
        .order_by(
            "offering__gpu_type__memory_gib",
            "offering__gpus_per_node",
            "offering__instance_type",
            "offering_id",
            "capacity_type",
            "-effective_from",
        )
    )


def offering_prices(
    gpu_type: GpuType | None = None, capacity_type: str | None = None, min_gpus: int = 1
) -> list[OfferingPrice]:
    """Enabled offerings that can hold `min_gpus` on one node, cheapest per GPU first, at the
    rate in force now."""
    now = timezone.now()
    histories: dict[tuple[int, str], list[tuple[datetime, GpuRate]]] = {}
    for rate in cache.cached("catalog.rates", _rate_rows):
        offering = rate.offering
        if (
            offering.gpus_per_node < min_gpus
            or (gpu_type is not None and offering.gpu_type_id != gpu_type.pk)
            or (capacity_type is not None and rate.capacity_type != capacity_type)
        ):
            continue
        histories.setdefault((rate.offering_id, rate.capacity_type), []).append(
            (rate.effective_from, rate)
        )
    latest = [in_force(sorted(h, key=lambda x: x[0]), now) for h in histories.values()]
    result = [
        OfferingPrice(r.offering, r.capacity_type, r.hourly_price) for r in latest if r is not None
    ]
    return sorted(result, key=lambda p: (p.per_gpu_hour, p.offering.gpus_per_node))


def cheapest_offering(gpu_type: GpuType, capacity_type: str, gpus: int) -> OfferingPrice | None:
    prices = offering_prices(gpu_type, capacity_type, min_gpus=gpus)
    return prices[0] if prices else None


def node_hourly_price(
    instance_type: str, capacity_type: str, at: datetime | None = None
) -> Decimal | None:
    """What one node of ``instance_type`` costs per hour on ``capacity_type`` at the rate in
    force at ``at`` (default now). The capacity type is the node's own (Karpenter's
    ``karpenter.sh/capacity-type`` label), not the one the workload asked for: a spot endpoint
    that fell back to on-demand pays on-demand. None when the catalog prices no such node."""
    at = at or timezone.now()
    history = sorted(
        (rate.effective_from, rate.hourly_price)
        for rate in cache.cached("catalog.rates", _rate_rows)
        if rate.offering.instance_type == instance_type and rate.capacity_type == capacity_type
    )
    return in_force(history, at)
