"""Price look-ups and monthly estimates from the admin price table. Decimal only."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.utils import timezone

from . import cache
from .models import GpuRate, GpuType, InstanceOffering

CENT = Decimal("0.01")


@dataclass(frozen=True)
class OfferingPrice:
    offering: InstanceOffering
    capacity_type: str
    hourly_price: Decimal  # one node

    @property
    def per_gpu_hour(self) -> Decimal:
        return self.hourly_price / self.offering.gpus_per_node

    def monthly_cost(self, gpus_per_replica: int, replicas: int) -> Decimal:
        hours = Decimal(settings.HOURS_PER_MONTH)
        return (self.per_gpu_hour * gpus_per_replica * replicas * hours).quantize(CENT)


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
    latest: dict[tuple[int, str], GpuRate] = {}
    for rate in cache.cached("catalog.rates", _rate_rows):
        offering = rate.offering
        if (
            rate.effective_from > now
            or offering.gpus_per_node < min_gpus
            or (gpu_type is not None and offering.gpu_type_id != gpu_type.pk)
            or (capacity_type is not None and rate.capacity_type != capacity_type)
        ):
            continue
        latest.setdefault((rate.offering_id, rate.capacity_type), rate)
    result = [OfferingPrice(r.offering, r.capacity_type, r.hourly_price) for r in latest.values()]
    return sorted(result, key=lambda p: (p.per_gpu_hour, p.offering.gpus_per_node))


def cheapest_offering(gpu_type: GpuType, capacity_type: str, gpus: int) -> OfferingPrice | None:
    prices = offering_prices(gpu_type, capacity_type, min_gpus=gpus)
    return prices[0] if prices else None
