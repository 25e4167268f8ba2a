"""What an endpoint costs in a calendar month: always on, and with its off-hours schedule.

The schedule runs replicas only inside the working hours, each day opened one pre-warm lead
early (``schedule.prewarm_lead_minutes``), in the schedule's time zone, Monday to Friday when
``schedule_weekdays_only`` is set, for the real length of the (UTC) month: the hours come from
the calendar (``portal.timeutil.working_seconds``), the price from ``catalog.pricing``.

Inside the working hours the cron trigger holds ``max(min_replicas, 1)`` replicas and the
autoscaler may add up to ``max_replicas``; outside them nothing runs (``minReplicaCount: 0``;
with no replica there is no queue to scale on), so both figures count only working hours.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from catalog.pricing import OfferingPrice
from deployments.endpoints import rules
from deployments.endpoints.schedule import prewarm_lead_minutes
from deployments.workloads import sizing
from portal.timeutil import month_hours, month_start, next_month, working_seconds


@dataclass(frozen=True)
class MonthlyCost:
    """Cost of one month at min and at max replicas, with the schedule and always on."""

    month: datetime
    minimum: Decimal
    maximum: Decimal
    always_on_min: Decimal
    always_on_max: Decimal
    running_seconds: int  # replicas held this long in the month (the month's length if no schedule)

    @property
    def scheduled(self) -> bool:
        return self.running_seconds < self.month_hours * 3600

    @property
    def month_hours(self) -> int:
        return month_hours(self.month)

    @property
    def running_hours(self) -> Decimal:
        return (Decimal(self.running_seconds) / 3600).quantize(Decimal("0.1"))

    @property
    def saving_min(self) -> Decimal:
        return self.always_on_min - self.minimum

    @property
    def saving_max(self) -> Decimal:
        return self.always_on_max - self.maximum


def cold_start_of(spec: Mapping[str, Any], measured: int | None = None) -> int:
    """A replica's start from nothing: ``measured`` when known, else the sizing estimate."""
    if measured:
        return int(measured)
    model = spec.get("model")
    if model is None:
        return 0  # not picked yet: the shortest lead
    # A spec the form refused part of (a model too big for the GPUs makes gpu_count invalid)
    # still gets its live estimate: read it as monthly_cost does, one GPU when unknown.
    gpus = int(spec.get("gpu_count") or 1)
    return sizing.pod_resources(
        float(model.parameters_b), str(spec.get("quantization") or "bf16"), gpus
    ).cold_start_seconds


def running_seconds(spec: Mapping[str, Any], month: datetime, cold_start: int) -> int:
    """Seconds of the month of ``month`` in which the spec's schedule holds replicas."""
    start, end = month_start(month), next_month(month)
    if not spec.get("schedule_enabled"):
        return int((end - start).total_seconds())
    return working_seconds(
        start,
        end,
        spec["schedule_timezone"],
        spec["schedule_start"],
        spec["schedule_end"],
        bool(spec.get("schedule_weekdays_only", True)),
        lead=timedelta(minutes=prewarm_lead_minutes(cold_start)),
    )


def monthly_cost(
    price: OfferingPrice, spec: Mapping[str, Any], month: datetime, cold_start: int | None = None
) -> MonthlyCost:
    """The spec's cost in the month of ``month`` on ``price`` (``cold_start``: seconds, for the
    pre-warm lead; estimated from the model when None)."""
    gpus = int(spec.get("gpu_count") or 1)
    low, high = int(spec.get("min_replicas") or 0), int(spec.get("max_replicas") or 1)
    whole = int((next_month(month) - month_start(month)).total_seconds())
    running = whole
    if spec.get("schedule_enabled") and not rules.schedule_problems(spec):
        running = running_seconds(spec, month, cold_start_of(spec, cold_start))
        low = max(low, 1)  # the cron trigger holds at least one replica in working hours
    return MonthlyCost(
        month=month_start(month),
        minimum=price.cost(gpus, low, running),
        maximum=price.cost(gpus, high, running),
        always_on_min=price.cost(gpus, int(spec.get("min_replicas") or 0), whole),
        always_on_max=price.cost(gpus, high, whole),
        running_seconds=running,
    )
