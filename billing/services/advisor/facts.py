"""What the advisor reads: a team's usage rows of the look-back window (the rows the bills are
made of), its live endpoints, the price table in force and DCGM's peak GPU memory."""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from catalog import pricing
from catalog.choices import CapacityType
from catalog.pricing import offering_prices
from deployments.endpoints import metrics
from deployments.endpoints.choices import ACTIVE_STATUSES, EndpointStatus
from deployments.models import Endpoint
from deployments.workloads.choices import DesiredState
from portal.models import Team
from portal.prometheus import PrometheusError, get_client
from portal.timeutil import HOUR, floor_hour, month_hours

from ...models import UsageKind, UsageRecord
from .rules import ZERO, EndpointUsage, HourUsage, PriceBook

log = logging.getLogger(__name__)

LOOKBACK = timedelta(days=14)  # two whole weeks: every hour of the week counts twice
# Endpoints that hold or may hold GPUs now (stopped and pending ones cost nothing).
LIVE_STATUSES = [
    s for s in ACTIVE_STATUSES if s not in (EndpointStatus.PENDING_APPROVAL, EndpointStatus.STOPPED)
]


@dataclass
class TeamFacts:
    team: Team
    start: datetime
    end: datetime
    endpoints: list[EndpointUsage]
    cost: Decimal  # every allocated row of the team in the window (endpoints not in the portal too)
    prompt_tokens: int
    generation_tokens: int
    hours: int  # of the window the data covers
    memory_measured: bool  # DCGM answered

    @property
    def month_factor(self) -> Decimal:
        return Decimal(month_hours(pricing.this_month())) / Decimal(self.hours)


def window(now: datetime) -> tuple[datetime, datetime]:
    """The look-back window: the LOOKBACK of whole hours before ``now``'s hour."""
    end = floor_hour(now)
    return end - LOOKBACK, end


def _hours(start: datetime, end: datetime) -> int:
    return max(1, int((end - start) / HOUR))


def live_endpoints(team: Team) -> list[Endpoint]:
    return list(
        Endpoint.objects.filter(team=team, status__in=LIVE_STATUSES)
        .exclude(desired_state=DesiredState.ABSENT)
        .select_related("team", "model", "gpu_type", "offering")
        .order_by("name")
    )


def _rows(team: Team, start: datetime, end: datetime):
    return UsageRecord.objects.filter(
        team=team, kind=UsageKind.ALLOCATED, hour__gte=start, hour__lt=end
    ).values_list(
        "endpoint_id",
        "hour",
        "capacity_type",
        "instance_type",
        "gpu_seconds",
        "cost",
        "prompt_tokens",
        "generation_tokens",
    )


def memory_peaks(team: Team, endpoints: list[Endpoint], end: datetime) -> dict[int, float] | None:
    """{endpoint pk: peak GiB one replica held} from DCGM over the window (None: no answer)."""
    if not endpoints:
        return {}
    keys = [(team.namespace, ep.isvc_name) for ep in endpoints]
    try:
        peaks = metrics.gpu_memory_peak_gib(get_client(), keys, end, LOOKBACK.total_seconds())
    except PrometheusError as exc:
        log.info("advisor team=%s no DCGM memory: %s", team.slug, exc)
        return None
    return {ep.pk: peaks[key] for ep, key in zip(endpoints, keys, strict=True) if key in peaks}


def gather(team: Team, now: datetime) -> TeamFacts:
    start, end = window(now)
    endpoints = live_endpoints(team)
    hours: dict[int, dict[datetime, list]] = defaultdict(dict)
    on_demand: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    cost, prompt, generation, first = ZERO, 0, 0, end
    for endpoint_id, hour, capacity, instance, seconds, row_cost, p, g in _rows(team, start, end):
        cost, prompt, generation, first = (
            cost + row_cost,
            prompt + p,
            generation + g,
            min(first, hour),
        )
        if endpoint_id is None:
            continue
        h = hours[endpoint_id].setdefault(hour, [0, ZERO, 0, 0])
        h[0], h[1], h[2], h[3] = h[0] + seconds, h[1] + row_cost, h[2] + p, h[3] + g
        if capacity == CapacityType.ON_DEMAND:
            on_demand[endpoint_id][instance] += seconds
    peaks = memory_peaks(team, endpoints, end)
    usages = [
        EndpointUsage(
            endpoint=ep,
            hours=[HourUsage(t, *v) for t, v in sorted(hours.get(ep.pk, {}).items())],
            observed_hours=_hours(max(first, floor_hour(ep.created_at)), end),
            hours_per_month=month_hours(pricing.this_month()),
            on_demand_seconds=dict(on_demand.get(ep.pk, {})),
            memory_peak_gib=(peaks or {}).get(ep.pk),
        )
        for ep in endpoints
    ]
    return TeamFacts(
        team=team,
        start=start,
        end=end,
        endpoints=usages,
        cost=cost,
        prompt_tokens=prompt,
        generation_tokens=generation,
        hours=_hours(first, end),
        memory_measured=peaks is not None,
    )


def price_book() -> PriceBook:
    return PriceBook(offering_prices())
