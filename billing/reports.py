"""Read-side summaries of usage rows for the pages, the API and the `chargeback` command.

Works on anything with UsageRecord's field names (stored rows or freshly measured
``services.UsageRow``s). Money stays ``Decimal``; rounding happens only in ``money()``.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from catalog import pricing

from .models import IdlePolicy, UsageKind

# No report starts before this year (parse_month refuses earlier months).
FIRST_BILLED_YEAR = 2000

ZERO = Decimal("0")
MILLION = Decimal(1_000_000)
SECONDS_PER_HOUR = Decimal(3600)


def money(value: Decimal) -> str:
    """Cost for the CSV and JSON: 6 places, rounded as the statements store it."""
    return str(pricing.to_micros(value))


def hours(seconds: int) -> Decimal:
    return Decimal(seconds) / SECONDS_PER_HOUR


def hours_text(seconds: int) -> str:
    """GPU-hours as an exact-enough decimal string (6 places) for CSV."""
    return str(hours(seconds).quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP))


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
    return pricing.api_tokens_cost(
        tally.prompt_tokens,
        tally.generation_tokens,
        reference.input_per_million,
        reference.output_per_million,
    )


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

    @property
    def unpriced_items(self) -> list[tuple[tuple[str, str], int]]:
        return sorted(self.unpriced.items())

    @property
    def idle_offering_items(self) -> list[tuple[tuple[str, str, str], Tally]]:
        return sorted(self.idle_offerings.items(), key=lambda item: -item[1].gpu_seconds)

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


def chargeback_json(report: Report, start: datetime, end: datetime, currency: str) -> dict:
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
        "gpu_time": "sample spans",  # docs/chargeback.md: each sample spans to the next one
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


# --- pages and API: a team's month, the platform's month --------------------------------------


def parse_month(value: str | None, now: datetime) -> datetime:
    """``YYYY-MM`` (default: this month) as the first instant of the month. Raises ValueError."""
    from portal.timeutil import month_start

    if not value:
        return month_start(now)
    try:
        if not re.fullmatch(r"[0-9]{4}-[0-9]{2}", value):
            raise ValueError(value)
        year, month = (int(part) for part in value.split("-"))
        first = datetime(year, month, 1, tzinfo=now.tzinfo)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"Month must look like 2026-11, not {value!r}.") from exc
    if year < FIRST_BILLED_YEAR:
        raise ValueError(f"Months before {FIRST_BILLED_YEAR} are not billed.")
    if first > now:
        raise ValueError(f"{first:%B %Y} has not started yet.")
    return first


@dataclass
class TeamMonth:
    team: object
    month: datetime
    is_current: bool
    total: Tally
    endpoints: list[tuple[str, object, Tally]]
    offerings: list[tuple[tuple[str, str, str], Tally]]
    days: list[tuple[datetime, Decimal]]
    idle_share: Decimal
    spent: Decimal
    forecast: Decimal
    budget: Decimal | None
    alert: object
    reference: object
    last_collected: datetime | None
    committed: object = None  # deployments.endpoints.commitment.Commitment of the live endpoints

    @property
    def budget_used(self) -> Decimal | None:
        if not self.budget:
            return None
        return self.spent / self.budget

    @property
    def committed_share(self) -> Decimal | None:
        """The live endpoints' monthly run-rate (at max replicas) against the budget."""
        if not self.budget or self.committed is None:
            return None
        return self.committed.cost_max / self.budget

    @property
    def forecast_over_budget(self) -> bool:
        return self.budget is not None and self.forecast > self.budget

    @property
    def waste_share(self) -> Decimal | None:
        share = self.total.busy_share
        return None if share is None else 1 - share

    @property
    def reference_cost(self) -> Decimal | None:
        return reference_cost(self.total, self.reference)

    @property
    def endpoint_rows(self) -> list[tuple[str, object, Tally, Decimal | None]]:
        """(key, Endpoint, BatchJob (key "batch/<name>") or None, tally, what its tokens would
        cost at the reference API)."""
        return [(key, ep, t, reference_cost(t, self.reference)) for key, ep, t in self.endpoints]


def team_month(team, month: datetime, now: datetime) -> TeamMonth:
    from deployments.endpoints.commitment import committed
    from portal.timeutil import next_month

    from .models import ReferencePrice, UsageRecord
    from .services import active_budget_alert, forecast_month_cost, month_cost

    end = min(next_month(month), now)
    rows = list(
        UsageRecord.objects.filter(
            team=team, kind=UsageKind.ALLOCATED, hour__gte=month, hour__lt=end
        ).select_related("endpoint", "batch_job")
    )
    total, endpoints, offerings = Tally(), {}, defaultdict(Tally)
    days, hourly = defaultdict(Decimal), defaultdict(Decimal)
    for r in rows:
        total.add(r)
        hourly[r.hour] += r.cost
        ep = endpoints.setdefault(r.endpoint_key, [r.endpoint or r.batch_job, Tally()])
        ep[0] = ep[0] or r.endpoint or r.batch_job
        ep[1].add(r)
        offerings[(r.gpu_type or r.instance_type, r.instance_type, r.capacity_type)].add(r)
        days[r.hour.replace(hour=0)] += r.cost
    is_current = month <= now < next_month(month)
    # The month's own rows were just read: only a shared idle cost needs the database again.
    spent = month_cost(team, month, end, own=(total.cost, total.gpu_seconds))
    return TeamMonth(
        team=team,
        month=month,
        is_current=is_current,
        total=total,
        endpoints=sorted(((k, v[0], v[1]) for k, v in endpoints.items()), key=lambda e: -e[2].cost),
        offerings=sorted(offerings.items(), key=lambda o: -o[1].cost),
        days=_fill_days(days, month, end),
        idle_share=spent - total.cost,
        spent=spent,
        forecast=forecast_month_cost(team, now, spent, hourly) if is_current else spent,
        budget=team.monthly_budget,
        alert=active_budget_alert(team, now) if is_current else None,
        reference=ReferencePrice.objects.filter(is_default=True).first(),
        last_collected=max((r.collected_at for r in rows), default=None),
        committed=committed(team) if is_current else None,
    )


def _fill_days(days: dict, month: datetime, end: datetime) -> list[tuple[datetime, Decimal]]:
    out, day = [], month
    while day < end:
        out.append((day, days.get(day, ZERO)))
        day += timedelta(days=1)
    return out


def bar_chart(days: list[tuple[datetime, Decimal]], width: int = 720, height: int = 180) -> dict:
    """Geometry of an inline SVG bar chart of daily cost (presentation only, floats are fine)."""
    top = max((float(v) for _, v in days), default=0.0) or 1.0
    n = max(len(days), 1)
    slot = width / n
    bars = []
    for i, (day, value) in enumerate(days):
        h = float(value) / top * (height - 20)
        bars.append(
            {
                "x": round(i * slot + slot * 0.15, 2),
                "y": round(height - h, 2),
                "w": round(slot * 0.7, 2),
                "h": round(h, 2),
                "day": day,
                "value": value,
                "label": i % 5 == 0 or n <= 10,
            }
        )
    return {"width": width, "height": height, "bars": bars, "top": top}


@dataclass
class PlatformMonth:
    month: datetime
    report: Report
    teams: list[tuple[str, object, Tally, Decimal]]
    top: list
    chargeback: object
    closable: bool
    completeness: object = None  # services.Completeness: hours of the month collected

    @property
    def allocated(self) -> Tally:
        return self.report.allocated

    @property
    def total_cost(self) -> Decimal:
        return self.report.allocated.cost + self.report.idle.cost

    @property
    def idle_share(self) -> Decimal | None:
        seconds = self.report.allocated.gpu_seconds + self.report.idle.gpu_seconds
        return Decimal(self.report.idle.gpu_seconds) / Decimal(seconds) if seconds else None

    @property
    def spot_share(self) -> Decimal | None:
        return self.report.allocated.spot_share


def platform_month(month: datetime, now: datetime) -> PlatformMonth:
    from portal.models import Team
    from portal.timeutil import next_month

    from .models import BillingPolicy, Chargeback, ChargebackStatus, UsageRecord
    from .services import month_completeness

    rows = UsageRecord.objects.filter(hour__gte=month, hour__lt=min(next_month(month), now))
    report = build_report(rows.only(*_REPORT_FIELDS), BillingPolicy.current().idle_policy)
    keyed = {
        r["team_key"]: r["team"]
        for r in rows.filter(kind=UsageKind.ALLOCATED).values("team_key", "team").distinct()
    }
    by_pk = Team.objects.in_bulk([pk for pk in keyed.values() if pk])
    teams = sorted(
        (
            (key, by_pk.get(keyed.get(key)), tally, report.idle_share(key), report.total_cost(key))
            for key, tally in report.teams.items()
        ),
        key=lambda t: -t[4],
    )
    chargeback = Chargeback.objects.filter(month=month.date()).first()
    closable = next_month(month) <= now and (
        chargeback is None or chargeback.status == ChargebackStatus.OPEN
    )
    completeness = month_completeness(month)
    return PlatformMonth(month, report, teams, teams[:5], chargeback, closable, completeness)


_REPORT_FIELDS = [
    "hour",
    "kind",
    "team_key",
    "endpoint_key",
    "instance_type",
    "capacity_type",
    "gpu_type",
    "gpu_seconds",
    "used_gpu_seconds",
    "cost",
    "unpriced_gpu_seconds",
    "prompt_tokens",
    "generation_tokens",
]
