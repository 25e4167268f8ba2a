"""Read-side summaries of usage rows for the pages, the API and the `chargeback` command.

Works on anything with UsageRecord's field names (stored rows or freshly measured
``services.UsageRow``s). Money stays ``Decimal``; rounding happens only in ``money()``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from .models import IdlePolicy, UsageKind

ZERO = Decimal("0")
MILLION = Decimal(1_000_000)
SECONDS_PER_HOUR = Decimal(3600)


def money(value: Decimal, places: str = "0.000001") -> str:
    return str(value.quantize(Decimal(places), rounding=ROUND_HALF_UP))


def hours(seconds: int) -> Decimal:
    return Decimal(seconds) / SECONDS_PER_HOUR


def hours_number(seconds: int) -> float:
    """GPU-hours for JSON (a number; 6 decimals is a 3.6 ms resolution)."""
    return float(round(hours(seconds), 6))


@dataclass
class Tally:
    gpu_seconds: int = 0
    cost: Decimal = ZERO
    unpriced_gpu_seconds: int = 0
    used_gpu_seconds: int = 0
    measured_gpu_seconds: int = 0  # allocated time that had DCGM data
    prompt_tokens: int = 0
    generation_tokens: int = 0
    by_capacity_type: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, row) -> None:
        self.gpu_seconds += row.gpu_seconds
        self.cost += row.cost
        self.unpriced_gpu_seconds += row.unpriced_gpu_seconds
        if row.used_gpu_seconds is not None:
            self.used_gpu_seconds += row.used_gpu_seconds
            self.measured_gpu_seconds += row.gpu_seconds
        self.prompt_tokens += row.prompt_tokens
        self.generation_tokens += row.generation_tokens
        self.by_capacity_type[row.capacity_type] += row.gpu_seconds

    @property
    def gpu_hours(self) -> Decimal:
        return hours(self.gpu_seconds)

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.generation_tokens

    @property
    def busy_share(self) -> Decimal | None:
        """Share of allocated GPU time the GPUs were busy (DCGM), where DCGM had data."""
        if not self.measured_gpu_seconds:
            return None
        return Decimal(self.used_gpu_seconds) / Decimal(self.measured_gpu_seconds)

    @property
    def waste_gpu_hours(self) -> Decimal | None:
        share = self.busy_share
        return None if share is None else hours(self.measured_gpu_seconds - self.used_gpu_seconds)

    @property
    def served_cost(self) -> Decimal | None:
        """Cost of the busy GPU time (the rest is the cost of keeping the endpoint warm)."""
        share = self.busy_share
        return None if share is None else self.cost * share

    @property
    def keep_warm_cost(self) -> Decimal | None:
        served = self.served_cost
        return None if served is None else self.cost - served

    @property
    def cost_per_million_tokens(self) -> Decimal | None:
        return self.cost * MILLION / self.tokens if self.tokens else None

    @property
    def served_cost_per_million_tokens(self) -> Decimal | None:
        served = self.served_cost
        return served * MILLION / self.tokens if self.tokens and served is not None else None

    @property
    def spot_share(self) -> Decimal | None:
        if not self.gpu_seconds:
            return None
        return Decimal(self.by_capacity_type.get("spot", 0)) / Decimal(self.gpu_seconds)


def reference_cost(tally: Tally, reference) -> Decimal | None:
    """What the same tokens would cost at a hosted API's prices."""
    if reference is None:
        return None
    return (
        Decimal(tally.prompt_tokens) * reference.input_per_million
        + Decimal(tally.generation_tokens) * reference.output_per_million
    ) / MILLION


@dataclass
class Report:
    """Totals for a period: per team (and endpoint, offering, day), the idle pool, unpriced time."""

    teams: dict[str, Tally] = field(default_factory=lambda: defaultdict(Tally))
    endpoints: dict[tuple[str, str], Tally] = field(default_factory=lambda: defaultdict(Tally))
    offerings: dict[tuple[str, str, str, str], Tally] = field(
        default_factory=lambda: defaultdict(Tally)
    )
    days: dict[tuple[str, datetime], Tally] = field(default_factory=lambda: defaultdict(Tally))
    idle: Tally = field(default_factory=Tally)
    idle_offerings: dict[tuple[str, str, str], Tally] = field(
        default_factory=lambda: defaultdict(Tally)
    )
    unpriced: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    idle_policy: str = IdlePolicy.PLATFORM

    @property
    def allocated(self) -> Tally:
        total = Tally()
        for t in self.teams.values():
            total.gpu_seconds += t.gpu_seconds
            total.cost += t.cost
            total.unpriced_gpu_seconds += t.unpriced_gpu_seconds
            for k, v in t.by_capacity_type.items():
                total.by_capacity_type[k] += v
        return total

    def idle_share(self, team_key: str) -> Decimal:
        """The team's part of the idle cost: zero when the platform keeps it, else pro rata
        to allocated GPU-hours."""
        if self.idle_policy != IdlePolicy.SHARED:
            return ZERO
        total = sum(t.gpu_seconds for t in self.teams.values())
        if not total:
            return ZERO
        return self.idle.cost * Decimal(self.teams[team_key].gpu_seconds) / Decimal(total)

    def total_cost(self, team_key: str) -> Decimal:
        return self.teams[team_key].cost + self.idle_share(team_key)


def build_report(rows: Iterable, idle_policy: str = IdlePolicy.PLATFORM) -> Report:
    report = Report(idle_policy=idle_policy)
    for row in rows:
        if row.unpriced_gpu_seconds:
            report.unpriced[(row.instance_type, row.capacity_type)] += row.unpriced_gpu_seconds
        if row.kind == UsageKind.IDLE:
            report.idle.add(row)
            report.idle_offerings[(row.gpu_type, row.instance_type, row.capacity_type)].add(row)
            continue
        report.teams[row.team_key].add(row)
        report.endpoints[(row.team_key, row.endpoint_key)].add(row)
        report.offerings[(row.team_key, row.gpu_type, row.instance_type, row.capacity_type)].add(
            row
        )
        day = row.hour.replace(hour=0)
        report.days[(row.team_key, day)].add(row)
    return report


def chargeback_json(
    report: Report, start: datetime, end: datetime, currency: str, scrape_interval: Decimal
) -> dict:
    """The stable `manage.py chargeback --json` contract."""
    teams = []
    for key in sorted(report.teams):
        t = report.teams[key]
        entry = {
            "team": key,
            "gpu_hours": hours_number(t.gpu_seconds),
            "gpu_hours_by_capacity_type": {
                k: hours_number(v) for k, v in sorted(t.by_capacity_type.items())
            },
            "cost": money(t.cost),
            "unpriced_gpu_hours": hours_number(t.unpriced_gpu_seconds),
            "idle_share_cost": money(report.idle_share(key)),
            "total_cost": money(report.total_cost(key)),
            "endpoints": [
                {
                    "endpoint": ep,
                    "gpu_hours": hours_number(e.gpu_seconds),
                    "cost": money(e.cost),
                    "prompt_tokens": e.prompt_tokens,
                    "generation_tokens": e.generation_tokens,
                }
                for (team, ep), e in sorted(report.endpoints.items())
                if team == key
            ],
        }
        teams.append(entry)
    idle = report.idle
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "currency": currency,
        "scrape_interval_seconds": float(scrape_interval),
        "idle_policy": report.idle_policy,
        "teams": teams,
        "idle": {
            "gpu_hours": hours_number(idle.gpu_seconds),
            "cost": money(idle.cost),
            "unpriced_gpu_hours": hours_number(idle.unpriced_gpu_seconds),
            "gpu_hours_by_capacity_type": {
                k: hours_number(v) for k, v in sorted(idle.by_capacity_type.items())
            },
        },
        "unpriced": [
            {"instance_type": it, "capacity_type": ct, "gpu_hours": hours_number(s)}
            for (it, ct), s in sorted(report.unpriced.items())
        ],
    }
