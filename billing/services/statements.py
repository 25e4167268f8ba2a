"""Month close: freeze one immutable, versioned Statement per team (compare-and-set on
Chargeback.status), and staff re-opening."""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from catalog.pricing import to_micros
from portal.audit import record_audit
from portal.models import Team
from portal.timeutil import month_hours, month_start, next_month

from ..models import (
    BillingPolicy,
    Chargeback,
    ChargebackStatus,
    CollectedHour,
    IdlePolicy,
    Statement,
    UsageKind,
    UsageRecord,
)
from ..queries import BATCH_KEY_PREFIX
from .usage import ChargebackError, rows_total

log = logging.getLogger(__name__)


# --- month close and statements ------------------------------------------------------------


@dataclass(frozen=True)
class Completeness:
    """How much of a month's usage was collected: whole hours measured, of the month's hours."""

    collected: int
    total: int

    @property
    def share(self) -> Decimal:
        return Decimal(self.collected) / Decimal(self.total)

    @property
    def complete(self) -> bool:
        return self.collected >= self.total


def month_completeness(month: date | datetime) -> Completeness:
    first = month_start(month)
    collected = CollectedHour.objects.filter(hour__gte=first, hour__lt=next_month(first)).count()
    return Completeness(collected, month_hours(first))


def month_usage(first: datetime, team: Team | None = None, until: datetime | None = None):
    qs = UsageRecord.objects.filter(hour__gte=first, hour__lt=until or next_month(first))
    return qs.filter(team=team) if team is not None else qs


def close_month(
    month: date | datetime, actor=None, now: datetime | None = None
) -> tuple[Chargeback, list[Statement]]:
    """Freeze one Statement per team for ``month``. A compare-and-set on Chargeback.status makes
    it idempotent: closing a closed month returns the statements it already has."""
    first = month_start(month)
    if next_month(first) > (now or timezone.now()):
        raise ChargebackError(
            f"{first:%B %Y} has not ended yet; it can be closed from {next_month(first):%Y-%m-%d}."
        )
    chargeback, _ = Chargeback.objects.get_or_create(month=first.date())
    with transaction.atomic():
        closed = Chargeback.objects.filter(pk=chargeback.pk, status=ChargebackStatus.OPEN).update(
            status=ChargebackStatus.CLOSED, closed_at=timezone.now(), closed_by=actor
        )
        chargeback.refresh_from_db()
        if closed != 1:
            return chargeback, list(chargeback.statements.filter(version=chargeback.version))
        statements = _write_statements(chargeback, first)
        record_audit(
            actor=actor,
            action="billing.month_closed",
            instance=chargeback,
            after={
                "month": f"{first:%Y-%m}",
                "version": chargeback.version,
                "statements": len(statements),
                "hours_collected": statements[0].hours_collected if statements else None,
            },
        )
    log.info(
        "billing: closed %s v%s with %s statements",
        f"{first:%Y-%m}",
        chargeback.version,
        len(statements),
    )
    return chargeback, statements


def reopen_month(month: date | datetime, actor=None) -> Chargeback:
    """Staff re-open a closed month; the next close writes statements with the next version."""
    first = month_start(month)
    with transaction.atomic():
        changed = Chargeback.objects.filter(
            month=first.date(), status=ChargebackStatus.CLOSED
        ).update(
            status=ChargebackStatus.OPEN, version=F("version") + 1, closed_at=None, closed_by=None
        )
        if changed != 1:
            raise ChargebackError(f"{first:%B %Y} is not closed.")
        chargeback = Chargeback.objects.get(month=first.date())
        record_audit(
            actor=actor,
            action="billing.month_reopened",
            instance=chargeback,
            after={"month": f"{first:%Y-%m}", "version": chargeback.version},
        )
    return chargeback


def _write_statements(chargeback: Chargeback, first: datetime) -> list[Statement]:
    policy = BillingPolicy.current().idle_policy
    completeness = month_completeness(first)
    rows = list(month_usage(first).select_related(None))
    idle_cost = sum((r.cost for r in rows if r.kind == UsageKind.IDLE), Decimal("0"))
    allocated = sum(r.gpu_seconds for r in rows if r.kind == UsageKind.ALLOCATED)
    by_team: dict[int, list[UsageRecord]] = defaultdict(list)
    for r in rows:
        if r.kind == UsageKind.ALLOCATED and r.team_id is not None:
            by_team[r.team_id].append(r)
    statements = []
    for team in Team.objects.order_by("pk"):
        team_rows = by_team.get(team.pk, [])
        seconds, cost = rows_total(team_rows)
        share = Decimal("0")
        if policy == IdlePolicy.SHARED and allocated:
            share = idle_cost * Decimal(seconds) / Decimal(allocated)
        statements.append(
            Statement.objects.create(
                chargeback=chargeback,
                team=team,
                month=first.date(),
                version=chargeback.version,
                currency=settings.BILLING_CURRENCY,
                gpu_seconds=seconds,
                unpriced_gpu_seconds=sum(r.unpriced_gpu_seconds for r in team_rows),
                usage_cost=cost,
                idle_share_cost=to_micros(share),
                total_cost=to_micros(cost + share),
                idle_policy=policy,
                lines=_statement_lines(team_rows),
                hours_collected=completeness.collected,
                hours_in_month=completeness.total,
            )
        )
    return statements


def _statement_lines(rows: list[UsageRecord]) -> list[dict[str, str]]:
    lines: dict[tuple, dict] = {}
    for r in rows:
        key = (r.endpoint_key, r.gpu_type, r.instance_type, r.capacity_type)
        line = lines.setdefault(
            key, {"seconds": 0, "unpriced": 0, "cost": Decimal("0"), "tokens": 0}
        )
        line["seconds"] += r.gpu_seconds
        line["unpriced"] += r.unpriced_gpu_seconds
        line["cost"] += r.cost
        line["tokens"] += r.prompt_tokens + r.generation_tokens
    return [
        {
            "endpoint": ep,
            "workload": "batch" if ep.startswith(BATCH_KEY_PREFIX) else "endpoint",
            "gpu_type": gpu,
            "instance_type": it,
            "capacity_type": ct,
            "gpu_seconds": v["seconds"],
            "unpriced_gpu_seconds": v["unpriced"],
            "cost": str(v["cost"]),
            "tokens": v["tokens"],
        }
        for (ep, gpu, it, ct), v in sorted(lines.items())
    ]


def close_month_once_collected(
    month: datetime, end: datetime, actor=None
) -> tuple[Chargeback, list[Statement]]:
    """The scheduled close: re-collect the month's last day (late scrapes), then close. Both
    steps are idempotent; a closed month is left as it is."""
    from .usage import collect_gpu_usage

    if Chargeback.objects.filter(month=month.date(), status=ChargebackStatus.CLOSED).exists():
        chargeback = Chargeback.objects.get(month=month.date())
        return chargeback, list(chargeback.statements.filter(version=chargeback.version))
    collect_gpu_usage(end - timedelta(days=1), end)
    return close_month(month, actor=actor)
