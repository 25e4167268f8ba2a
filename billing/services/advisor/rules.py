"""The advisor's arithmetic, one function per kind of suggestion (pure: no ORM, no I/O).

Every saving is money per month: what the endpoint (or team) spent in the look-back window
according to its usage rows (the rows the bills are made of), or GPU time from those rows
priced at the price table in force (catalog.pricing), scaled to a month of
``hours_per_month`` hours by ``hours_per_month / observed hours``. docs/chargeback.md
("Savings advisor") states each rule.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Any

from catalog import pricing
from catalog.choices import CapacityType
from catalog.pricing import OfferingPrice
from deployments.endpoints.manifests import prewarm_minutes
from deployments.endpoints.metrics import IDLE_TOKENS_PER_GPU_HOUR
from deployments.endpoints.schedule import in_working_hours
from deployments.workloads.sizing import (
    DEFAULT_CONCURRENCY,
    TENSOR_PARALLEL_SIZES,
    SizingInputError,
    precision_for,
    size_for_spec,
)

from ...advisor_models import SuggestionKind

MILLION = Decimal(1_000_000)
SECONDS_PER_HOUR = Decimal(3600)
ZERO = Decimal("0")
# A suggestion saving less than this per month is not worth a line.
MIN_MONTHLY_SAVING = Decimal("1.00")
# The working hours an off-hours schedule proposes (weekdays), in the endpoint's time zone.
OFFICE_START, OFFICE_END = time(8, 0), time(19, 0)
SLOT = timedelta(minutes=5)  # schedules and the pre-warm lead move in 5-minute steps
SLOTS_PER_HOUR = 12
# The rule of thumb: below about this much API spend a month, a hosted API is usually cheaper
# than GPUs of one's own; above it self-hosting pays.
API_BREAK_EVEN_MONTHLY = Decimal("50000")
SIXTEEN_BIT = ("bf16", "fp16")


@dataclass(frozen=True)
class HourUsage:
    """One endpoint's usage rows of one hour, summed."""

    hour: datetime
    gpu_seconds: int
    cost: Decimal
    prompt_tokens: int = 0
    generation_tokens: int = 0


@dataclass
class EndpointUsage:
    """What the advisor knows about one live endpoint over the look-back window."""

    endpoint: Any  # deployments.models.Endpoint (model, gpu_type, offering loaded)
    hours: list[HourUsage]
    observed_hours: int  # hours of the window the endpoint existed (>= 1)
    hours_per_month: int
    # On-demand GPU-seconds per instance type (from the rows' capacity type).
    on_demand_seconds: dict[str, int] = field(default_factory=dict)
    memory_peak_gib: float | None = None  # DCGM: peak GPU memory one replica held

    @property
    def month_factor(self) -> Decimal:
        return Decimal(self.hours_per_month) / Decimal(self.observed_hours)

    @property
    def gpu_seconds(self) -> int:
        return sum(h.gpu_seconds for h in self.hours)

    @property
    def cost(self) -> Decimal:
        return sum((h.cost for h in self.hours), ZERO)

    @property
    def monthly_cost(self) -> Decimal:
        return pricing.to_cents(self.cost * self.month_factor)


@dataclass(frozen=True)
class Suggestion:
    kind: str
    endpoint: Any  # Endpoint, or None for a team-wide suggestion
    title: str
    detail: str
    caveat: str
    monthly_saving: Decimal
    current_monthly_cost: Decimal
    proposal: dict[str, Any]
    dismissal: Any = None  # the SavingsDismissal that hides it, if any

    @property
    def key(self) -> tuple[int | None, str]:
        return (self.endpoint.pk if self.endpoint is not None else None, self.kind)


class PriceBook:
    """The price table in force (catalog.pricing.offering_prices), looked up the ways the
    advisor needs. Money stays Decimal."""

    def __init__(self, prices: Iterable[OfferingPrice]):
        self.prices = sorted(prices, key=lambda p: (p.per_gpu_hour, p.offering.gpus_per_node))
        self._by_instance = {(p.offering.instance_type, p.capacity_type): p for p in self.prices}

    def per_gpu_hour(self, instance_type: str, capacity_type: str) -> Decimal | None:
        price = self._by_instance.get((instance_type, capacity_type))
        return price.per_gpu_hour if price is not None else None

    def cheapest(self, gpu_type_id: int, capacity_type: str, gpus: int) -> OfferingPrice | None:
        """The cheapest offering per GPU of that GPU type holding ``gpus`` on one node."""
        for price in self.prices:
            offering = price.offering
            if (
                offering.gpu_type_id == gpu_type_id
                and price.capacity_type == capacity_type
                and offering.gpus_per_node >= gpus
            ):
                return price
        return None

    def gpu_types(self) -> list:
        seen: dict[int, Any] = {}
        for price in self.prices:
            seen.setdefault(price.offering.gpu_type_id, price.offering.gpu_type)
        return list(seen.values())

    def replica_hour(self, endpoint, capacity_type: str | None = None) -> Decimal | None:
        """One replica-hour of ``endpoint`` on its own offering (else the cheapest that holds
        its GPUs), at ``capacity_type`` (default its own)."""
        capacity = capacity_type or endpoint.capacity_type
        gpus = int(endpoint.gpu_count)
        offering = endpoint.offering
        if offering is not None and offering.gpus_per_node >= gpus:
            per_gpu = self.per_gpu_hour(offering.instance_type, capacity)
            if per_gpu is not None:
                return per_gpu * gpus
        price = self.cheapest(endpoint.gpu_type_id, capacity, gpus)
        return price.per_gpu_hour * gpus if price is not None else None


def _money(value: Decimal) -> Decimal:
    return pricing.to_cents(value)


def _amount(value: Decimal) -> str:
    """Money in a sentence: 1234.5 -> "1,234.50" (the page and the API show the currency)."""
    return f"{_money(value):,}"


def _worth_it(saving: Decimal) -> bool:
    return saving >= MIN_MONTHLY_SAVING


# --- off-hours schedule --------------------------------------------------------------------------


def proposed_schedule(endpoint, zone: str):
    """An unsaved copy of ``endpoint`` with the schedule the advisor proposes."""
    proposal = copy.copy(endpoint)
    proposal.schedule_enabled = True
    proposal.schedule_timezone = endpoint.schedule_timezone or zone
    proposal.schedule_start, proposal.schedule_end = OFFICE_START, OFFICE_END
    proposal.schedule_weekdays_only = True
    return proposal


def off_slots(proposal, hour: datetime, lead: timedelta) -> int:
    """5-minute slots of ``hour`` in which the schedule holds no replica: outside the working
    hours and outside the pre-warm lead before their start."""
    off = 0
    for i in range(SLOTS_PER_HOUR):
        t = hour + i * SLOT
        if not (in_working_hours(proposal, t) or in_working_hours(proposal, t + lead)):
            off += 1
    return off


def off_hours(usage: EndpointUsage, zone: str) -> Suggestion | None:
    """Idle or near-idle outside weekdays 08:00-19:00 → that schedule; the saving is the cost
    of the usage rows in the hours the schedule would have scaled it to zero."""
    ep = usage.endpoint
    if ep.schedule_enabled or not usage.hours:
        return None
    proposal = proposed_schedule(ep, zone)
    lead = timedelta(minutes=prewarm_minutes(proposal))
    cost, gpu_seconds, tokens = ZERO, ZERO, ZERO
    for h in usage.hours:
        share = Decimal(off_slots(proposal, h.hour, lead)) / SLOTS_PER_HOUR
        cost += h.cost * share
        gpu_seconds += h.gpu_seconds * share
        tokens += h.generation_tokens * share
    if not gpu_seconds:
        return None
    gpu_hours = gpu_seconds / SECONDS_PER_HOUR
    per_gpu_hour = tokens / gpu_hours
    if per_gpu_hour >= Decimal(str(IDLE_TOKENS_PER_GPU_HOUR)):
        return None
    saving = _money(cost * usage.month_factor)
    if not _worth_it(saving):
        return None
    tz = proposal.schedule_timezone
    idle = (
        "idle" if tokens == 0 else f"near-idle ({per_gpu_hour:.0f} generated tokens per GPU-hour)"
    )
    return Suggestion(
        kind=SuggestionKind.OFF_HOURS,
        endpoint=ep,
        title=f"Scale {ep.name} to zero outside weekdays 08:00–19:00 ({tz})",
        detail=(
            f"{gpu_hours:.1f} of its {Decimal(usage.gpu_seconds) / SECONDS_PER_HOUR:.1f} GPU-hours "
            f"in the last {usage.observed_hours} hours fell outside those hours (after a "
            f"{lead.seconds // 60}-minute pre-warm) and the endpoint was {idle} then."
        ),
        caveat=(
            "Requests outside the working hours fail until the schedule brings a replica back"
            + (f" ({tokens:.0f} tokens were generated off-hours in the window)." if tokens else ".")
        ),
        monthly_saving=saving,
        current_monthly_cost=usage.monthly_cost,
        proposal={
            "schedule_enabled": True,
            "schedule_timezone": tz,
            "schedule_start": OFFICE_START.strftime("%H:%M"),
            "schedule_end": OFFICE_END.strftime("%H:%M"),
            "schedule_weekdays_only": True,
        },
    )


# --- spot --------------------------------------------------------------------------------------


def tolerates_interruption(endpoint) -> bool:
    """Losing a node does not take it down (two or more replicas always run) or it already
    accepts cold starts (it scales to zero)."""
    return endpoint.min_replicas == 0 or endpoint.min_replicas >= 2


def spot(usage: EndpointUsage, prices: PriceBook) -> Suggestion | None:
    """On-demand GPU time of an interruption-tolerant endpoint priced at spot instead: each
    instance type's on-demand GPU-hours × (on-demand − spot price per GPU-hour)."""
    ep = usage.endpoint
    if ep.capacity_type != CapacityType.ON_DEMAND or not tolerates_interruption(ep):
        return None
    fallback = prices.cheapest(ep.gpu_type_id, CapacityType.SPOT, int(ep.gpu_count))
    difference = ZERO
    for instance_type, seconds in sorted(usage.on_demand_seconds.items()):
        on_demand = prices.per_gpu_hour(instance_type, CapacityType.ON_DEMAND)
        spot_price = prices.per_gpu_hour(instance_type, CapacityType.SPOT)
        if spot_price is None and fallback is not None:
            spot_price = fallback.per_gpu_hour
        if on_demand is None or spot_price is None or spot_price >= on_demand:
            continue
        difference += Decimal(seconds) / SECONDS_PER_HOUR * (on_demand - spot_price)
    saving = _money(difference * usage.month_factor)
    if not _worth_it(saving):
        return None
    why = "scales to zero" if ep.min_replicas == 0 else f"keeps {ep.min_replicas} replicas"
    return Suggestion(
        kind=SuggestionKind.SPOT,
        endpoint=ep,
        title=f"Run {ep.name} on spot capacity",
        detail=(
            f"It {why}, so losing one spot node costs a cold start, not an outage. Its "
            "on-demand GPU-hours priced at the spot rate of the price table."
        ),
        caveat="Spot nodes can be reclaimed at two minutes' notice; prices vary with demand.",
        monthly_saving=saving,
        current_monthly_cost=usage.monthly_cost,
        proposal={"capacity_type": CapacityType.SPOT},
    )


# --- GPU size and precision ------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    gpu_type: Any
    gpu_count: int
    quantization: str
    price: OfferingPrice
    replica_hour: Decimal


def _spec(endpoint, gpu_type=None, gpu_count=None, quantization=None) -> dict[str, Any]:
    return {
        "model": endpoint.model,
        "gpu_type": gpu_type or endpoint.gpu_type,
        "gpu_count": gpu_count or endpoint.gpu_count,
        "quantization": quantization or endpoint.quantization,
        "kv_cache_dtype": endpoint.kv_cache_dtype,
        "max_context_length": endpoint.max_context_length,
    }


def needed_concurrency(endpoint, memory_peak_gib: float | None) -> int:
    """Concurrent full-length sequences a new size must hold: what the sizing engine sizes
    for (DEFAULT_CONCURRENCY), no more than the current GPUs hold, and, with DCGM, no more
    than the KV cache the replica's peak memory shows (never fewer than one)."""
    try:
        current = size_for_spec(_spec(endpoint), concurrency=DEFAULT_CONCURRENCY)
    except SizingInputError:
        return DEFAULT_CONCURRENCY
    cap = max(1, min(DEFAULT_CONCURRENCY, current.max_sequences))
    if memory_peak_gib is None:
        return cap
    kv = memory_peak_gib - current.weights_gib - current.overhead_gib * current.gpu_count
    sequences = math.ceil(kv / current.kv_cache_per_sequence_gib - 1e-9) if kv > 0 else 1
    return max(1, min(cap, sequences))


def candidates(endpoint, prices: PriceBook, quantization: str, concurrency: int) -> list[Candidate]:
    """Every (GPU type, GPUs per replica) of the price table, at the endpoint's capacity type,
    on which ``concurrency`` sequences fit in ``quantization``: cheapest replica-hour first."""
    out = []
    for gpu_type in prices.gpu_types():
        for count in TENSOR_PARALLEL_SIZES:
            if endpoint.model.tensor_parallel_problem(count):
                continue
            price = prices.cheapest(gpu_type.pk, endpoint.capacity_type, count)
            if price is None:
                continue
            spec = _spec(endpoint, gpu_type, count, quantization)
            try:
                if not size_for_spec(spec, concurrency=concurrency).fits:
                    continue
            except SizingInputError:
                continue
            out.append(Candidate(gpu_type, count, quantization, price, price.per_gpu_hour * count))
    return sorted(out, key=lambda c: (c.replica_hour, c.gpu_count, c.gpu_type.memory_gib))


def _replica_hours_per_month(usage: EndpointUsage) -> Decimal:
    gpus = Decimal(int(usage.endpoint.gpu_count))
    return Decimal(usage.gpu_seconds) / gpus / SECONDS_PER_HOUR * usage.month_factor


def _resize(
    usage: EndpointUsage, best: Candidate, current: Decimal, kind: str, caveat: str, why: str
) -> Suggestion | None:
    ep = usage.endpoint
    saving = _money(_replica_hours_per_month(usage) * (current - best.replica_hour))
    if not _worth_it(saving):
        return None
    target = f"{best.gpu_count}× {best.gpu_type.name}"
    title = f"Move {ep.name} to {target}" + (" in fp8" if kind == SuggestionKind.FP8 else "")
    return Suggestion(
        kind=kind,
        endpoint=ep,
        title=title,
        detail=(
            f"{why} It fits {target} ({best.price.offering.instance_type}, "
            f"{_amount(best.replica_hour)}/replica-hour) instead of {ep.gpu_count}× "
            f"{ep.gpu_type.name} ({_amount(current)}/replica-hour), for the replica-hours it ran."
        ),
        caveat=caveat,
        monthly_saving=saving,
        current_monthly_cost=usage.monthly_cost,
        proposal={
            "gpu_type": best.gpu_type.name,
            "gpu_count": best.gpu_count,
            "quantization": best.quantization,
            "instance_type": best.price.offering.instance_type,
        },
    )


def _sized_why(ep, quantization: str, concurrency: int, peak: float | None) -> str:
    measured = (
        f" (DCGM: at most {peak:.1f} GiB of GPU memory per replica)" if peak is not None else ""
    )
    return (
        f"{ep.model.name} in {quantization} with {concurrency} concurrent "
        f"{ep.max_context_length}-token sequences{measured}."
    )


def right_size(usage: EndpointUsage, prices: PriceBook) -> tuple[Suggestion | None, Decimal | None]:
    """The cheapest offering that still fits (same precision). Returns the suggestion and
    the best replica-hour price found (for the fp8 rule)."""
    ep = usage.endpoint
    current = prices.replica_hour(ep)
    if current is None or not usage.gpu_seconds:
        return None, None
    concurrency = needed_concurrency(ep, usage.memory_peak_gib)
    found = [
        c
        for c in candidates(ep, prices, ep.quantization, concurrency)
        if (c.gpu_type.pk, c.gpu_count) != (ep.gpu_type_id, ep.gpu_count)
    ]
    best = found[0] if found and found[0].replica_hour < current else None
    if best is None:
        return None, None
    why = _sized_why(ep, ep.quantization, concurrency, usage.memory_peak_gib)
    caveat = "Check latency after the move: a smaller GPU may generate fewer tokens per second."
    return _resize(usage, best, current, SuggestionKind.RIGHT_SIZE, caveat, why), best.replica_hour


def fp8(usage: EndpointUsage, prices: PriceBook, beat: Decimal | None = None) -> Suggestion | None:
    """bf16/fp16 endpoints whose model allows fp8 and that in fp8 fit fewer GPUs of their
    type, or as many or fewer of a GPU type with less memory, for less than both the current
    price and ``beat`` (the best same-precision size, which needs no quality trade)."""
    ep = usage.endpoint
    if precision_for(ep.quantization) not in SIXTEEN_BIT:
        return None
    if "fp8" not in (ep.model.allowed_quantizations or []):
        return None
    current = prices.replica_hour(ep)
    if current is None or not usage.gpu_seconds:
        return None
    concurrency = needed_concurrency(ep, usage.memory_peak_gib)
    memory = ep.gpu_type.memory_gib
    smaller = [
        c
        for c in candidates(ep, prices, "fp8", concurrency)
        if (c.gpu_type.pk == ep.gpu_type_id and c.gpu_count < ep.gpu_count)
        or (c.gpu_type.memory_gib < memory and c.gpu_count <= ep.gpu_count)
    ]
    limit = min(current, beat) if beat is not None else current
    if not smaller or smaller[0].replica_hour >= limit:
        return None
    caveat = (
        "Quality: vLLM quantises the 16-bit weights to fp8 at load time; answers are close to "
        "bf16 but not identical. Run your evaluations on fp8 before switching."
    )
    why = _sized_why(ep, "fp8", concurrency, usage.memory_peak_gib)
    return _resize(usage, smaller[0], current, SuggestionKind.FP8, caveat, why)


# --- hosted API break-even --------------------------------------------------------------------------


@dataclass(frozen=True)
class BreakEven:
    """A team's traffic here and at a hosted API's prices, per month."""

    reference: Any  # billing.models.ReferencePrice
    self_hosted_monthly: Decimal
    api_monthly: Decimal
    tokens_monthly: int
    cost_per_million: Decimal | None  # here
    api_per_million: Decimal  # the reference, blended by this team's prompt/generated mix
    break_even_tokens_monthly: int | None  # where the API would cost what the GPUs cost
    rule_of_thumb: Decimal = API_BREAK_EVEN_MONTHLY

    @property
    def cheaper(self) -> str:
        return "here" if self.self_hosted_monthly <= self.api_monthly else "api"

    @property
    def above_rule_of_thumb(self) -> bool:
        return self.api_monthly >= self.rule_of_thumb

    @property
    def difference(self) -> Decimal:
        return abs(self.self_hosted_monthly - self.api_monthly)


def break_even(
    cost: Decimal, prompt_tokens: int, generation_tokens: int, reference, month_factor: Decimal
) -> BreakEven | None:
    tokens = prompt_tokens + generation_tokens
    if reference is None or not tokens:
        return None
    api = pricing.api_tokens_cost(
        prompt_tokens, generation_tokens, reference.input_per_million, reference.output_per_million
    )
    api_per_million = api * MILLION / tokens
    self_monthly = cost * month_factor
    return BreakEven(
        reference=reference,
        self_hosted_monthly=_money(self_monthly),
        api_monthly=_money(api * month_factor),
        tokens_monthly=int((tokens * month_factor).to_integral_value()),
        cost_per_million=_money(cost * MILLION / tokens),
        api_per_million=_money(api_per_million),
        break_even_tokens_monthly=(
            int((self_monthly * MILLION / api_per_million).to_integral_value())
            if api_per_million
            else None
        ),
    )


def api_suggestion(view: BreakEven | None) -> Suggestion | None:
    """When the same tokens would cost less at the API than the team's GPUs do."""
    if view is None or view.cheaper != "api" or not _worth_it(view.difference):
        return None
    return Suggestion(
        kind=SuggestionKind.API,
        endpoint=None,
        title=f"This traffic would cost less at {view.reference.name}",
        detail=(
            f"{view.tokens_monthly:,} tokens a month cost {_amount(view.self_hosted_monthly)} here "
            f"and would cost {_amount(view.api_monthly)} at {view.reference.name}; self-hosting "
            "breaks even at "
            f"{view.break_even_tokens_monthly:,} tokens a month on the same GPUs."
        ),
        caveat=(
            "A hosted API runs a different model under its own terms (data leaves your "
            "cluster); compare quality and data rules, not only the price."
        ),
        monthly_saving=view.difference,
        current_monthly_cost=view.self_hosted_monthly,
        proposal={"reference_price": view.reference.name},
    )
